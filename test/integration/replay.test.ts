/**
 * Issue 19, "never run SQL built from client text" and "the guard first", end to end against a
 * real pair whose application user holds SUPER, READ_ONLY ADMIN and FILE (so `read_only` alone
 * does not stop it). Each attack of the issue is played through pairgate; afterwards the
 * secondary must be as before: `@@global.read_only` = 1, no GTID with the secondary's server id,
 * replication threads running, no file created, no row written, the sequence where it was.
 *
 * At fd3936b every test but the first failed:
 * - a backtick user-variable name was pasted into the replayed SET: at a reconnect (wait_timeout)
 *   the names ran as SQL on the secondary (a syntax error here; with `STOP SLAVE; …` in a name the
 *   multi-statement replay desynchronised the backend connection and pairgate died on an unhandled
 *   ECONNRESET);
 * - `SET SESSION max_sort_length = 1024 + NEXTVAL(seq)` / `sort_buffer_size = … + f()` were
 *   replayed as written at the failover: the sequence advanced there (max_sort_length 2025, not 1025);
 * - `SET SESSION TRANSACTION READ/＊＊/WRITE` passed as a session statement and lifted the guard,
 *   and a procedure that lifts it left the guard off for every later statement;
 * - a statement prepared under NO_BACKSLASH_ESCAPES was re-prepared on the secondary under the
 *   later sql_mode, where it is `SELECT … INTO OUTFILE`: the file appeared;
 * - a session whose last statement called a routine got 1290 for every SELECT 1 after the failover;
 * - 65 user variables (or one set from an expression) were not bounded by a limit of pairgate's;
 * - a statement prepared under NO_BACKSLASH_ESCAPES that reads the audited table was audited at
 *   EXECUTE by re-reading its text under the later sql_mode (one string there): no event.
 */
import { existsSync, readdirSync, statSync } from "node:fs";
import { join } from "node:path";
import type { Connection } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePorts } from "../helpers/ports.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { onRoot, q, waitReplicated } from "../helpers/sql.js";
import { until } from "../helpers/wait.js";

let pair: TestPair;
let px: RunningProxy;
let secondaryServerId = 0;
let datadir = "";
let baselineFiles = new Set<string>();

const monitor = { intervalMs: 100, connectTimeoutMs: 300, queryTimeoutMs: 300, fall: 2, rise: 2 };
const OUTFILE = () => join(pair.dir, "replay-outfile.txt");
/** Files the server itself creates and rotates while it runs: not the attacker's. */
const SERVER_CHURN =
  /(relay-bin|-bin\.|\.index$|#sql|ddl_recovery|ib_|ibtmp|aria_log|\.err$|\.pid$|\.sock|\.info$|undo0|ibdata)/;

function listFiles(dir: string, out: Set<string> = new Set()): Set<string> {
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    let s: ReturnType<typeof statSync>;
    try {
      s = statSync(p);
    } catch {
      continue;
    }
    if (s.isDirectory()) listFiles(p, out);
    else out.add(p);
  }
  return out;
}

interface Secondary {
  readOnly: number;
  rows: number;
  seq: string;
  schemas: string;
}

async function secondaryState(): Promise<Secondary> {
  return onRoot(pair, "secondary", async (c) => {
    const [g] = await q(c, "SELECT @@global.read_only AS ro");
    const [r] = await q(c, "SELECT COUNT(*) AS n FROM passtrix.replay_log");
    const [s] = await q(c, "SELECT next_not_cached_value AS n FROM passtrix.replay_seq");
    const dbs = await q(c, "SHOW DATABASES");
    return {
      readOnly: Number(g.ro),
      rows: Number(r.n),
      seq: String(s.n),
      schemas: dbs.map((d) => String(Object.values(d)[0])).join(","),
    };
  });
}

