/**
 * Issue 11, "never a write on the secondary", end to end: a pair whose application user holds SUPER
 * and READ_ONLY ADMIN (so the secondary's `read_only` does not stop it), the primary killed, pairgate
 * in read_only mode sending reads to the secondary. Every disguised write of the issue is sent
 * through pairgate — stored functions with side effects behind a SELECT/SET/WITH/SET STATEMENT, in
 * the text and the binary protocol; executable comments; `--` followed by 0x7F; sql_mode set earlier
 * in the session; GBK/SJIS/BIG5 with 0x5C trail bytes; the guard variables — and afterwards the
 * secondary must be exactly as before: table data, the sequence, @@read_only, its GTID positions,
 * no file written. Each statement is either refused (1290, pairgate's message) or harmless.
 *
 * At 7731d6f (before the session wiring) the first test failed: the statements sent after
 * `SET sql_mode = 'NO_BACKSLASH_ESCAPES'` / `'ANSI_QUOTES'` and after `SET NAMES gbk|sjis|big5`
 * (a 0x5C trail byte) were read with the default dialect, taken for reads and run on the
 * secondary: guard_f() set row 1 to 'pwned', the multi-statement DELETE removed row 3, and the
 * secondary's gtid_binlog_pos gained GTIDs of its own (0-2-…); after COM_RESET_CONNECTION the
 * session was not read-only. The routine-read, audit (multi-statement USE before an ERR: 30
 * secrets returned unaudited), HANDLER, unresolved=refuse and local-GTID tests failed too.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import type { Connection } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { READ_ONLY_MESSAGE } from "../../src/routing/router.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePorts } from "../helpers/ports.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { RawConnection, RawServerError, textRow } from "../helpers/raw-client.js";

let pair: TestPair;
let px: RunningProxy;

const AUDIT_RULES = [
  {
    operation: "password_retrieval",
    tables: ["passtrix.ptrx_passwords", "passtrix.guard_v"],
    keyPattern: "account_id\\s*=\\s*(\\d+)",
  },
];

const monitor = { intervalMs: 100, connectTimeoutMs: 300, queryTimeoutMs: 300, fall: 2, rise: 2 };
const OUTFILE = () => join(pair.dir, "guard-outfile.txt");

interface Snapshot {
  rows: string;
  seq: string;
  readOnly: number;
  binlog: string;
  current: string;
}

async function snapshot(): Promise<Snapshot> {
  const root = await pair.rootConnection("secondary");
  try {
    const [rows] = await root.query("SELECT id, v FROM passtrix.guard_t ORDER BY id");
    const [seq] = await root.query("SELECT next_not_cached_value AS n FROM passtrix.guard_seq");
    const [[g]] = (await root.query(
      "SELECT @@global.read_only AS ro, @@global.gtid_binlog_pos AS b, @@global.gtid_current_pos AS c",
    )) as unknown as [{ ro: number; b: string; c: string }[]];
    return {
      rows: JSON.stringify(rows),
      seq: JSON.stringify(seq),
      readOnly: g.ro,
      binlog: g.b,
      current: g.c,
    };
  } finally {
    await root.end();
  }
}

/** What happened to one hostile statement: "ok" or the errno. */
type Outcome = { sql: string; result: "ok" | number; message?: string };

async function attempt(sql: string, f: () => Promise<unknown>): Promise<Outcome> {
  try {
    await f();
    return { sql, result: "ok" };
  } catch (e) {
    const err = e as { errno?: number; code?: number | string; message: string };
    const errno = typeof err.errno === "number" ? err.errno : typeof err.code === "number" ? err.code : -1;
    return { sql, result: errno, message: err.message };
  }
}

async function rawSession(): Promise<RawConnection> {
  const r = await RawConnection.connect(px.port);
  await r.login({ user: pair.appUser.username, password: pair.appUser.password, database: "passtrix" });
  return r;
}

function comQueryBytes(...parts: (string | number[])[]): Buffer {
  const bufs = parts.map((p) => (typeof p === "string" ? Buffer.from(p, "latin1") : Buffer.from(p)));
  return Buffer.concat([Buffer.from([0x03]), ...bufs]);
}

