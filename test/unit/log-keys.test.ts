/**
 * Log lines carry each key once. Every topology line once had `"part":"topology"` twice (proxy.ts
 * and the monitor both bound it with a child logger, and pino writes each binding it is given):
 * JSON.parse hides that, so these tests scan the raw keys of lines from the real wiring.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseConfig } from "../../src/config/load.js";
import { createLogger } from "../../src/observability/logger.js";
import { PairgateProxy } from "../../src/proxy.js";
import { duplicateKeys } from "../helpers/json-keys.js";

function capture() {
  const lines: string[] = [];
  const logger = createLogger("debug", "json", false, {
    write: (s: string) => {
      for (const l of s.split("\n")) if (l) lines.push(l);
    },
  });
  return { logger, lines };
}

test("duplicateKeys: finds a repeated key at any depth, not equal keys of different objects", () => {
  assert.equal(duplicateKeys('{"a":1,"b":2}'), []);
  assert.equal(duplicateKeys('{"a":1,"a":2}'), ["a"]);
  assert.equal(duplicateKeys('{"x":{"a":1,"b":{"c":1,"c":2}}}'), ["x.b.c"]);
  assert.equal(duplicateKeys('{"a":{"a":1},"b":[{"a":1},{"a":2}]}'), []);
  assert.equal(duplicateKeys('{"a":"\\"a\\":1,","b":["a","a"]}'), [], "strings and array items are not keys");
});

test("a logger bound twice with the same key writes a line with a duplicate key (what the scan guards)", () => {
  const { logger, lines } = capture();
  logger.child({ part: "topology" }).child({ part: "topology" }).warn("x");
  assert.equal(duplicateKeys(lines[0]), ["part"]);
  assert.is(JSON.parse(lines[0]).part, "topology", "JSON.parse alone does not see it");
});

test("topology lines from the proxy's own wiring carry part once", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pairgate-logkeys-"));
  const { logger, lines } = capture();
  // Ports 1 and 2 refuse: the monitor's first checks fail and it logs at once (backend down).
  const config = parseConfig(
    {
      primary: { host: "127.0.0.1", port: 1, user: "svc", password: "p" },
      secondary: { host: "127.0.0.1", port: 2, user: "svc", password: "p" },
      monitor: { intervalMs: 100, connectTimeoutMs: 200, queryTimeoutMs: 200, fall: 1, rise: 1 },
    },
    join(dir, "proxy.config.json"),
  );
  const proxy = new PairgateProxy(config, logger);
  proxy.topology.start();
  try {
    const until = Date.now() + 10_000;
    while (!lines.some((l) => JSON.parse(l).part === "topology") && Date.now() < until)
      await new Promise((r) => setTimeout(r, 50));
    const topology = lines.filter((l) => JSON.parse(l).part === "topology");
    assert.ok(topology.length > 0, `no topology line within 10 s:\n${lines.join("\n")}`);
    for (const l of topology) assert.equal(duplicateKeys(l), [], l);
  } finally {
    await proxy.topology.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
