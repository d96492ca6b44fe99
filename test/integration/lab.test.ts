import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RowDataPacket } from "mysql2/promise";
import mysql from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadConfig } from "../../src/config/load.js";
import { labOptionsFromConfig } from "../../src/lab/index.js";
import { isAlive } from "../../src/lab/process.js";
import { pairProcessesLeft, startPair, type TestPair } from "../helpers/pair.js";
import { q } from "../helpers/sql.js";

let pair: TestPair;

/** Writes an audit row on the primary as the app user and returns its marker. */
async function writeOnPrimary(tag: string): Promise<string> {
  const c = await pair.connect("primary");
  try {
    const marker = `${tag}-${Date.now()}-${Math.random().toString(36).slice(2)}`;
    await c.query(
      "INSERT INTO ptrx_audit (app_user, operation, resource) VALUES ('lab-test', ?, 'db-prod-01')",
      [marker],
    );
    return marker;
  } finally {
    await c.end();
  }
}

async function seenOnSecondary(marker: string, timeoutMs = 10_000): Promise<boolean> {
  const c = await pair.connect("secondary");
  try {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      const rows = await q(c, "SELECT id FROM ptrx_audit WHERE operation = ?", [marker]);
      if (rows.length === 1) return true;
      await new Promise((r) => setTimeout(r, 25));
    }
    return false;
  } finally {
    await c.end();
  }
}

async function replicationRow(): Promise<RowDataPacket> {
  const root = await pair.rootConnection("secondary");
  try {
    return (await q(root, "SHOW SLAVE STATUS"))[0];
  } finally {
    await root.end();
  }
}

test.before(async () => {
  const started = Date.now();
  pair = await startPair();
  process.stdout.write(`  (pair up in ${Date.now() - started} ms)\n`);
});

test.after(async () => {
  await pair?.stop();
});

test("both servers run on their own free ports with the demo schema replicated", async () => {
  assert.is.not(pair.primary.port, pair.secondary.port);
  const st = await pair.lab.status();
  assert.ok(st.primary.running && st.secondary.running);
  assert.is(st.primary.readOnly, false);
  assert.is(st.secondary.readOnly, true);
  assert.is(st.secondary.replication?.ioRunning, "Yes");
  assert.is(st.secondary.replication?.sqlRunning, "Yes");
  const c = await pair.connect("secondary");
  try {
    const [counts] = await q(
      c,
      `SELECT (SELECT COUNT(*) FROM ptrx_resources) AS resources, (SELECT COUNT(*) FROM ptrx_accounts) AS accounts,
              (SELECT COUNT(*) FROM ptrx_passwords) AS passwords`,
    );
    assert.equal({ ...counts }, { resources: 10, accounts: 30, passwords: 30 });
    const dbs = (await q(c, "SHOW DATABASES")).map((r) => r.Database);
    assert.ok(dbs.includes("sbtest"), "sbtest exists for sysbench");
  } finally {
    await c.end();
  }
});

test("a row written on the primary reaches the secondary", async () => {
  const marker = await writeOnPrimary("reaches");
  assert.ok(await seenOnSecondary(marker), "row replicated");
});

test("the replication channel uses TLS with the CA verified, and the replication user requires SSL", async () => {
  const r = await replicationRow();
  assert.is(r.Master_SSL_Allowed, "Yes");
  assert.is(r.Master_SSL_Verify_Server_Cert, "Yes");
  assert.is(r.Master_SSL_CA_File, pair.caFile);
  assert.is(r.Using_Gtid, "Slave_Pos");
  const replUser = String(r.Master_User);
  const root = await pair.rootConnection("primary");
  try {
    const [u] = await q(root, "SELECT ssl_type FROM mysql.user WHERE User = ?", [replUser]);
    assert.is(u.ssl_type, "ANY", "REQUIRE SSL");
  } finally {
    await root.end();
  }
  // Without TLS the replication user is refused; with TLS and the lab CA it gets in.
  const { password } = JSON.parse(readFileSync(join(pair.dir, "lab.json"), "utf8")).replicationUser;
  const plain = { host: pair.primary.host, port: pair.primary.port, user: replUser, password };
  try {
    const c = await mysql.createConnection(plain);
    await c.end();
    assert.unreachable("a plaintext login of the replication user must fail");
  } catch (e) {
    assert.is((e as { errno?: number }).errno, 1045);
  }
  const tls = await mysql.createConnection({ ...plain, ssl: { ca: readFileSync(pair.caFile, "utf8") } });
  const [cipher] = await q(tls, "SHOW SESSION STATUS LIKE 'Ssl_cipher'");
  assert.ok(String(cipher.Value).length > 0, "session is encrypted");
  await tls.end();
});