async function rawAttempt(r: RawConnection, label: string, payload: Buffer): Promise<Outcome> {
  try {
    let rs = await r.query(payload);
    // Further results of a multi-statement (SERVER_MORE_RESULTS_EXISTS): an ERR among them counts.
    while (rs.status & 0x08) rs = await r.readResult(await r.read());
    return { sql: label, result: "ok" };
  } catch (e) {
    if (e instanceof RawServerError) return { sql: label, result: e.code, message: e.message };
    throw e;
  }
}

test.before(async () => {
  try {
    pair = await startPair();
    const root = await pair.rootConnection("primary");
    try {
      await root.query(
        `GRANT SUPER, READ_ONLY ADMIN, FILE, BINLOG ADMIN ON *.* TO ${root.escape(pair.appUser.username)}@'%'`,
      );
      await root.query("CREATE TABLE passtrix.guard_t (id INT PRIMARY KEY, v VARCHAR(40))");
      await root.query("INSERT INTO passtrix.guard_t VALUES (1, 'one'), (2, 'two'), (3, 'three')");
      await root.query("CREATE SEQUENCE passtrix.guard_seq");
      // Written by a procedure that reads the audited table: a copy, audited (guard_t must not be).
      await root.query("CREATE TABLE passtrix.guard_sink (id INT PRIMARY KEY)");
      await root.query(
        "CREATE FUNCTION passtrix.guard_f() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN UPDATE passtrix.guard_t SET v = 'pwned' WHERE id = 1; RETURN 1; END",
      );
      await root.query(
        "CREATE FUNCTION passtrix.guard_n() RETURNS BIGINT DETERMINISTIC MODIFIES SQL DATA RETURN NEXT VALUE FOR passtrix.guard_seq",
      );
      await root.query(
        "CREATE FUNCTION passtrix.guard_r() RETURNS INT DETERMINISTIC READS SQL DATA RETURN (SELECT COUNT(*) FROM passtrix.guard_t)",
      );
      await root.query(
        "CREATE PROCEDURE passtrix.guard_p() MODIFIES SQL DATA DELETE FROM passtrix.guard_t WHERE id = 2",
      );
      // A procedure that returns a result set, then writes: the secondary refuses the write (1792)
      // after the result set went out (a multi-result response). The second one first reads the
      // audited table (its result is held for the audit event).
      await root.query(
        "CREATE PROCEDURE passtrix.guard_sp() BEGIN SELECT id, v FROM passtrix.guard_t ORDER BY id; UPDATE passtrix.guard_t SET v = 'pwned' WHERE id = 2; END",
      );
      await root.query(
        "CREATE PROCEDURE passtrix.guard_sp_a() BEGIN SELECT account_id FROM passtrix.ptrx_passwords; INSERT INTO passtrix.guard_sink VALUES (1); END",
      );
      // The audit side: a view named in a rule, a routine and a procedure that return secrets.
      await root.query(
        "CREATE VIEW passtrix.guard_v AS SELECT account_id, encrypted_password FROM passtrix.ptrx_passwords",
      );
      await root.query(
        "CREATE FUNCTION passtrix.guard_secret(i INT) RETURNS BLOB DETERMINISTIC READS SQL DATA RETURN (SELECT encrypted_password FROM passtrix.ptrx_passwords WHERE account_id = i LIMIT 1)",
      );
      await root.query(
        "CREATE PROCEDURE passtrix.guard_secret_p(i INT) READS SQL DATA SELECT encrypted_password FROM passtrix.ptrx_passwords WHERE account_id = i",
      );
      // Wait until the secondary has all of it.
      const [[pos]] = (await root.query("SELECT @@gtid_binlog_pos AS p")) as unknown as [{ p: string }[]];
      const s = await pair.rootConnection("secondary");
      try {
        await s.query("SELECT MASTER_GTID_WAIT(?, 20)", [pos.p]);
      } finally {
        await s.end();
      }
    } finally {
      await root.end();
    }
    px = await startProxy(
      pair,
      pair.proxyConfig({ monitor, audit: { rules: AUDIT_RULES, journalDir: join(pair.dir, "audit-guard") } }),
    );
    await pair.lab.kill("primary");
    await px.proxy.topology.waitFor("read_only", 15_000);
  } catch (e) {
    console.error("before failed", e);
    throw e;
  }
});

