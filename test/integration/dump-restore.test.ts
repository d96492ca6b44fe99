/**
 * Issue 20: a `mariadb-dump --hex-blob` / restore round trip of a table with 16 MiB blobs, both ways
 * through pairgate (each row is one INSERT line of 32 MiB, over maxLexedStatement and split over
 * three 16 MiB packets). At fd3936b each such line took ~2 × its direct time and stalled pairgate
 * long enough for false failovers (the restore then failed with 1927). The restored rows must be
 * byte-identical, and pairgate must stay in read_write throughout.
 */
import { spawn } from "node:child_process";
import { createReadStream, createWriteStream } from "node:fs";
import { join } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePort } from "../helpers/ports.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";

let pair: TestPair;
let proxy: RunningProxy;

test.before(async () => {
  pair = await startPair();
  const port = await freePort();
  proxy = await startProxy(
    pair,
    pair.proxyConfig({
      listen: { port },
      audit: { rules: [{ operation: "password_retrieval", tables: ["passtrix.ptrx_passwords"] }] },
    }),
  );
});

test.after(async () => {
  await proxy?.stop();
  await pair?.stop();
});

/** Run a client program with stdin/stdout from/to files; rejects with its stderr on failure. */
function run(cmd: string, args: string[], io: { stdin?: string; stdout?: string }): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["pipe", "pipe", "pipe"] });
    let err = "";
    p.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    if (io.stdin) createReadStream(io.stdin).pipe(p.stdin);
    else p.stdin.end();
    if (io.stdout) p.stdout.pipe(createWriteStream(io.stdout));
    else p.stdout.resume();
    p.on("error", reject);
    p.on("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited ${code}: ${err}`))));
  });
}

test("mariadb-dump / restore of 16 MiB blobs through pairgate: identical rows, no failover", async () => {
  const c = await proxy.connect({ database: "passtrix" });
  const transitions: unknown[] = [];
  const onTransition = (t: unknown) => transitions.push(t);
  proxy.proxy.topology.on("transition", onTransition);
  try {
    await c.query("DROP TABLE IF EXISTS dump_blobs");
    await c.query("CREATE TABLE dump_blobs (id INT PRIMARY KEY, b LONGBLOB)");
    for (let id = 1; id <= 3; id++) {
      const blob = Buffer.alloc(16 * 1024 * 1024);
      for (let i = 0; i < blob.length; i += 4) blob.writeUInt32LE(((i + id) * 2654435761) >>> 0, i);
      await c.query("INSERT INTO dump_blobs VALUES (?, ?)", [id, blob]);
    }
    const sums = "SELECT id, LENGTH(b) AS n, MD5(b) AS md5 FROM dump_blobs ORDER BY id";
    const [before] = await c.query(sums);
    const login = [
      "-h127.0.0.1",
      `-P${proxy.port}`,
      `-u${pair.appUser.username}`,
      `-p${pair.appUser.password}`,
      "--max-allowed-packet=256M",
    ];
    const file = join(pair.dir, "dump_blobs.sql");
    await run(
      "mariadb-dump",
      [
        ...login,
        "--hex-blob",
        "--single-transaction",
        "--no-tablespaces",
        "--skip-add-locks",
        "passtrix",
        "dump_blobs",
      ],
      { stdout: file },
    );
    await c.query("DROP TABLE dump_blobs");
    await run("mariadb", [...login, "passtrix"], { stdin: file });
    const [after] = await c.query(sums);
    assert.equal(after, before);
    assert.is((before as unknown[]).length, 3);
    assert.equal(transitions, [], "no mode change (false failover) during the round trip");
    assert.is(proxy.proxy.topology.mode, "read_write");
    await c.query("DROP TABLE dump_blobs");
  } finally {
    proxy.proxy.topology.off("transition", onTransition);
    await c.end();
  }
});

test.run();
