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
import type { Connection, ResultSetHeader, RowDataPacket } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { loadConfig } from "../../src/config/load.js";
import { promote } from "../../src/replication/promote.js";
import { type ConfigOverrides, startPair, type TestPair } from "../helpers/pair.js";
import { freePort } from "../helpers/ports.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { ADMIN_USER } from "../helpers/servers.js";
import { createAdmin, onRoot, q, waitReplicated } from "../helpers/sql.js";
import { until } from "../helpers/wait.js";

const admin = { user: ADMIN_USER.username, password: ADMIN_USER.password };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function semiSyncActive(pair: TestPair): Promise<boolean> {
  return onRoot(pair, "primary", async (c) => {
    const r = await q(c, "SHOW GLOBAL STATUS LIKE 'Rpl_semi_sync_master_status'");
    return r[0]?.Value === "ON";
  });
}

interface PairAndProxy {
  pair: TestPair;
  /** pairgate in this process, started from `configFile`. */
  proxy: RunningProxy;
  configFile: string;
  /** Another pairgate on the same pair, from its own file in the pair's folder; stopped with the rest. */
  startAnother(
    config: ConfigOverrides,
    fileName: string,
  ): Promise<{ proxy: RunningProxy; configFile: string }>;
}

/**
 * A fresh lab pair and a pairgate in front of it (the pair's proxy config with `config` over it,
 * written to proxy.config.json in the pair's folder), for `fn`; then every proxy and the pair
 * stopped. `admin`: ADMIN_USER created first and replicated (promote needs it); `semiSync`: the
 * proxy starts only once the primary runs semi-synchronous replication.
 */
async function withPairAndProxy(
  opts: { config: ConfigOverrides; admin?: boolean; semiSync?: boolean },
  fn: (f: PairAndProxy) => Promise<void>,
): Promise<void> {
  const pair = await startPair();
  const proxies: RunningProxy[] = [];
  const startAnother = async (config: ConfigOverrides, fileName: string) => {
    const configFile = join(pair.dir, fileName);
    writeFileSync(configFile, JSON.stringify(pair.proxyConfig(config), null, 2));
    const proxy = await startProxy(pair, JSON.parse(readFileSync(configFile, "utf8")), configFile);
    proxies.push(proxy);
    return { proxy, configFile };
  };
  try {
    if (opts.admin) {
      await createAdmin(pair);
      await waitReplicated(pair, 20);
    }
    if (opts.semiSync) await until("semi-sync active", () => semiSyncActive(pair));
    await fn({ pair, ...(await startAnother(opts.config, "proxy.config.json")), startAnother });
  } finally {
    for (const p of proxies) await p.stop();
    await pair.stop();
  }
}

test("the lab pair is lossless, and the monitor says so (status, metric)", () =>
  withPairAndProxy(
    { config: { monitor: { intervalMs: 100 } }, semiSync: true },
    async ({ pair, proxy: p }) => {
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
    },
  ));

