/**
 * Consistency at failover against real servers (the lab's semi-synchronous pair):
 * - the catch-up holds reads (and logins) while the secondary's SQL thread is behind, and lets
 *   them through only once it has applied what it received;
 * - kill -9 of the primary under a write load through pairgate: every read through a new
 *   connection after the failover sees each key at or above its last acknowledged version, from the
 *   first read on; no login fails; after `promote`, 0 acknowledged writes are missing;
 * - the split-brain fence: two pairgates, `promote` through one, the old primary restarted
 *   writable: neither sends it a write.
 */
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { Connection, RowDataPacket } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadConfig } from "../../src/config/load.js";
import { promote } from "../../src/replication/promote.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePort } from "../helpers/ports.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { ADMIN_USER } from "../helpers/servers.js";
import { until } from "../helpers/wait.js";

const admin = { user: ADMIN_USER.username, password: ADMIN_USER.password };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function q(conn: Connection, sql: string, params: unknown[] = []): Promise<RowDataPacket[]> {
  const [r] = await conn.query<RowDataPacket[]>(sql, params);
  return r;
}

async function onRoot<T>(
  pair: TestPair,
  role: "primary" | "secondary",
  f: (c: Connection) => Promise<T>,
): Promise<T> {
  const c = await pair.rootConnection(role);
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

async function createAdmin(pair: TestPair): Promise<void> {
  await onRoot(pair, "primary", async (c) => {
    await c.query("CREATE USER ?@'%' IDENTIFIED BY ?", [ADMIN_USER.username, ADMIN_USER.password]);
    await c.query("GRANT ALL PRIVILEGES ON *.* TO ?@'%' WITH GRANT OPTION", [ADMIN_USER.username]);
  });
}

async function waitReplicated(pair: TestPair): Promise<void> {
  const pos = await onRoot(pair, "primary", async (c) =>
    String((await q(c, "SELECT @@gtid_binlog_pos AS p"))[0].p),
  );
  await onRoot(pair, "secondary", async (c) =>
    assert.is(Number((await q(c, "SELECT MASTER_GTID_WAIT(?, 20) AS r", [pos]))[0].r), 0),
  );
}

async function semiSyncActive(pair: TestPair): Promise<boolean> {
  return onRoot(pair, "primary", async (c) => {
    const r = await q(c, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'");
    return r[0]?.Value === "ON";
  });
}

test("the lab pair is lossless, and the monitor says so (status, metric)", async () => {
  const pair = await startPair();
  let proxy: RunningProxy | undefined;
  try {
    await until("semi-sync active on the lab primary", () => semiSyncActive(pair));
    proxy = await startProxy(pair, pair.proxyConfig({ monitor: { intervalMs: 100 } }));
    const p = proxy;
    await until(
      "the monitor sees the pair lossless",
      async () => p.proxy.topology.snapshot().lossless.lossless === true,
    );
    const doc = (await (await fetch(`http://127.0.0.1:${p.proxy.adminPort}/status`)).json()) as {
      consistency: { lossless: boolean; semiSync: { waitPoint: string; clients: number } };
    };
    assert.is(doc.consistency.lossless, true);
    assert.is(doc.consistency.semiSync.waitPoint, "AFTER_SYNC");
    assert.is(doc.consistency.semiSync.clients, 1);
    const metrics = await (await fetch(`http://127.0.0.1:${p.proxy.adminPort}/metrics`)).text();
    assert.match(metrics, /^pairgate_replication_lossless 1$/m);
    // The secondary stops acknowledging: the primary falls back after its timeout, and the monitor sees it.
    await onRoot(pair, "secondary", (c) => c.query("STOP SLAVE IO_THREAD"));
    const w = await pair.connect("primary");
    try {
      await w.query("INSERT INTO ptrx_audit (app_user, operation) VALUES ('c', 'falls-back')");
    } finally {
      await w.end();
    }
    await until(
      "the monitor sees the fall-back",
      async () => p.proxy.topology.snapshot().lossless.lossless === false,
    );
    assert.match(p.proxy.topology.snapshot().lossless.reason, /asynchronous|no semi-synchronous replica/);
    await onRoot(pair, "secondary", (c) => c.query("START SLAVE IO_THREAD"));
    await until("lossless again", async () => p.proxy.topology.snapshot().lossless.lossless === true);
  } finally {
    await proxy?.stop();
    await pair.stop();
  }
});

test("catch-up: reads and logins wait while the secondary's SQL thread is behind, and go once it has applied", async () => {
  const pair = await startPair();
  let proxy: RunningProxy | undefined;
  try {
    await until("semi-sync active", () => semiSyncActive(pair));
    proxy = await startProxy(
      pair,
      pair.proxyConfig({ monitor: { intervalMs: 100 }, failover: { catchUpTimeoutMs: 30_000 } }),
    );
    const app = await proxy.connect();
    await app.query("CREATE TABLE IF NOT EXISTS catchup (id INT PRIMARY KEY, v INT NOT NULL)");
    await waitReplicated(pair);
    // The secondary receives (and acknowledges) but does not apply.
    await onRoot(pair, "secondary", (c) => c.query("STOP SLAVE SQL_THREAD"));
    for (let i = 1; i <= 200; i++) await app.query("INSERT INTO catchup VALUES (?, ?)", [i, i]);
    await app.end();
    const received = await onRoot(pair, "secondary", async (c) => {
      const st = (await q(c, "SHOW ALL SLAVES STATUS"))[0];
      return { io: String(st.Gtid_IO_Pos), applied: String(st.Gtid_Slave_Pos) };
    });
    assert.is.not(received.io, received.applied, "received but not applied");

    await pair.lab.kill("primary");
    await proxy.proxy.topology.waitFor("read_only", 10_000);
    const readable = proxy.proxy.topology.secondaryReadable();
    assert.instance(readable, Promise, "reads are held");
    let released = false;
    void (readable as Promise<void>).then(() => {
      released = true;
    });
    // A login now waits too (its session would read from the secondary).
    const t0 = Date.now();
    const login = proxy.connect();
    let loggedIn = false;
    void login.then(
      () => {
        loggedIn = true;
      },
      () => {},
    );
    await sleep(800);
    assert.not.ok(released, "not released while the SQL thread is stopped");
    assert.not.ok(loggedIn, "the login waits for the catch-up");
    assert.is(proxy.proxy.topology.snapshot().catchUp.state, "waiting");
    const metrics = await (await fetch(`http://127.0.0.1:${proxy.proxy.adminPort}/metrics`)).text();
    assert.match(metrics, /^pairgate_failover_catch_up_waiting 1$/m);

    await onRoot(pair, "secondary", (c) => c.query("START SLAVE SQL_THREAD"));
    await readable;
    const c = await login;
    const waited = Date.now() - t0;
    try {
      const rows = await q(c, "SELECT COUNT(*) AS n, MAX(v) AS m FROM catchup");
      assert.is(Number(rows[0].n), 200, "the first read after the failover sees every acknowledged row");
      assert.is(Number(rows[0].m), 200);
      assert.is(Number((await q(c, "SELECT @@server_id AS s"))[0].s), 2, "served by the secondary");
    } finally {
      await c.end();
    }
    const cu = proxy.proxy.topology.snapshot().catchUp;
    assert.is(cu.state, "caught_up");
    assert.equal(cu.missing, []);
    assert.ok(waited >= 800, `the login waited ${waited} ms`);
  } finally {
    await proxy?.stop();
    await pair.stop();
  }
});

test("kill -9 under a write load through pairgate: fresh from the first read, no failed login, 0 acknowledged writes lost after promote", async () => {
  const pair = await startPair();
  let proxy: RunningProxy | undefined;
  try {
    await createAdmin(pair);
    await until("semi-sync active", () => semiSyncActive(pair));
    const file = join(pair.dir, "proxy.config.json");
    writeFileSync(file, JSON.stringify(pair.proxyConfig({ monitor: { intervalMs: 100 } }), null, 2));
    proxy = await startProxy(pair, JSON.parse(readFileSync(file, "utf8")), file);
    const KEYS = 64;
    const WRITERS = 8;
    const setupConn = await proxy.connect();
    await setupConn.query("CREATE TABLE kv (k INT PRIMARY KEY, ver INT NOT NULL)");
    await setupConn.query(
      `INSERT INTO kv VALUES ${Array.from({ length: KEYS }, (_, k) => `(${k}, 0)`).join(",")}`,
    );
    await setupConn.end();
    await waitReplicated(pair);

    // Each writer owns KEYS / WRITERS keys and bumps their versions; a version counts once its OK arrived.
    const acked = new Array<number>(KEYS).fill(0);
    let stop = false;
    let killed = false;
    let writes = 0;
    const writeErrors: string[] = [];
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      let c = await proxy!.connect();
      c.on("error", () => {});
      const mine = Array.from({ length: KEYS / WRITERS }, (_, i) => w * (KEYS / WRITERS) + i);
      try {
        for (let i = 0; !stop; i++) {
          const k = mine[i % mine.length];
          const next = acked[k] + 1;
          try {
            await c.query("UPDATE kv SET ver = ? WHERE k = ?", [next, k]);
          } catch (e) {
            // After the kill the writer stops (that write is not acknowledged); before it, an
            // error is recorded and the writer goes on with a new connection.
            if (killed) return;
            writeErrors.push((e as Error).message);
            c.destroy();
            c = await proxy!.connect();
            c.on("error", () => {});
            continue;
          }
          acked[k] = next;
          writes++;
        }
      } finally {
        c.destroy();
      }
    });
    await until("the load is under way", async () => writes >= 500, 30_000);
    await sleep(500);
    const killedAt = Date.now();
    killed = true;
    await pair.lab.kill("primary");
    const snapshotAcked = () => [...acked];
    await Promise.all(writers);
    stop = true;
    const final = snapshotAcked();
    assert.ok(writes > 500, `the load acknowledged ${writes} writes`);
    assert.equal(writeErrors.slice(0, 3), [], "no write failed before the kill");

    // Reads through new connections, from the moment of the kill: none may be stale, none may fail.
    let failedLogins = 0;
    let reads = 0;
    let firstReadAt = 0;
    const stale: string[] = [];
    while (Date.now() - killedAt < 3000) {
      let c: Connection | undefined;
      try {
        c = await proxy.connect();
      } catch (e) {
        failedLogins++;
        stale.push(`login failed: ${(e as Error).message}`);
        await sleep(20);
        continue;
      }
      try {
        const rows = await q(c, "SELECT k, ver FROM kv");
        if (!firstReadAt) firstReadAt = Date.now();
        reads++;
        for (const r of rows) {
          const k = Number(r.k);
          if (Number(r.ver) < final[k]) stale.push(`key ${k}: read ${r.ver}, acknowledged ${final[k]}`);
        }
      } finally {
        await c.end().catch(() => c?.destroy());
      }
    }
    assert.is(failedLogins, 0, stale.join("; "));
    assert.ok(reads > 3, `${reads} reads`);
    assert.equal(stale.slice(0, 5), [], `${stale.length} stale keys`);
    const cu = proxy.proxy.topology.snapshot().catchUp;
    assert.equal(cu.missing, []);
    process.stdout.write(
      `\n    ${writes} acknowledged writes; first read ${firstReadAt - killedAt} ms after the kill, catch-up ${cu.state} in ${cu.waitedMs} ms; ${reads} reads, 0 stale\n`,
    );

    // Promote the secondary: every acknowledged version is there.
    const r = await promote({ configFile: file, admin, reload: false });
    assert.ok(r.epoch !== null && r.epoch >= 1, `epoch ${r.epoch}`);
    const missing = await onRoot(pair, "secondary", async (c) => {
      const rows = await q(c, "SELECT k, ver FROM passtrix.kv");
      return rows.filter((x) => Number(x.ver) < final[Number(x.k)]).length;
    });
    assert.is(missing, 0, "acknowledged writes missing after promote");
  } finally {
    await proxy?.stop();
    await pair.stop();
  }
});

