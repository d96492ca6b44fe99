/**
 * The process guard (issue 20): an 'error' event nobody listens to and a rejection nobody handles
 * are counted and logged, and the process goes on. Run in a child process: the guard replaces the
 * process-wide policy, which the test runner's own process must keep.
 */
import { spawnSync } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "uvu";
import * as assert from "uvu/assert";

const ROOT = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

test("an escaped error and rejection are counted and logged; the process carries on", () => {
  const script = `
    import { EventEmitter } from "node:events";
    import { installProcessGuard } from "./src/observability/process-guard.ts";
    import { createLogger } from "./src/observability/logger.ts";
    const counts = { exception: 0, rejection: 0 };
    installProcessGuard(createLogger("error", "json"), (k) => counts[k]++);
    setTimeout(() => new EventEmitter().emit("error", Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" })), 10);
    setTimeout(() => void Promise.reject(new Error("nobody awaited me")), 20);
    setTimeout(() => console.log("COUNTS " + JSON.stringify(counts)), 200);
  `;
  const r = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    cwd: ROOT,
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, 'COUNTS {"exception":1,"rejection":1}');
  assert.match(r.stdout, /unhandled error caught by the process guard/);
  assert.match(r.stdout, /ECONNRESET/);
});

test.run();