test.after(async () => {
  await px?.stop();
  await pair?.stop();
});

test("the secondary's guard: privileged user, every disguised write of issue 11, nothing changes on the secondary", async () => {
  const before = await snapshot();
  assert.is(before.readOnly, 1, "the lab's secondary runs read_only");
  const outcomes: Outcome[] = [];

  // Text protocol through mysql2.
  const c = await px.connect({ multipleStatements: true });
  const text = [
    "SELECT guard_f()",
    "SELECT guard_f() FROM guard_t WHERE id = 3",
    "SET @x = guard_f()",
    "SELECT guard_f() INTO @y",
    "WITH a AS (SELECT 1 AS one) SELECT guard_f() FROM a",
    "SET STATEMENT max_statement_time = 10 FOR SELECT guard_f()",
    "DO guard_f()",
    "SELECT guard_n()",
    "SELECT NEXT VALUE FOR guard_seq",
    "SELECT NEXTVAL(guard_seq)",
    "SELECT SETVAL(guard_seq, 1000)",
    "CALL guard_p()",
    "EXECUTE IMMEDIATE 'DELETE FROM guard_t WHERE id = 3'",
    "PREPARE s1 FROM 'DELETE FROM guard_t WHERE id = 3'",
    "EXECUTE s1",
    "/*!99999 SELECT ' */ DELETE FROM guard_t WHERE id=1 -- '",
    "/*M!999999 SELECT ' */ DELETE FROM guard_t WHERE id=1 -- '",
    "/*!57000 DELETE FROM guard_t WHERE id=1 */",
    "/*M!100000 UPDATE guard_t SET v = 'x' */",
    "/*!57000 SET GLOBAL read_only = 0 */",
    "/*M!999999 SELECT ' */ SET GLOBAL read_only = 0 -- '",
    "SET GLOBAL read_only = 0",
    "SET SESSION sql_log_bin = 0",
    "SET SESSION TRANSACTION READ WRITE",
    "SET TRANSACTION READ WRITE",
    "SET SESSION tx_read_only = 0",
    "SET @@session.tx_read_only = 0",
    "SET STATEMENT tx_read_only = 0 FOR SELECT guard_f()",
    "START TRANSACTION READ WRITE",
    "ROLLBACK",
    `SELECT * FROM guard_t INTO OUTFILE '${OUTFILE()}'`,
    "SELECT 1; DELETE FROM guard_t WHERE id = 3",
    "SELECT 1 --\x7f, guard_f()",
    "SELECT 1 --\x7f\n, guard_f()",
    "INSERT INTO guard_t VALUES (9, 'nine')",
    "CREATE TABLE guard_new (id INT)",
  ];
  for (const sql of text) outcomes.push(await attempt(sql, () => c.query(sql)));

  // The guard lifted through comments the generative suite found (issue 19 follow-up): a line
  // comment (`-- `, `#`) or a skipped executable comment between READ and WRITE. Each is refused
  // or, if the server ran it, the guard is restored before the function call.
  const lifters = [
    "SET SESSION TRANSACTION READ -- c\n WRITE",
    "SET SESSION TRANSACTION READ #c\n WRITE",
    "SET SESSION TRANSACTION ISOLATION LEVEL READ COMMITTED ,/*!99999 x */READ -- '\nwRiTE",
    "SET TRANSACTION READ -- c\n WRITE",
    "SET SESSION TRANSACTION READ/*!99999 ONLY*/ WRITE",
    // The next transaction only, and not reported by the server: never relayed there.
    "SET @@tx_read_only = 0",
    "SET @@tx_read_only = 0; SELECT guard_f()",
  ];
  for (const sql of lifters) {
    outcomes.push(await attempt(sql, () => c.query(sql)));
    outcomes.push(await attempt(`[after ${sql}] SELECT guard_f()`, () => c.query("SELECT guard_f()")));
    const [[g]] = (await c.query("SELECT @@session.tx_read_only AS ro")) as unknown as [{ ro: number }[]];
    assert.is(Number(g.ro), 1, `the guard holds after ${JSON.stringify(sql)}`);
  }

  // sql_mode set earlier in the session changes how the rest is read.
  outcomes.push(
    await attempt("SET sql_mode NO_BACKSLASH_ESCAPES", () =>
      c.query("SET sql_mode = 'NO_BACKSLASH_ESCAPES'"),
    ),
  );
  for (const sql of ["SELECT 'a\\', guard_f() -- '", "SELECT 'a\\'; DELETE FROM guard_t WHERE id = 3 -- '"])
    outcomes.push(await attempt(`[NO_BACKSLASH_ESCAPES] ${sql}`, () => c.query(sql)));
  outcomes.push(await attempt("SET sql_mode ANSI_QUOTES", () => c.query("SET sql_mode = 'ANSI_QUOTES'")));
  for (const sql of [
    'SELECT 1 AS "a\\", guard_f() -- "',
    'SELECT 1 AS "a\\"; DELETE FROM guard_t WHERE id = 3 -- "',
  ])
    outcomes.push(await attempt(`[ANSI_QUOTES] ${sql}`, () => c.query(sql)));
  await c.query("SET sql_mode = DEFAULT").catch(() => {});

  // Binary protocol.
  for (const sql of [
    "SELECT guard_f()",
    "SELECT guard_f() FROM guard_t WHERE id = ?",
    "SELECT NEXT VALUE FOR guard_seq",
  ])
    outcomes.push(await attempt(`[prepared] ${sql}`, () => c.execute(sql, sql.includes("?") ? [3] : [])));

  // COM_CHANGE_USER: the new login on the secondary is guarded too.
  outcomes.push(
    await attempt("COM_CHANGE_USER", () =>
      c.changeUser({ user: pair.appUser.username, password: pair.appUser.password, database: "passtrix" }),
    ),
  );
  outcomes.push(await attempt("[after change user] UPDATE via guard_f", () => c.query("SELECT guard_f()")));
  await c.end();

  // Byte-exact texts: multi-byte client charsets whose trail byte is 0x5C, and COM_RESET_CONNECTION.
  const charsets: [string, number[]][] = [
    ["gbk", [0xbf, 0x5c]],
    ["sjis", [0x95, 0x5c]],
    ["big5", [0xa5, 0x5c]],
  ];
  for (const [cs, ch] of charsets) {
    const r = await rawSession();
    try {
      outcomes.push(await rawAttempt(r, `SET NAMES ${cs}`, comQueryBytes(`SET NAMES ${cs}`)));
      outcomes.push(
        await rawAttempt(
          r,
          `[${cs}] 'a<5c trail>' , guard_f() -- '`,
          comQueryBytes("SELECT 'a", ch, "', guard_f() -- '"),
        ),
      );
      outcomes.push(
        await rawAttempt(
          r,
          `[${cs}] 'a<5c trail>' ; DELETE`,
          comQueryBytes("SELECT 'a", ch, "'; DELETE FROM guard_t WHERE id = 3 -- '"),
        ),
      );
    } finally {
      r.close();
    }
  }
  {
    const r = await rawSession();
    try {
      outcomes.push(await rawAttempt(r, "SELECT 1 (to the secondary)", comQueryBytes("SELECT 1")));
      const reset = await r.command(Buffer.from([0x1f]));
      outcomes.push({ sql: "COM_RESET_CONNECTION", result: reset.payload[0] === 0 ? "ok" : -2 });
      outcomes.push(await rawAttempt(r, "[after reset] SELECT guard_f()", comQueryBytes("SELECT guard_f()")));
      const ro = await r.query(comQueryBytes("SELECT @@session.tx_read_only"));
      outcomes.push({ sql: "[after reset] SELECT @@session.tx_read_only", result: "ok" });
      assert.equal(
        textRow(ro.rows[0]),
        ["1"],
        "after COM_RESET_CONNECTION the secondary session is read-only again",
      );
    } finally {
      r.close();
    }
  }

  const after = await snapshot();
  const table = outcomes.map((o) => `  ${o.result === "ok" ? "ok  " : String(o.result).padEnd(4)}  ${o.sql}`);
  console.log(`secondary guard, ${outcomes.length} statements:\n${table.join("\n")}`);
  assert.equal(after, before, "nothing changed on the secondary");
  assert.not.ok(existsSync(OUTFILE()), "no file written by INTO OUTFILE");
  // A refusal of the server's own reaches the client as pairgate's 1290.
  for (const o of outcomes)
    if (o.result !== "ok" && o.message && /READ ONLY transaction/i.test(o.message))
      assert.unreachable(`the secondary's own refusal leaked to the client: ${o.sql}: ${o.message}`);
  // Everything but the harmless session statements is refused with pairgate's 1290.
  const harmless =
    /^(ROLLBACK|SELECT 1 --\x7f, guard_f\(\)|SET sql_mode .*|COM_CHANGE_USER|SET NAMES \w+|SELECT 1 \(to the secondary\)|COM_RESET_CONNECTION|\[after reset\] SELECT @@session.tx_read_only)$/;
  const notRefused = outcomes.filter((o) => !harmless.test(o.sql) && o.result !== 1290);
  assert.equal(notRefused, [], "every disguised write is refused with 1290");
});