test("catch-up: reads and logins wait while the secondary's SQL thread is behind, and go once it has applied", () =>
  withPairAndProxy(
    { config: { monitor: { intervalMs: 100 }, failover: { catchUpTimeoutMs: 30_000 } }, semiSync: true },
    async ({ pair, proxy }) => {
      const app = await proxy.connect();
      await app.query("CREATE TABLE IF NOT EXISTS catchup (id INT PRIMARY KEY, v INT NOT NULL)");
      await waitReplicated(pair, 20);
      // A pooled session: logged in before the failover, its backend the primary.
      const pooled = await proxy.connect();
      pooled.on("error", () => {});
      assert.is(Number((await q(pooled, "SELECT @@server_id AS s"))[0].s), 1);
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
      // The pooled session's next read moves it to the secondary: it waits for the catch-up too.
      let pooledRead: RowDataPacket[] | null = null;
      let pooledError: Error | null = null;
      const pooledDone = q(pooled, "SELECT COUNT(*) AS n, MAX(v) AS m, @@server_id AS s FROM catchup").then(
        (r) => {
          pooledRead = r;
        },
        (e: Error) => {
          pooledError = e;
        },
      );
      await sleep(800);
      assert.not.ok(released, "not released while the SQL thread is stopped");
      assert.not.ok(loggedIn, "the login waits for the catch-up");
      assert.is(pooledRead, null, "the pooled session's read waits for the catch-up");
      assert.is(pooledError, null, "the pooled session's read is not failed");
      assert.is(proxy.proxy.topology.snapshot().catchUp.state, "waiting");
      const metrics = await (await fetch(`http://127.0.0.1:${proxy.proxy.adminPort}/metrics`)).text();
      assert.match(metrics, /^pairgate_failover_catch_up_waiting 1$/m);

      await onRoot(pair, "secondary", (c) => c.query("START SLAVE SQL_THREAD"));
      await readable;
      await pooledDone;
      assert.is(pooledError, null, "the pooled session's read did not fail");
      const pr = (pooledRead as RowDataPacket[] | null)![0];
      assert.is(
        Number(pr.n),
        200,
        "the pooled session's first read after the failover sees every acknowledged row",
      );
      assert.is(Number(pr.m), 200);
      assert.is(Number(pr.s), 2, "the pooled session moved to the secondary");
      await pooled.end();
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
    },
  ));

test("acknowledged GTIDs: pairgate learns each commit's GTID from the primary, the client sees a plain OK; semi-sync fallen back: the catch-up names what the secondary lacks", () =>
  withPairAndProxy(
    { config: { monitor: { intervalMs: 100 }, failover: { catchUpTimeoutMs: 1500 } }, semiSync: true },
    async ({ pair, proxy }) => {
      const t = proxy.proxy.topology;
      const app = await proxy.connect();
      app.on("error", () => {});
      await app.query("CREATE TABLE IF NOT EXISTS acks (id INT PRIMARY KEY, v INT NOT NULL)");
      // The GTID of this session's last commit, as the primary knows it (pairgate's own audit
      // delivery also commits on the primary, so @@gtid_binlog_pos may be ahead of what sessions acked).
      const lastGtid = async () => String((await q(app, "SELECT @@last_gtid AS g"))[0].g);
      assert.is(t.acknowledgedPosition, await lastGtid(), "the DDL's GTID");
      // An autocommit write: the OK the client gets is the server's, minus the session state.
      const [ins] = await app.query<ResultSetHeader>("INSERT INTO acks VALUES (1, 1), (2, 1)");
      assert.is(ins.affectedRows, 2);
      assert.is(ins.serverStatus & 0x4000, 0, "no SERVER_SESSION_STATE_CHANGED towards the client");
      // (mysql2 without CLIENT_SESSION_TRACK reads info as the rest of the packet, length byte included.)
      assert.match(
        ins.info,
        /Records: 2 {2}Duplicates: 0 {2}Warnings: 0$/,
        "info intact, no session state after it",
      );
      assert.is(t.acknowledgedPosition, await lastGtid(), "an autocommit write's GTID");
      const [upd] = await app.query<ResultSetHeader>("UPDATE acks SET v = 2 WHERE id = 1");
      assert.match(upd.info, /Rows matched: 1 {2}Changed: 1 {2}Warnings: 0$/);
      assert.is(upd.changedRows, 1);
      assert.is(t.acknowledgedPosition, await lastGtid(), "each autocommit write's GTID");
      // A transaction: its COMMIT's OK names the GTID.
      await app.query("BEGIN");
      await app.query("UPDATE acks SET v = 3 WHERE id = 2");
      await app.query("COMMIT");
      assert.is(t.acknowledgedPosition, await lastGtid(), "the COMMIT's GTID");
      // A prepared statement's OK (binary protocol) too.
      await app.execute("UPDATE acks SET v = ? WHERE id = ?", [4, 1]);
      assert.is(t.acknowledgedPosition, await lastGtid(), "a prepared write's GTID");
      // COM_RESET_CONNECTION resets the server's session variables: pairgate tracks GTIDs again.
      await new Promise<void>((resolve, reject) =>
        (app as unknown as { connection: { reset(cb: (e: Error | null) => void): void } }).connection.reset(
          (e) => (e ? reject(e) : resolve()),
        ),
      );
      await app.query("UPDATE acks SET v = 5 WHERE id = 1");
      assert.is(t.acknowledgedPosition, await lastGtid(), "a write after COM_RESET_CONNECTION");
      // Session state the client changes is still applied (nothing tracked leaks into its OKs).
      await app.query("SET NAMES utf8mb4");
      await app.query("USE passtrix");
      assert.is(Number((await q(app, "SELECT COUNT(*) AS n FROM acks"))[0].n), 2);
      await waitReplicated(pair, 20);

      // Semi-sync falls back: the secondary stops receiving, the primary acknowledges anyway.
      await onRoot(pair, "secondary", (c) => c.query("STOP SLAVE IO_THREAD"));
      for (let i = 10; i < 15; i++) await app.query("INSERT INTO acks VALUES (?, 1)", [i]);
      const acknowledged = t.acknowledgedPosition;
      assert.is(acknowledged, await lastGtid());
      await pair.lab.kill("primary");
      await t.waitFor("read_only", 10_000);
      // The pooled session's read waits out the catch-up timeout, then is served (never failed).
      const t0 = Date.now();
      const rows = await q(app, "SELECT COUNT(*) AS n, @@server_id AS s FROM acks");
      const waited = Date.now() - t0;
      assert.is(Number(rows[0].s), 2);
      assert.is(Number(rows[0].n), 2, "the secondary lacks the 5 acknowledged inserts");
      assert.ok(waited >= 1000, `the read waited ${waited} ms for the catch-up timeout`);
      const cu = t.snapshot().catchUp;
      assert.is(cu.state, "timed_out");
      assert.is(cu.acknowledged, acknowledged);
      assert.ok(cu.missing.length > 0, "the missing acknowledged GTIDs are named");
      await app.end();
    },
  ));