test("split-brain fence: promote through one pairgate, the old primary back writable — neither sends it a write", async () => {
  const pair = await startPair();
  const proxies: RunningProxy[] = [];
  try {
    await createAdmin(pair);
    await waitReplicated(pair);
    const fileA = join(pair.dir, "a.config.json");
    const fileB = join(pair.dir, "b.config.json");
    writeFileSync(fileA, JSON.stringify(pair.proxyConfig({ monitor: { intervalMs: 100 } }), null, 2));
    const rawB = pair.proxyConfig({
      monitor: { intervalMs: 100 },
      listen: { port: await freePort() },
      admin: { port: await freePort() },
      audit: { journalDir: join(pair.dir, "journal-b") },
    });
    writeFileSync(fileB, JSON.stringify(rawB, null, 2));
    const a = await startProxy(pair, JSON.parse(readFileSync(fileA, "utf8")), fileA);
    proxies.push(a);
    const b = await startProxy(pair, rawB, fileB);
    proxies.push(b);
    const ca = await a.connect();
    await ca.query(
      "CREATE TABLE fence_probe (id INT AUTO_INCREMENT PRIMARY KEY, via CHAR(1), server_id INT)",
    );
    await ca.end();
    await waitReplicated(pair);

    await pair.lab.kill("primary");
    await a.proxy.topology.waitFor("read_only", 10_000);
    await b.proxy.topology.waitFor("read_only", 10_000);
    const r = await promote({ configFile: fileA, admin, reload: false });
    assert.is(r.epoch, 1);
    await a.proxy.reload(loadConfig(fileA));
    await until(
      "B has seen the promotion epoch on its secondary",
      async () => b.proxy.topology.snapshot().fence.epochSeen === 1,
    );

    // The old primary returns, writable, as it was: epoch 0.
    // (Lab.start would also wait for the pair's replication, which promote has just ended.)
    await (pair.lab as unknown as { startServer(role: string): Promise<void> }).startServer("primary");
    await onRoot(pair, "primary", async (c) => {
      assert.is(Number((await q(c, "SELECT @@read_only AS ro"))[0].ro), 0);
    });
    await until("B checks the old primary again", async () => b.proxy.topology.snapshot().primary.up);
    await sleep(500);
    const snap = b.proxy.topology.snapshot();
    assert.is(snap.mode, "read_only", "B does not take the old primary back for writes");
    assert.match(String(snap.fence.fenced), "holds promotion epoch 0, but epoch 1");
    const status = (await (await fetch(`http://127.0.0.1:${b.proxy.adminPort}/status`)).json()) as {
      headline: string;
      warnings: string[];
    };
    assert.match(status.headline, "fenced");

    // Writes through both.
    const viaA = await a.connect();
    await viaA.query("INSERT INTO fence_probe (via, server_id) VALUES ('A', @@server_id)");
    await viaA.end();
    const viaB = await b.connect();
    let refused: { errno?: number } | null = null;
    try {
      await viaB.query("INSERT INTO fence_probe (via, server_id) VALUES ('B', @@server_id)");
    } catch (e) {
      refused = e as { errno?: number };
    }
    assert.is(refused?.errno, 1290, "B refuses writes (read-only, fenced)");
    const readB = await q(viaB, "SELECT via FROM fence_probe");
    assert.equal(
      readB.map((x) => x.via),
      ["A"],
      "B reads from the promoted server",
    );
    await viaB.end();
    const onOld = await onRoot(pair, "primary", async (c) =>
      q(c, "SELECT COUNT(*) AS n FROM passtrix.fence_probe"),
    );
    assert.is(Number(onOld[0].n), 0, "0 writes reached the old primary");
    const onNew = await onRoot(pair, "secondary", async (c) => q(c, "SELECT via FROM passtrix.fence_probe"));
    assert.equal(
      onNew.map((x) => x.via),
      ["A"],
    );
  } finally {
    for (const p of proxies) await p.stop();
    await pair.stop();
  }
});

test.run();