/** The secondary is untouched: read_only, no GTID of its own, replicating, no new file. */
async function assertSecondaryUntouched(label: string, before: Secondary): Promise<void> {
  const after = await secondaryState();
  assert.equal(after, before, `${label}: no row, sequence value or schema changed on the secondary`);
  await onRoot(pair, "secondary", async (c) => {
    const [g] = await q(c, "SELECT @@global.read_only AS ro, @@global.gtid_binlog_pos AS b");
    assert.is(Number(g.ro), 1, `${label}: the secondary is still read_only`);
    const own = String(g.b)
      .split(",")
      .filter((x) => x.trim() && x.trim().split("-")[1] === String(secondaryServerId));
    assert.equal(own, [], `${label}: no GTID with the secondary's server id (${g.b})`);
    const [st] = await q(c, "SHOW SLAVE STATUS");
    assert.is(st.Slave_SQL_Running, "Yes", `${label}: the SQL thread runs`);
    assert.ok(
      st.Slave_IO_Running === "Yes" || st.Slave_IO_Running === "Connecting",
      `${label}: the IO thread was not stopped (${st.Slave_IO_Running})`,
    );
  });
  const created = [...listFiles(datadir)].filter((f) => !baselineFiles.has(f) && !SERVER_CHURN.test(f));
  assert.equal(created, [], `${label}: no file created in the secondary's datadir`);
  assert.not.ok(existsSync(OUTFILE()), `${label}: no INTO OUTFILE file`);
}

function errnoOf(e: unknown): number {
  const err = e as { errno?: number };
  return typeof err.errno === "number" ? err.errno : -1;
}

const GENERAL_LOG_NAME = "a=1, @@global.general_log_file='gen_gl.log', @@global.general_log=1, @b";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// Sessions set up while the primary serves (read_write), used after the failover.
let exprSession: Connection;
let preparedSession: Connection;
let routineSession: Connection;
const PREPARED_SQL = () => `SELECT 'a\\' -- ' INTO OUTFILE '${OUTFILE()}'`;
let primaryMaxSortLength = 0;

test.before(async () => {
  try {
    pair = await startPair();
    await onRoot(pair, "primary", async (root) => {
      await root.query(
        `GRANT SUPER, READ_ONLY ADMIN, FILE, BINLOG ADMIN, REPLICATION SLAVE ADMIN ON *.* TO ${root.escape(pair.appUser.username)}@'%'`,
      );
      await root.query("CREATE TABLE passtrix.replay_log (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40))");
      await root.query("CREATE SEQUENCE passtrix.replay_seq");
      await root.query(
        "CREATE FUNCTION passtrix.f_write() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO passtrix.replay_log (v) VALUES ('pwned'); RETURN 0; END",
      );
      await root.query(
        "CREATE FUNCTION passtrix.f_read() RETURNS INT DETERMINISTIC READS SQL DATA RETURN (SELECT COUNT(*) FROM passtrix.replay_log)",
      );
      // Functions that lift the read-only guard from inside: only the server's report shows it.
      await root.query(
        "CREATE FUNCTION passtrix.f_lift() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN SET SESSION TRANSACTION READ WRITE; RETURN 1; END",
      );
      await root.query(
        "CREATE FUNCTION passtrix.f_lift2() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN SET SESSION tx_read_only = 0; RETURN 1; END",
      );
      // The next transaction only (no scope keyword, or SET TRANSACTION): the server reports nothing
      // and @@session.tx_read_only stays 1 — at 51ac806 the next statement wrote on the secondary.
      await root.query(
        "CREATE FUNCTION passtrix.f_lift3() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN SET @@tx_read_only = 0; RETURN 1; END",
      );
      await root.query(
        "CREATE FUNCTION passtrix.f_lift4() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN SET TRANSACTION READ WRITE; RETURN 1; END",
      );
    });
    await waitReplicated(pair, 20);
    await onRoot(pair, "secondary", async (c) => {
      const [r] = await q(c, "SELECT @@server_id AS id, @@datadir AS d");
      secondaryServerId = Number(r.id);
      datadir = String(r.d);
    });
    px = await startProxy(pair, pair.proxyConfig({ monitor }));
  } catch (e) {
    console.error("before failed", e);
    throw e;
  }
});

test.after(async () => {
  for (const c of [exprSession, preparedSession, routineSession]) await c?.end().catch(() => {});
  await px?.stop();
  await pair?.stop();
});

