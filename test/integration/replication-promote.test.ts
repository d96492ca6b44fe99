/**
 * `pairgate promote` on a real pair with pairgate in front of it: refused while the old primary
 * answers (split brain); after a kill -9 of the primary the secondary is promoted, the config
 * rewritten (with a backup), and once pairgate reloads, writes through it reach the former
 * secondary — with pairgate in this process (reload called), and as a separate process found by
 * its pid file and reloaded with SIGHUP.
 */
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Connection } from "mysql2/promise";
import mysql from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadConfig } from "../../src/config/load.js";
import { ReplicationError } from "../../src/replication/errors.js";
import { pidFilePath } from "../../src/replication/pidfile.js";
import { promote } from "../../src/replication/promote.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { ADMIN_USER, runCli, spawnCli } from "../helpers/servers.js";
import { createAdmin, onRoot, q, waitReplicated } from "../helpers/sql.js";
import { until } from "../helpers/wait.js";

const admin = { user: ADMIN_USER.username, password: ADMIN_USER.password };

/** An admin account on the pair (created on the primary, replicated), and a config file for pairgate. */
async function preparePair(pair: TestPair): Promise<string> {
  await createAdmin(pair);
  await waitReplicated(pair, 10);
  const file = join(pair.dir, "proxy.config.json");
  writeFileSync(file, `${JSON.stringify(pair.proxyConfig({ monitor: { intervalMs: 100 } }), null, 2)}\n`);
  return file;
}

/** Writes through pairgate until one succeeds; returns the @@server_id of the server that took it. */
async function writeThrough(
  port: number,
  pair: TestPair,
  marker: string,
  timeoutMs = 15_000,
): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    let c: Connection | undefined;
    try {
      c = await mysql.createConnection({
        host: "127.0.0.1",
        port,
        user: pair.appUser.username,
        password: pair.appUser.password,
        database: "passtrix",
      });
      await c.query("INSERT INTO ptrx_audit (app_user, operation) VALUES ('promote-test', ?)", [marker]);
      return Number((await q(c, "SELECT @@server_id AS id"))[0].id);
    } catch (e) {
      last = (e as Error).message;
    } finally {
      await c?.end().catch(() => c?.destroy());
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`no write went through pairgate within ${timeoutMs} ms: ${last}`);
}

let pair: TestPair;
let file: string;
let proxy: RunningProxy;

test.before(async () => {
  pair = await startPair();
  file = await preparePair(pair);
  proxy = await startProxy(pair, JSON.parse(readFileSync(file, "utf8")), file);
});

test.after(async () => {
  await proxy?.stop();
  await pair?.stop();
});

test("promote refuses while the old primary answers (split-brain guard) and changes nothing", async () => {
  const before = readFileSync(file, "utf8");
  try {
    await promote({ configFile: file, admin });
    assert.unreachable("promote with the primary up");
  } catch (e) {
    assert.instance(e, ReplicationError);
    assert.is((e as ReplicationError).code, "PAIRGATE_PROMOTE_PRIMARY_ALIVE");
    assert.match((e as Error).message, "split brain");
  }
  assert.is(readFileSync(file, "utf8"), before);
  await onRoot(pair, "secondary", async (c) => {
    assert.is(Number((await q(c, "SELECT @@GLOBAL.read_only AS ro"))[0].ro), 1);
    assert.is((await q(c, "SHOW SLAVE STATUS"))[0].Slave_SQL_Running, "Yes");
  });
  const cli = await runCli(["promote", "--config", file, "--admin-user", ADMIN_USER.username], {
    PAIRGATE_ADMIN_PASSWORD: ADMIN_USER.password,
  });
  assert.is(cli.code, 1);
  assert.match(cli.stderr, "still answers");
  assert.is(readFileSync(file, "utf8"), before);
});