test("no failed login across a kill -9: a login and a COM_CHANGE_USER that find the primary gone before the monitor does wait for the verdict and land on the secondary", () =>
  // A slow monitor: it has not seen the crash when the session tries the primary.
  withPairAndProxy({ config: { monitor: { intervalMs: 5000 } } }, async ({ pair, proxy }) => {
    const t = proxy.proxy.topology;
    const pooled = await proxy.connect();
    pooled.on("error", () => {});
    assert.is(Number((await q(pooled, "SELECT @@server_id AS s"))[0].s), 1);
    await waitReplicated(pair, 20);
    // kill -9, and in the same tick a new login and a COM_CHANGE_USER: both reach pairgate before
    // the monitor has a verdict (it checks every 5 s; only the pooled session's lost backend and
    // the sessions' own failed connects tell it), so their backends are opened on the dead primary.
    const pid = pair.lab.pid("primary");
    assert.ok(pid !== null);
    process.kill(pid, "SIGKILL");
    const modeAtLogin = t.mode;
    const attempts = Promise.allSettled([
      proxy.connect(),
      pooled.changeUser({ user: pair.appUser.username, password: pair.appUser.password }),
    ]);
    const suspectAtLogin = t.primarySuspect;
    const [fresh, changed] = await attempts;
    assert.is(fresh.status, "fulfilled", fresh.status === "rejected" ? String(fresh.reason) : "");
    assert.is(changed.status, "fulfilled", changed.status === "rejected" ? String(changed.reason) : "");
    const c = (fresh as PromiseFulfilledResult<Connection>).value;
    assert.is(
      Number((await q(c, "SELECT @@server_id AS s"))[0].s),
      2,
      "the new login landed on the secondary",
    );
    assert.is(Number((await q(pooled, "SELECT @@server_id AS s"))[0].s), 2, "so did COM_CHANGE_USER");
    assert.is(t.mode, "read_only");
    process.stdout.write(
      `\n    when the logins started: mode ${modeAtLogin}, primary suspect ${suspectAtLogin}\n`,
    );
    await c.end();
    await pooled.end();
  }));