test("the application user's write on the secondary gets error 1290", async () => {
  const c = await pair.connect("secondary");
  try {
    await c.query("INSERT INTO ptrx_audit (app_user, operation) VALUES ('lab-test', 'must-fail')");
    assert.unreachable("write on the read-only secondary succeeded");
  } catch (e) {
    assert.is((e as { errno?: number }).errno, 1290);
  } finally {
    await c.end();
  }
});

test("the application user holds no privilege that bypasses read_only", async () => {
  const c = await pair.connect("primary");
  try {
    const grants = (await q(c, "SHOW GRANTS")).map((r) => String(Object.values(r)[0])).join("\n");
    assert.not.match(grants, /SUPER|READ_ONLY ADMIN|ALL PRIVILEGES/);
    assert.match(grants, /ON `passtrix`\.\*/);
    assert.match(grants, /ON `sbtest`\.\*/);
    assert.not.match(grants, /ON \*\.\* TO .*(INSERT|UPDATE)/);
  } finally {
    await c.end();
  }
});

test("the service account can monitor and write the audit schema, nothing more", async () => {
  const svc = pair.serviceUser;
  const sec = await pair.connect("secondary", { user: svc.username, password: svc.password });
  try {
    const [ro] = await q(sec, "SELECT @@read_only AS ro");
    assert.is(Number(ro.ro), 1);
    const [st] = await q(sec, "SHOW SLAVE STATUS");
    assert.is(st.Slave_IO_Running, "Yes");
  } finally {
    await sec.end();
  }
  const pri = await pair.connect("primary", { user: svc.username, password: svc.password });
  try {
    await pri.query("CREATE TABLE IF NOT EXISTS passtrix.lab_test_audit (id INT PRIMARY KEY, note TEXT)");
    await pri.query("INSERT INTO passtrix.lab_test_audit VALUES (1, 'svc')");
    try {
      await pri.query("DELETE FROM passtrix.ptrx_audit");
      assert.unreachable("service account may not delete");
    } catch (e) {
      assert.is((e as { errno?: number }).errno, 1142);
    }
    try {
      await pri.query("CREATE DATABASE svc_not_allowed");
      assert.unreachable("service account may not create databases");
    } catch (e) {
      assert.is((e as { errno?: number }).errno, 1044);
    }
  } finally {
    await pri.end();
  }
});

test("up() twice is harmless: same processes, nothing new in the binlog, replication running", async () => {
  const before = await pair.lab.status();
  await pair.lab.up();
  const after = await pair.lab.status();
  assert.is(after.primary.pid, before.primary.pid);
  assert.is(after.secondary.pid, before.secondary.pid);
  assert.is(after.primary.gtidBinlogPos, before.primary.gtidBinlogPos);
  assert.is(after.secondary.replication?.ioRunning, "Yes");
  assert.is(after.secondary.replication?.sqlRunning, "Yes");
});