test("a routine-calling read runs on the secondary under its guard", async () => {
  const c = await px.connect();
  try {
    const [rows] = await c.query("SELECT guard_r() AS n");
    assert.equal(
      (rows as { n: number }[])[0].n,
      3,
      "SELECT f() of a reading function ran (on the secondary)",
    );
    // The same through a prepared statement (binary protocol), as JDBC's server-side prepares send it.
    const [prepared] = await c.execute("SELECT guard_r() + ? AS n", [1]);
    assert.equal((prepared as { n: number }[])[0].n, 4, "a prepared SELECT f() ran on the secondary too");
    const [[ro]] = (await c.query("SELECT @@session.tx_read_only AS ro, @@server_id AS id")) as unknown as [
      { ro: number; id: number }[],
    ];
    assert.is(ro.ro, 1, "the session on the secondary is read-only on the server");
  } finally {
    await c.end();
  }
});

test("a refusal after a result set went out (a procedure's, a multi-statement's) reads as pairgate's 1290; the session stays usable", async () => {
  const before = await snapshot();
  const c = await px.connect({ multipleStatements: true });
  try {
    const statements: [string, () => Promise<unknown>][] = [
      // The second statement is refused by the server (1792) after the first one's result went out.
      ["multi-statement", () => c.query("SELECT 1 AS one; SELECT guard_f()")],
      ["multi-statement, three results", () => c.query("SELECT 1 AS one; SELECT 2 AS two; SELECT guard_n()")],
      // Held for its audit event: the refusal comes at the end of the collected response.
      [
        "multi-statement, audited",
        () => c.query("SELECT account_id FROM passtrix.ptrx_passwords; SELECT guard_f()"),
      ],
      // pairgate refuses a CALL up front (a procedure may write): the same 1290.
      ["CALL, text", () => c.query("CALL passtrix.guard_sp()")],
      ["CALL, binary", () => c.execute("CALL passtrix.guard_sp_a()")],
    ];
    for (const [label, run] of statements) {
      const o = await attempt(label, run);
      assert.is(o.result, 1290, `${label}: pairgate's 1290 (${o.message})`);
      assert.is(o.message, READ_ONLY_MESSAGE, `${label}: pairgate's message`);
      const [rows] = await c.query("SELECT 1 AS one");
      assert.equal(rows, [{ one: 1 }], `${label}: the session is usable after the refusal`);
    }
    // On the wire: the first statement's result set reached the client, then the refusal.
    const r = await rawSession();
    try {
      const first = await r.query(comQueryBytes("SELECT id, v FROM guard_t ORDER BY id; SELECT guard_f()"));
      assert.equal(
        first.rows.map(textRow),
        [
          ["1", "one"],
          ["2", "two"],
          ["3", "three"],
        ],
        "the result set came first",
      );
      assert.ok(first.status & 0x08, "more results announced");
      let err: RawServerError | null = null;
      try {
        await r.readResult(await r.read());
      } catch (e) {
        if (e instanceof RawServerError) err = e;
        else throw e;
      }
      assert.is(err?.code, 1290, `raw: the refusal after the result set (${err?.message})`);
      const again = await r.query(comQueryBytes("SELECT 2"));
      assert.equal(textRow(again.rows[0]), ["2"], "raw: the next statement runs");
    } finally {
      r.close();
    }
  } finally {
    await c.end();
  }
  assert.equal(await snapshot(), before, "nothing changed on the secondary");
});