test("read_write: sessions set expressions, a NO_BACKSLASH_ESCAPES prepare and a routine call", async () => {
  exprSession = await px.connect();
  // A session that pairgate closes must fail its test, not crash the suite (unhandled 'error').
  exprSession.on("error", () => {});
  await exprSession.query("SET SESSION max_sort_length = 1024 + NEXTVAL(replay_seq)");
  await exprSession.query("SET SESSION sort_buffer_size = 262144 + f_write()");
  const [[m]] = (await exprSession.query("SELECT @@session.max_sort_length AS m")) as unknown as [
    { m: number }[],
  ];
  primaryMaxSortLength = Number(m.m);
  assert.ok(primaryMaxSortLength > 1024, "the expression ran on the primary");
  // Guard variables the client may set on the primary: never replayed onto the secondary.
  await exprSession.query("SET SESSION TRANSACTION READ WRITE");
  // The same through comments (found by the generative suite): fine on the primary, never carried.
  await exprSession.query("SET SESSION TRANSACTION READ -- c\n WRITE");
  await exprSession.query("SET SESSION TRANSACTION READ #c\n WRITE");
  await exprSession.query(
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED ,/*!99999 x */READ -- '\nwRiTE",
  );
  await exprSession.query("SET SESSION sql_log_bin = 0");

  preparedSession = await px.connect();
  preparedSession.on("error", () => {});
  await preparedSession.query("SET sql_mode = 'NO_BACKSLASH_ESCAPES'");
  const [rows] = await preparedSession.execute(PREPARED_SQL());
  assert.equal(
    Object.values((rows as Record<string, unknown>[])[0]),
    ["a\\"],
    "a read under NO_BACKSLASH_ESCAPES",
  );
  await preparedSession.query("SET sql_mode = ''");

  routineSession = await px.connect();
  routineSession.on("error", () => {});
  await routineSession.query("SELECT f_read() AS n");

  // pairgate's own audit tables (created by its delivery on the primary, replicated) belong in the
  // baseline: the oracle is about what a client makes happen on the secondary.
  await until(
    "pairgate's audit tables reached the secondary",
    async () =>
      onRoot(pair, "secondary", async (c) =>
        Number(
          (
            await q(
              c,
              "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'passtrix' AND TABLE_NAME = 'pairgate_replayed'",
            )
          )[0].n,
        ),
      ).then((n) => n === 1),
    20_000,
  );
  await waitReplicated(pair, 20);
  baselineFiles = listFiles(datadir);
});

test("failover: the carried state is literals; a prepared statement keeps its dialect; dialect read from the new connection", async () => {
  const before = await secondaryState();
  await pair.lab.kill("primary");
  await px.proxy.topology.waitFor("read_only", 15_000);

  // The expressions are not evaluated again: their values are.
  const [[m]] = (await exprSession.query(
    "SELECT @@session.max_sort_length AS m, @@server_id AS id",
  )) as unknown as [{ m: number; id: number }[]];
  assert.is(Number(m.id), secondaryServerId, "the session moved to the secondary");
  assert.is(Number(m.m), primaryMaxSortLength, "max_sort_length carried as the value the primary computed");
  const [[g]] = (await exprSession.query(
    "SELECT @@session.tx_read_only AS ro, @@session.sql_log_bin AS lb",
  )) as unknown as [{ ro: number; lb: number }[]];
  assert.equal({ ...g }, { ro: 1, lb: 1 }, "the guard holds; tx_read_only and sql_log_bin were not replayed");

  // The prepared statement runs as it was prepared (a read), not as the later sql_mode reads it.
  const [rows] = await preparedSession.execute(PREPARED_SQL());
  assert.equal(Object.values((rows as Record<string, unknown>[])[0]), ["a\\"]);
  const [[mode]] = (await preparedSession.query("SELECT @@session.sql_mode AS m")) as unknown as [
    { m: string }[],
  ];
  assert.is(mode.m, "", "the session's own sql_mode is back after the re-prepare");

  // The last statement called a routine: the dialect comes from the connection serving it now.
  for (let i = 0; i < 3; i++) {
    const [r] = await routineSession.query("SELECT 1 AS one");
    assert.equal(r, [{ one: 1 }], `SELECT 1 after the failover (${i})`);
  }
  await assertSecondaryUntouched("after the failover", before);
});