test("the CLI resolves a relative lab.dir against the config file and reports status as JSON", async () => {
  const file = join(pair.dir, "cli.config.json");
  writeFileSync(file, JSON.stringify({ ...pair.proxyConfig(), lab: { dir: "." } }));
  const config = loadConfig(file);
  assert.is(labOptionsFromConfig(config).dir, pair.dir);
  // Only the lab's commands, as `pairgate lab ...` registers them (the rest of the CLI is not under test here).
  const cli = `Promise.all([import("commander"), import("./src/lab/cli.ts")]).then(([{ Command }, lab]) => {
    const program = new Command("pairgate");
    lab.registerLabCommands(program);
    return program.parseAsync(process.argv.slice(1), { from: "user" });
  })`;
  const run = (...args: string[]) =>
    spawnSync(process.execPath, ["--import", "tsx", "-e", cli, ...args], { encoding: "utf8" });
  const up = run("lab", "up", "--config", file);
  assert.is(up.status, 0, up.stderr);
  assert.match(up.stdout, `-P ${pair.listenPort} -u ${pair.appUser.username}`);
  const st = run("lab", "status", "--json", "--config", file);
  assert.is(st.status, 0, st.stderr);
  const json = JSON.parse(st.stdout);
  assert.is(json.secondary.replication.sslAllowed, true);
  assert.is(json.primary.port, pair.primary.port);
});

test("kill is a real kill -9; start brings the primary back and replication resumes", async () => {
  const pid = pair.lab.pid("primary")!;
  const t0 = Date.now();
  await pair.lab.kill("primary");
  assert.not.ok(isAlive(pid), "the process is gone");
  assert.ok(Date.now() - t0 < 2000, "no clean shutdown was waited for");
  try {
    const c = await pair.connect("primary", { connectTimeout: 1000 });
    await c.end();
    assert.unreachable("primary still answers");
  } catch (e) {
    // kill() returns only when every thread is gone, so the port is closed, not half-open.
    assert.is((e as { code?: string }).code, "ECONNREFUSED");
  }
  // The secondary keeps serving reads (and refusing writes) while the primary is gone.
  const r = await replicationRow();
  assert.is.not(r.Slave_IO_Running, "Yes");
  await pair.lab.start("primary");
  assert.is.not(pair.lab.pid("primary"), pid);
  const marker = await writeOnPrimary("after-primary-restart");
  assert.ok(await seenOnSecondary(marker));
});

test("a killed secondary started again catches up with what the primary wrote meanwhile", async () => {
  const pid = pair.lab.pid("secondary")!;
  await pair.lab.kill("secondary");
  assert.not.ok(isAlive(pid));
  const marker = await writeOnPrimary("while-secondary-down");
  await pair.lab.start("secondary");
  const r = await replicationRow();
  assert.is(r.Slave_IO_Running, "Yes");
  assert.is(r.Slave_SQL_Running, "Yes");
  assert.is(r.Master_SSL_Allowed, "Yes");
  assert.ok(await seenOnSecondary(marker));
  const st = await pair.lab.status();
  assert.is(st.secondary.readOnly, true, "read_only survives the restart");
});

test("pairs started at the same time are isolated", async () => {
  const [a, b] = await Promise.all([startPair(), startPair()]);
  try {
    const ports = new Set([
      a.primary.port,
      a.secondary.port,
      b.primary.port,
      b.secondary.port,
      pair.primary.port,
    ]);
    assert.is(ports.size, 5);
    assert.is.not(a.dir, b.dir);
    const c = await a.connect("primary");
    await c.query("CREATE TABLE passtrix.only_in_a (id INT PRIMARY KEY)");
    await c.end();
    const d = await b.connect("primary");
    const rows = await q(d, "SHOW TABLES FROM passtrix LIKE 'only_in_a'");
    await d.end();
    assert.is(rows.length, 0);
  } finally {
    await Promise.all([a.stop(), b.stop()]);
  }
  assert.not.ok(existsSync(a.dir));
});

test("down() leaves no mariadbd of the pair behind", async () => {
  const pids = [pair.lab.pid("primary")!, pair.lab.pid("secondary")!];
  assert.ok(pids.every((p) => isAlive(p)));
  await pair.lab.down();
  assert.ok(pids.every((p) => !isAlive(p)));
  assert.equal(pairProcessesLeft(pair.dir), []);
  const st = await pair.lab.status();
  assert.not.ok(st.primary.running || st.secondary.running);
  await pair.lab.down(); // and again: nothing to do
  await pair.stop();
  assert.not.ok(existsSync(pair.dir), "the temporary folder is removed");
});

test.run();