/** Audit events recorded by pairgate so far, but logins and logouts. */
function auditEvents(): number {
  let n = 0;
  for (const [op, count] of Object.entries(px.proxy.audit!.counts()))
    if (op !== "login" && op !== "logout" && op !== "login_failed") n += count;
  return n;
}

test("no secret leaves the secondary without an audit event: each retrieval is audited or refused", async () => {
  const c = await px.connect({ multipleStatements: true });
  const other = await px.connect({ database: "sbtest" });
  const third = await px.connect({ database: "sbtest", multipleStatements: true });
  const cases: [string, Connection, string, unknown[]?][] = [
    ["plain", c, "SELECT encrypted_password FROM ptrx_passwords WHERE account_id = 1"],
    ["binary protocol", c, "SELECT encrypted_password FROM ptrx_passwords WHERE account_id = ?", [1]],
    ["view named in a rule", c, "SELECT encrypted_password FROM guard_v WHERE account_id = 1"],
    ["stored function", c, "SELECT guard_secret(1)"],
    ["stored function, binary protocol", c, "SELECT guard_secret(?)", [1]],
    ["stored function, qualified, in SET", c, "SET @s = passtrix.guard_secret(1)"],
    ["procedure", c, "CALL guard_secret_p(1)"],
    ["PREPARE", c, "PREPARE g1 FROM 'SELECT encrypted_password FROM ptrx_passwords'"],
    ["EXECUTE", c, "EXECUTE g1"],
    ["EXECUTE IMMEDIATE", c, "EXECUTE IMMEDIATE 'SELECT encrypted_password FROM ptrx_passwords'"],
    ["FOR SYSTEM_TIME", c, "SELECT encrypted_password FROM ptrx_passwords FOR SYSTEM_TIME ALL"],
    ["HANDLER OPEN", c, "HANDLER ptrx_passwords OPEN AS hp"],
    ["HANDLER READ", c, "HANDLER hp READ FIRST"],
    ["HANDLER CLOSE", c, "HANDLER hp CLOSE"],
    ["executable comment", c, "SELECT /*!32302 encrypted_password FROM ptrx_passwords */"],
    ["failed USE", other, "USE no_such_schema"],
    ["after a failed USE: the schema is still sbtest", other, "SELECT * FROM passtrix.ptrx_passwords"],
    ["USE in an executable comment", other, "/*!32302 USE passtrix */"],
    ["after USE in a comment", other, "SELECT encrypted_password FROM ptrx_passwords"],
    ["multi-statement: USE, then a statement fails", third, "USE passtrix; SELECT * FROM no_such_table"],
    ["after it (the USE ran)", third, "SELECT encrypted_password FROM ptrx_passwords"],
  ];
  const leaks: string[] = [];
  const table: string[] = [];
  for (const [name, conn, sql, params] of cases) {
    const before = auditEvents();
    let rows = 0;
    let outcome: string;
    try {
      const [r] = params ? await conn.execute(sql, params) : await conn.query(sql);
      rows = Array.isArray(r) ? r.length : 0;
      outcome = "ran";
    } catch (e) {
      outcome = `ERR ${(e as { errno?: number }).errno}`;
    }
    const audited = auditEvents() > before;
    table.push(`  ${outcome.padEnd(8)} ${audited ? "audited" : "-      "} rows=${rows}  ${name}: ${sql}`);
    // A statement that ran and returned rows from the secondary must have been audited.
    if (
      outcome === "ran" &&
      rows > 0 &&
      !audited &&
      !/HANDLER (OPEN|CLOSE)|failed USE|^SELECT 1$/.test(name + sql)
    )
      leaks.push(`${name}: ${sql}`);
  }
  console.log(`audit through the guarded secondary:\n${table.join("\n")}`);
  await c.end();
  await other.end();
  await third.end();
  assert.equal(leaks, [], "every retrieval that returned rows was audited");
});

