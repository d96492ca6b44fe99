/**
 * Routines a statement runs without naming them (issue 19's open gap): a trigger on the table it
 * writes, a view whose definition calls a stored function (through another view too). The text
 * names only the table or the view, so pairgate took it for a statement that ran no routine:
 * - state a trigger changed unreported (`SET @@x = …` without a scope keyword, in the trigger or
 *   in a procedure it calls; a user variable) was carried stale at a reconnect and at a failover;
 * - on the secondary, `SELECT * FROM v` where v calls a function doing `SET @@tx_read_only = 0` /
 *   `SET TRANSACTION READ WRITE` made the next transaction read-write, and the guard was not set
 *   again after it: the next routine call wrote on the secondary (the app user holds READ_ONLY
 *   ADMIN here, as in many installations: the guard is all that stops it).
 * Now the audit catalog's tables with triggers and views that reach a routine count as running one.
 */
import type { Connection } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startPair, type TestPair } from "../helpers/pair.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { onRoot, q, waitReplicated } from "../helpers/sql.js";

let pair: TestPair;
let px: RunningProxy;
let primaryId = 0;
let secondaryId = 0;
const sessions: Connection[] = [];

const monitor = { intervalMs: 100, connectTimeoutMs: 300, queryTimeoutMs: 300, fall: 2, rise: 2 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test.before(async () => {
  pair = await startPair();
  await onRoot(pair, "primary", async (root) => {
    await root.query(`GRANT SUPER, READ_ONLY ADMIN ON *.* TO ${root.escape(pair.appUser.username)}@'%'`);
    await root.query("CREATE TABLE passtrix.rr_t (id INT AUTO_INCREMENT PRIMARY KEY, v INT)");
    await root.query("CREATE TABLE passtrix.rr_log (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40))");
    await root.query("CREATE PROCEDURE passtrix.rr_p() BEGIN SET @@div_precision_increment = 7; END");
    // No scope keyword: MariaDB 10.11 reports nothing for these.
    await root.query(
      "CREATE TRIGGER passtrix.rr_trg BEFORE INSERT ON passtrix.rr_t FOR EACH ROW BEGIN SET @@max_sort_length = 1777; SET @rr_u = NEW.v; CALL passtrix.rr_p(); END",
    );
    await root.query(
      "CREATE FUNCTION passtrix.rr_lift() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN SET @@tx_read_only = 0; RETURN 1; END",
    );
    await root.query(
      "CREATE FUNCTION passtrix.rr_lift2() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN SET TRANSACTION READ WRITE; RETURN 1; END",
    );
    await root.query(
      "CREATE FUNCTION passtrix.rr_write() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO passtrix.rr_log (v) VALUES ('pwned'); RETURN 0; END",
    );
    await root.query("CREATE VIEW passtrix.rr_v AS SELECT passtrix.rr_lift() AS x");
    await root.query("CREATE VIEW passtrix.rr_vv AS SELECT * FROM passtrix.rr_v"); // a view over it
    await root.query("CREATE VIEW passtrix.rr_v2 AS SELECT passtrix.rr_lift2() AS x");
    await root.query("CREATE VIEW passtrix.rr_vw AS SELECT passtrix.rr_write() AS w");
  });
  await waitReplicated(pair, 20);
  primaryId = await onRoot(pair, "primary", async (c) =>
    Number((await q(c, "SELECT @@server_id AS id"))[0].id),
  );
  secondaryId = await onRoot(pair, "secondary", async (c) =>
    Number((await q(c, "SELECT @@server_id AS id"))[0].id),
  );
  px = await startProxy(pair, pair.proxyConfig({ monitor }));
});

test.after(async () => {
  for (const c of sessions) await c.end().catch(() => {});
  await px?.stop();
  await pair?.stop();
});

async function connect(): Promise<Connection> {
  const c = await px.connect();
  c.on("error", () => {});
  sessions.push(c);
  return c;
}

async function serverId(c: Connection): Promise<number> {
  const [[r]] = (await c.query("SELECT @@server_id AS id")) as unknown as [{ id: number }[]];
  return Number(r.id);
}

/** What the trigger (and the procedure it calls) left in the session. */
async function triggerState(c: Connection): Promise<Record<string, number>> {
  const [[r]] = (await c.query(
    "SELECT @@session.max_sort_length AS m, @@session.div_precision_increment AS d, @rr_u AS u",
  )) as unknown as [Record<string, unknown>[]];
  return { m: Number(r.m), d: Number(r.d), u: Number(r.u) };
}

const EXPECTED = (u: number) => ({ m: 1777, d: 7, u });

test("a trigger's unreported changes are carried at a reconnect", async () => {
  const c = await connect();
  await c.query("INSERT INTO passtrix.rr_t (v) VALUES (41)");
  assert.equal(await triggerState(c), EXPECTED(41), "set on the server by the trigger");
  await c.query("SET SESSION wait_timeout = 2");
  await sleep(3500); // the server closes the idle connection: the next statement gets a new one
  assert.equal(await triggerState(c), EXPECTED(41), "carried to the new connection");
  assert.is(await serverId(c), primaryId);
});

test("a trigger created through pairgate counts at once (before the catalog is read again)", async () => {
  const c = await connect();
  await c.query("CREATE TABLE passtrix.rr_t2 (id INT AUTO_INCREMENT PRIMARY KEY, v INT)");
  await c.query(
    "CREATE TRIGGER passtrix.rr_trg2 BEFORE INSERT ON passtrix.rr_t2 FOR EACH ROW SET @@max_sort_length = 1888",
  );
  await c.query("INSERT INTO passtrix.rr_t2 (v) VALUES (1)");
  await c.query("SET SESSION wait_timeout = 2");
  await sleep(3500);
  const [[r]] = (await c.query("SELECT @@session.max_sort_length AS m")) as unknown as [{ m: number }[]];
  assert.is(Number(r.m), 1888, "carried to the new connection");
});

let moved: Connection;

test("a trigger's unreported changes are carried at a failover", async () => {
  moved = await connect();
  await moved.query("INSERT INTO passtrix.rr_t (v) VALUES (43)");
  await moved.query("SELECT 1"); // waits for what pairgate reads back after the write
  await pair.lab.kill("primary");
  await px.proxy.topology.waitFor("read_only", 15_000);
  assert.is(await serverId(moved), secondaryId, "the session moved to the secondary");
  assert.equal(await triggerState(moved), EXPECTED(43), "carried to the secondary");
});

function errnoOf(e: unknown): number {
  const err = e as { errno?: number };
  return typeof err.errno === "number" ? err.errno : -1;
}

async function secondaryState(): Promise<{ gtid: string; rows: number }> {
  return onRoot(pair, "secondary", async (c) => {
    const [r] = await q(
      c,
      "SELECT @@global.gtid_binlog_pos AS g, (SELECT COUNT(*) FROM passtrix.rr_log) AS n",
    );
    return { gtid: String(r.g), rows: Number(r.n) };
  });
}

test("read_only: a view whose function lifts the guard has it set again before the next statement", async () => {
  const before = await secondaryState();
  const c = await connect();
  assert.is(await serverId(c), secondaryId);
  for (const lift of [
    "SELECT * FROM passtrix.rr_v",
    "SELECT x FROM passtrix.rr_vv",
    "SELECT * FROM passtrix.rr_v2",
  ])
    for (const write of ["SELECT passtrix.rr_write()", "SELECT * FROM passtrix.rr_vw"]) {
      await c.query(lift);
      const e = await c.query(write).catch((x) => x);
      assert.ok(
        errnoOf(e) === 1290 || errnoOf(e) === 1792,
        `after ${lift}, ${write} was refused (errno ${errnoOf(e)}: ${(e as Error)?.message})`,
      );
    }
  const [[ro]] = (await c.query("SELECT @@session.tx_read_only AS ro")) as unknown as [{ ro: number }[]];
  assert.is(Number(ro.ro), 1, "the session on the secondary is read-only");
  assert.equal(await secondaryState(), before, "no GTID and no row added on the secondary");
});

test.run();