test("kill -9 under a write load through pairgate: fresh from the first read, no failed login, 0 acknowledged writes lost after promote", () =>
  withPairAndProxy(
    { config: { monitor: { intervalMs: 100 } }, admin: true, semiSync: true },
    async ({ pair, proxy, configFile: file }) => {
      const t = proxy.proxy.topology;
      const KEYS = 64;
      const WRITERS = 8;
      const setupConn = await proxy.connect();
      await setupConn.query("CREATE TABLE kv (k INT PRIMARY KEY, ver INT NOT NULL)");
      await setupConn.query(
        `INSERT INTO kv VALUES ${Array.from({ length: KEYS }, (_, k) => `(${k}, 0)`).join(",")}`,
      );
      await setupConn.end();
      await waitReplicated(pair, 20);

      // Each writer owns KEYS / WRITERS keys and bumps their versions; a version counts once its OK arrived.
      const acked = new Array<number>(KEYS).fill(0);
      let stop = false;
      let killed = false;
      let writes = 0;
      const writeErrors: string[] = [];
      const writers = Array.from({ length: WRITERS }, async (_, w) => {
        let c = await proxy.connect();
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
              c = await proxy.connect();
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

      // Pooled readers: sessions logged in before the kill that read in a loop throughout. A read
      // must see every version acknowledged before it started; a read that started after the kill,
      // every version acknowledged at all (checked once the writers are done).
      let killedAt = 0;
      let stopReaders = false;
      const pooledStale: string[] = [];
      const pooledFailed: string[] = [];
      const afterKill: Array<{ startedAt: number; rows: RowDataPacket[] }> = [];
      let pooledReads = 0;
      const readers = Array.from({ length: 2 }, async () => {
        const c = await proxy.connect();
        c.on("error", () => {});
        try {
          while (!stopReaders) {
            const startedAt = Date.now();
            const want = [...acked];
            const afterTheKill = killedAt !== 0;
            let rows: RowDataPacket[];
            try {
              rows = await q(c, "SELECT k, ver FROM kv");
            } catch (e) {
              pooledFailed.push((e as Error).message);
              return;
            }
            pooledReads++;
            for (const r of rows)
              if (Number(r.ver) < want[Number(r.k)])
                pooledStale.push(`key ${r.k}: read ${r.ver}, acknowledged ${want[Number(r.k)]}`);
            if (afterTheKill) afterKill.push({ startedAt, rows });
          }
        } finally {
          c.destroy();
        }
      });
      await sleep(500);
      killedAt = Date.now();
      killed = true;
      await pair.lab.kill("primary");
      // A new connection right after the kill, before the monitor can know (issue 12 saw ERR 2003).
      const early = sleep(12).then(async () => {
        const c = await proxy.connect();
        try {
          return { at: Date.now(), rows: await q(c, "SELECT k, ver FROM kv") };
        } finally {
          c.destroy();
        }
      });
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
      stopReaders = true;
      await Promise.all(readers);
      const e = await early.then(
        (r) => r,
        (err: Error) => err,
      );
      assert.not.instance(e, Error, `the login 12 ms after the kill: ${(e as Error).message}`);
      const staleOf = (rows: RowDataPacket[]) =>
        rows.filter((r) => Number(r.ver) < final[Number(r.k)]).length;
      assert.is(staleOf((e as { rows: RowDataPacket[] }).rows), 0, "the early login's read is fresh");
      assert.equal(pooledFailed, [], "no pooled read failed");
      assert.equal(pooledStale.slice(0, 5), [], `${pooledStale.length} stale keys in pooled reads`);
      assert.ok(afterKill.length > 3, `${afterKill.length} pooled reads after the kill`);
      for (const r of afterKill)
        assert.is(staleOf(r.rows), 0, `a pooled read ${r.startedAt - killedAt} ms after the kill`);
      assert.is(failedLogins, 0, stale.join("; "));
      assert.ok(reads > 3, `${reads} reads`);
      assert.equal(stale.slice(0, 5), [], `${stale.length} stale keys`);
      const cu = proxy.proxy.topology.snapshot().catchUp;
      assert.equal(cu.missing, []);
      process.stdout.write(
        `\n    ${writes} acknowledged writes; first read ${firstReadAt - killedAt} ms after the kill, catch-up ${cu.state} in ${cu.waitedMs} ms; ${reads} new-connection reads, ${pooledReads} pooled reads (${afterKill.length} after the kill), the early login read at ${(e as { at: number }).at - killedAt} ms; 0 stale, 0 failed\n`,
      );
      assert.is(t.acknowledgedPosition !== "", true, "pairgate learned the GTIDs it acknowledged");

      // Promote the secondary: every acknowledged version is there.
      const r = await promote({ configFile: file, admin, reload: false });
      assert.ok(r.epoch !== null && r.epoch >= 1, `epoch ${r.epoch}`);
      const missing = await onRoot(pair, "secondary", async (c) => {
        const rows = await q(c, "SELECT k, ver FROM passtrix.kv");
        return rows.filter((x) => Number(x.ver) < final[Number(x.k)]).length;
      });
      assert.is(missing, 0, "acknowledged writes missing after promote");
    },
  ));

test("split-brain fence: promote through one pairgate, the old primary back writable — neither sends it a write", () =>
  withPairAndProxy(
    { config: { monitor: { intervalMs: 100 } }, admin: true },
    async ({ pair, proxy: a, configFile: fileA, startAnother }) => {
      // Another pairgate on the same pair: its own ports and journal, the same state folder.
      const another = async (name: string) =>
        (
          await startAnother(
            {
              monitor: { intervalMs: 100 },
              listen: { port: await freePort() },
              admin: { port: await freePort() },
              audit: { journalDir: join(pair.dir, `journal-${name}`) },
            },
            `${name}.config.json`,
          )
        ).proxy;
      const b = await another("b");
      const ca = await a.connect();
      await ca.query(
        "CREATE TABLE fence_probe (id INT AUTO_INCREMENT PRIMARY KEY, via CHAR(1), server_id INT)",
      );
      await ca.end();
      await waitReplicated(pair, 20);

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
      const onNew = await onRoot(pair, "secondary", async (c) =>
        q(c, "SELECT via FROM passtrix.fence_probe"),
      );
      assert.equal(
        onNew.map((x) => x.via),
        ["A"],
      );

      // A pairgate started now, while the promoted server is down, reaches only the old primary —
      // writable, epoch 0, and it never saw the promotion itself: the epoch kept on disk fences it.
      await pair.lab.kill("secondary");
      const c = await another("c");
      await until("C has checked the old primary", async () => c.proxy.topology.snapshot().primary.up);
      await sleep(500);
      const cSnap = c.proxy.topology.snapshot();
      assert.is.not(
        cSnap.mode,
        "read_write",
        "a restarted pairgate does not take the old primary for writes",
      );
      assert.is(cSnap.fence.rememberedIn, join(pair.dir, "state", "fence.json"));
      assert.match(String(cSnap.fence.fenced), "holds promotion epoch 0, but epoch 1");
      let refusedC: { errno?: number } | null = null;
      const viaC = await c.connect().catch((e: { errno?: number }) => {
        refusedC = e; // no backend to log in to is a refusal too
        return null;
      });
      if (viaC) {
        try {
          await viaC.query("INSERT INTO passtrix.fence_probe (via, server_id) VALUES ('C', @@server_id)");
        } catch (e) {
          refusedC = e as { errno?: number };
        }
        await viaC.end().catch(() => {});
      }
      assert.ok(refusedC, "C refuses the write");
      const onOldAfter = await onRoot(pair, "primary", async (cn) =>
        q(cn, "SELECT COUNT(*) AS n FROM passtrix.fence_probe"),
      );
      assert.is(Number(onOldAfter[0].n), 0, "still 0 writes on the old primary");
    },
  ));

test.run();