test("the monitor sees no GTIDs of the secondary's own", async () => {
  const s = px.proxy.topology.snapshot();
  const rep = s.secondary.replication;
  assert.ok(rep, "the secondary reports replication");
  assert.equal(rep?.localGtids, [], "no local GTIDs on the secondary");
});

test("primary back (read_write): HANDLER READ through a handle on an audited table is audited; a closed handle is forgotten", async () => {
  await pair.lab.start("primary");
  await px.proxy.topology.waitFor("read_write", 30_000);
  const c = await px.connect();
  try {
    await c.query("HANDLER ptrx_passwords OPEN AS hp");
    let before = auditEvents();
    const [rows] = await c.query("HANDLER hp READ FIRST");
    assert.is((rows as unknown[]).length, 1, "the handle read a row");
    assert.ok(auditEvents() > before, "HANDLER hp READ on the audited table was audited");
    // A handle on a table no rule names: reading it is not a retrieval.
    await c.query("HANDLER guard_t OPEN AS hg");
    before = auditEvents();
    await c.query("HANDLER hg READ FIRST");
    assert.is(auditEvents(), before, "a handle on guard_t is not audited");
    await c.query("HANDLER hp CLOSE");
    await c.query("HANDLER hg CLOSE");
  } finally {
    await c.end();
  }
});