test("injection through a user-variable name: carried as a quoted name at a reconnect, nothing runs", async () => {
  const before = await secondaryState();
  const c = await px.connect({ multipleStatements: true });
  try {
    const names = [
      "a=1, @@global.read_only=0, @b",
      "c=1; STOP SLAVE; CREATE DATABASE replay_pwned; SET @d",
      "e`=1, @@global.read_only=0, @`f",
    ];
    for (const [i, n] of names.entries()) await c.query(`SET @\`${n.replaceAll("`", "``")}\` = ${i + 1}`);
    await c.query("SET SESSION wait_timeout = 2");
    await sleep(3500); // the secondary closes the idle connection: the next statement reconnects
    const [[r]] = (await c.query(
      `SELECT ${names.map((n, i) => `@\`${n.replaceAll("`", "``")}\` AS v${i}`).join(", ")}, @@server_id AS id`,
    )) as unknown as [Record<string, unknown>[]];
    assert.is(Number(r.id), secondaryServerId);
    assert.equal(
      names.map((_, i) => Number(r[`v${i}`])),
      [1, 2, 3],
      "the user variables came back with their values, under their own names",
    );
  } finally {
    await c.end().catch(() => {});
  }
  await assertSecondaryUntouched("after the user-variable names", before);
});

test("a user-variable name the server lists cut to 64 characters (the general log through a name): the session cannot move, nothing runs", async () => {
  const before = await secondaryState();
  const c = await px.connect();
  c.on("error", () => {});
  try {
    await c.query(`SET @"${GENERAL_LOG_NAME}" = 4, @short = 5`);
    const [[v]] = (await c.query(`SELECT @"${GENERAL_LOG_NAME}" AS v`)) as unknown as [{ v: number }[]];
    assert.is(Number(v.v), 4);
    await c.query("SET SESSION wait_timeout = 2");
    await sleep(3500); // the next statement needs a new connection: the state cannot be carried
    let errno = 0;
    let value: unknown = "not read";
    try {
      const [[r]] = (await c.query(`SELECT @"${GENERAL_LOG_NAME}" AS v`)) as unknown as [{ v: unknown }[]];
      value = r.v;
    } catch (e) {
      errno = errnoOf(e);
    }
    // Before: the name was carried cut to its first 64 characters — another variable (NULL here).
    assert.is(value, "not read", "no value under the cut name");
    assert.is(errno, 2003, "the move is refused with pairgate's PAIRGATE_SESSION_PINNED");
  } finally {
    await c.end().catch(() => {});
  }
  await assertSecondaryUntouched("after the general-log name", before);
  await onRoot(pair, "secondary", async (r) => {
    const [g] = await q(r, "SELECT @@global.general_log AS on_, @@global.general_log_file AS f");
    assert.is(Number(g.on_), 0, "the general log stays off on the secondary");
    assert.not.ok(String(g.f).includes("gen_gl"), `general_log_file unchanged (${g.f})`);
  });
});

test("user variables of every kind are carried as typed literals", async () => {
  const c = await px.connect();
  try {
    await c.query(
      "SET @i = -42, @big = 18446744073709551615, @dec = 1.50, @dbl = 1e300, @n = NULL, @s = _latin1 X'E9' COLLATE latin1_bin, @b = X'00FF5C27', @u = 'héllo \\\\ ''q'''",
    );
    await c.query("SET SESSION wait_timeout = 2");
    await sleep(3500);
    const [[r]] = (await c.query(
      "SELECT @i AS i, CAST(@big AS CHAR) AS big, @dec AS d, @dbl AS dbl, @n IS NULL AS n, HEX(@s) AS s, COLLATION(@s) AS sc, HEX(@b) AS b, @u AS u, COLLATION(@u) AS uc",
    )) as unknown as [Record<string, unknown>[]];
    assert.equal(
      { ...r },
      {
        i: -42,
        big: "18446744073709551615",
        d: "1.50",
        dbl: 1e300,
        n: 1,
        s: "E9",
        sc: "latin1_bin",
        b: "00FF5C27",
        u: "héllo \\ 'q'",
        uc: r.uc,
      },
    );
  } finally {
    await c.end().catch(() => {});
  }
});

test("SET SESSION TRANSACTION READ/**/WRITE is read as tokens: refused; a function that lifts the guard has it restored", async () => {
  const before = await secondaryState();
  const c = await px.connect();
  try {
    for (const sql of [
      "SET SESSION TRANSACTION READ/**/WRITE",
      "SET SESSION TRANSACTION READ -- x\n WRITE",
      "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED, READ/*!*/WRITE",
      "SET /*x*/ SESSION /*y*/ TRANSACTION /*z*/ read /**/ write",
    ]) {
      const e = await c.query(sql).catch((x) => x);
      assert.is(errnoOf(e), 1290, `refused: ${sql}`);
    }
    let e = await c.query("SELECT f_write()").catch((x) => x);
    assert.is(errnoOf(e), 1290, "the guard still holds");
    // A function that lifts the guard runs there (a routine read, under the guard): the server
    // reports what it did, whatever the text looked like, and the guard is back before the next one.
    // f_lift3/f_lift4 lift it for the next transaction only, unreported: the guard is set again
    // after every routine (at 51ac806 the next statement wrote on the secondary).
    for (const lift of [
      "SELECT f_lift()",
      "SELECT f_lift2()",
      "SELECT f_read(), f_lift2()",
      "SELECT f_lift3()",
      "SELECT f_lift4()",
    ]) {
      await c.query(lift);
      e = await c.query("SELECT f_write()").catch((x) => x);
      assert.is(
        errnoOf(e),
        1290,
        `after ${lift} lifted the guard, it was restored before the next statement`,
      );
    }
    const [[ro]] = (await c.query("SELECT @@session.tx_read_only AS ro")) as unknown as [{ ro: number }[]];
    assert.is(Number(ro.ro), 1, "the session on the secondary is read-only");
  } finally {
    await c.end().catch(() => {});
  }
  await assertSecondaryUntouched("after the guard attempts", before);
});

test("a multi-statement's earlier results: state read back from the server, carried at a reconnect", async () => {
  const before = await secondaryState();
  const c = await px.connect({ multipleStatements: true });
  try {
    await c.query("SET SESSION max_sort_length = 2001; SET @mv = 7; SET time_zone = '+03:00'; SELECT 1");
    // Its SETs were reported by results before the last: read back from the server (and the guard
    // confirmed again on the secondary) before the next statement.
    const e = await c.query("SELECT f_write()").catch((x) => x);
    assert.is(errnoOf(e), 1290, "the guard holds after the multi-statement");
    await c.query("SET SESSION wait_timeout = 2");
    await sleep(3500);
    const [[r]] = (await c.query(
      "SELECT @@session.max_sort_length AS m, @mv AS v, @@session.time_zone AS tz, @@session.tx_read_only AS ro",
    )) as unknown as [Record<string, unknown>[]];
    assert.equal({ ...r }, { m: 2001, v: 7, tz: "+03:00", ro: 1 });
  } finally {
    await c.end().catch(() => {});
  }
  await assertSecondaryUntouched("after the multi-statements", before);
});

test("more user variables than maxUserVariables: the move fails cleanly for that session", async () => {
  const c = await px.connect();
  try {
    const sets = Array.from({ length: 65 }, (_, i) => `@v${i} = ${i}`).join(", ");
    await c.query(`SET ${sets}`);
    await c.query("SET SESSION wait_timeout = 2");
    await sleep(3500);
    const e = await c.query("SELECT 1").catch((x) => x);
    assert.instance(e, Error, "the session could not move");
    assert.match(String(e.message), /more than 64 user variables/);
  } finally {
    await c.end().catch(() => {});
  }
  // Another session is not affected.
  const other = await px.connect();
  try {
    const [r] = await other.query("SELECT 1 AS one");
    assert.equal(r, [{ one: 1 }]);
  } finally {
    await other.end();
  }
});

test("a prepared statement is audited as it was prepared, not as the session's later sql_mode reads it", async () => {
  const [listen, admin] = await freePorts(2, "127.0.0.1");
  const audited = await startProxy(
    pair,
    pair.proxyConfig({
      monitor,
      listen: { port: listen },
      admin: { port: admin },
      audit: {
        rules: [{ operation: "password_retrieval", tables: ["passtrix.ptrx_passwords"] }],
        journalDir: join(pair.dir, "audit-replay"),
      },
    }),
  );
  const events = () => {
    let n = 0;
    for (const [op, count] of Object.entries(audited.proxy.audit!.counts()))
      if (op !== "login" && op !== "logout" && op !== "login_failed") n += count;
    return n;
  };
  const c = await audited.connect();
  try {
    await c.query("SET sql_mode = 'NO_BACKSLASH_ESCAPES'");
    // Under NO_BACKSLASH_ESCAPES a read of the secret; under '' one string and nothing else.
    const sql = "SELECT 'x\\' AS a, encrypted_password FROM ptrx_passwords WHERE account_id = ? -- '";
    const stmt = await c.prepare(sql);
    await c.query("SET sql_mode = ''");
    const before = events();
    const [rows] = await stmt.execute([1]);
    assert.is((rows as unknown[]).length, 1, "the secret was returned");
    assert.ok(events() > before, "and its EXECUTE was audited under the dialect it was prepared in");
    await stmt.close();
  } finally {
    await c.end().catch(() => {});
    await audited.stop();
  }
});

test.run();