test("primary killed: promote, reload pairgate, and writes through it go to the former secondary", async () => {
  assert.is(await writeThrough(proxy.port, pair, "before"), 1);
  await pair.lab.kill("primary");
  const log: string[] = [];
  const r = await promote({ configFile: file, admin, log: (l) => log.push(l) });
  assert.not.ok(r.oldPrimaryAnswered);
  assert.ok(r.configChanged);
  assert.ok(r.backupFile && existsSync(r.backupFile));
  assert.is(JSON.parse(readFileSync(r.backupFile!, "utf8")).primary.port, pair.primary.port);
  const written = JSON.parse(readFileSync(file, "utf8"));
  assert.is(written.primary.port, pair.secondary.port);
  assert.is(written.secondary.port, pair.secondary.port);
  assert.match(r.replication?.applied ?? "", /^0-1-\d+$/);
  assert.is(r.replication?.applied, r.replication?.received);
  assert.ok(r.replication?.relayLogDrained);
  assert.equal(r.warnings, []);
  assert.not.ok(r.reload.signalled);
  assert.match(r.reload.note, "no pid file");
  assert.ok(r.nextSteps.some((s) => s.includes("npx pairgate replication setup --primary")));
  await onRoot(pair, "secondary", async (c) => {
    assert.is(Number((await q(c, "SELECT @@GLOBAL.read_only AS ro"))[0].ro), 0);
    assert.is((await q(c, "SHOW SLAVE STATUS")).length, 0);
  });

  await proxy.proxy.reload(loadConfig(file));
  assert.is(await writeThrough(proxy.port, pair, "after-promote"), 2);
  // The status says what the promoted state is: one server, read/write, no fallback — and does not
  // mistake the promoted server for a writable secondary.
  let warnings: string[] = [];
  await until("the status shows the promoted server alone", async () => {
    const doc = (await (await fetch(`http://127.0.0.1:${proxy.proxy.adminPort}/status`)).json()) as {
      mode: string;
      headline: string;
      warnings: string[];
    };
    warnings = doc.warnings;
    return doc.mode === "read_write" && /alone/.test(doc.headline);
  });
  assert.ok(
    warnings.some((w) => w.startsWith("No secondary")),
    warnings.join(" | "),
  );
  assert.not.ok(
    warnings.some((w) => w.includes("read_only=0")),
    warnings.join(" | "),
  );
  const direct = await pair.connect("secondary");
  try {
    assert.is((await q(direct, "SELECT id FROM ptrx_audit WHERE operation = 'after-promote'")).length, 1);
  } finally {
    await direct.end();
  }

  // Promoting again is harmless: nothing left to change.
  const again = await promote({ configFile: file, admin });
  assert.not.ok(again.configChanged);
  assert.is(again.replication, null);
});

test("pairgate as its own process: promote finds it by its pid file and reloads it with SIGHUP", async () => {
  const other = await startPair();
  let child: ReturnType<typeof spawnCli> | undefined;
  try {
    const cfg = await preparePair(other);
    child = spawnCli(["start", "--config", cfg], { PAIRGATE_LOG_LEVEL: "warn" });
    let output = "";
    child.stdout?.on("data", (d) => (output += d));
    child.stderr?.on("data", (d) => (output += d));
    const pidFile = pidFilePath(cfg);
    const deadline = Date.now() + 20_000;
    while (!existsSync(pidFile)) {
      if (Date.now() > deadline || child.exitCode !== null)
        assert.unreachable(`pairgate did not start: ${output}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.is(Number(readFileSync(pidFile, "utf8")), child.pid);
    assert.is(await writeThrough(other.listenPort, other, "child-before"), 1);

    await other.lab.kill("primary");
    const r = await promote({ configFile: cfg, admin });
    assert.ok(r.reload.signalled, r.reload.note);
    assert.is(r.reload.pid, child.pid);
    assert.is(await writeThrough(other.listenPort, other, "child-after"), 2);

    const exited = new Promise((res) => child!.once("exit", res));
    child.kill("SIGTERM");
    await exited;
    assert.not.ok(existsSync(pidFile), "the pid file is removed when pairgate stops");
  } finally {
    if (child && child.exitCode === null) child.kill("SIGKILL");
    await other.stop();
  }
});

test("--force with the old primary still up: promoted, and the old primary fenced with read_only=ON", async () => {
  const other = await startPair();
  try {
    const cfg = await preparePair(other);
    const r = await promote({ configFile: cfg, admin, force: true });
    assert.ok(r.oldPrimaryAnswered);
    assert.is(r.fenced, "read_only=ON set on the old primary");
    assert.ok(r.warnings.some((w) => w.includes("still answers (--force)")));
    await onRoot(other, "primary", async (c) =>
      assert.is(Number((await q(c, "SELECT @@GLOBAL.read_only AS ro"))[0].ro), 1),
    );
    await onRoot(other, "secondary", async (c) => {
      assert.is(Number((await q(c, "SELECT @@GLOBAL.read_only AS ro"))[0].ro), 0);
      assert.is((await q(c, "SHOW SLAVE STATUS")).length, 0);
    });
  } finally {
    await other.stop();
  }
});

test.run();