test("audit.unresolved = refuse: dynamic SQL is refused with 1142 and a refused event; a routine the catalog resolves is audited by name", async () => {
  const [listen, admin] = await freePorts(2, "127.0.0.1");
  const px2 = await startProxy(
    pair,
    pair.proxyConfig({
      monitor,
      listen: { port: listen },
      admin: { port: admin },
      audit: { rules: AUDIT_RULES, unresolved: "refuse", journalDir: join(pair.dir, "audit-refuse") },
    }),
  );
  const c = await px2.connect();
  try {
    const refused = await c
      .query("EXECUTE IMMEDIATE 'SELECT encrypted_password FROM ptrx_passwords'")
      .catch((e) => e);
    assert.is(refused.errno, 1142, String(refused.message));
    assert.match(refused.message, /audit\.unresolved = refuse/);
    await new Promise((r) => setTimeout(r, 100)); // refused events are posted, not awaited
    const counts = px2.proxy.audit!.counts();
    assert.ok((counts.unresolved_access ?? 0) + (counts.password_retrieval ?? 0) > 0, JSON.stringify(counts));
    // The server's catalog shows guard_secret reading the audited table (issue 19): it is audited
    // by its name and runs, not refused as unresolved.
    const m = px2.proxy.audit!.matchStatement("SELECT guard_secret(1)", "passtrix");
    assert.equal([m?.object, m?.unresolved, m?.refuse], ["passtrix.guard_secret", undefined, undefined]);
    const [fn] = await c.query("SELECT guard_secret(1) AS s");
    assert.is((fn as unknown[]).length, 1);
    // A plain retrieval still runs (audited).
    const [rows] = await c.query("SELECT encrypted_password FROM ptrx_passwords WHERE account_id = 1");
    assert.is((rows as unknown[]).length, 1);
  } finally {
    await c.end();
    await px2.stop();
  }
});

test.run();
