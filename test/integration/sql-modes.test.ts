/**
 * pairgate's own SQL under every sql_mode a client can set (issue 19 follow-up): the probe,
 * session tracking, the user-variable read-back, the replay at a move and the re-prepare after a
 * failover all run inside the client's session, under its sql_mode. For each flag MariaDB 10.11
 * accepts (the list is checked against the server: every bit of @@sql_mode), one session sets it
 * and then: SELECT 1, a prepared statement, a move to a new backend connection (the old one timed
 * out: the state is replayed), a failover to the secondary (the statement prepared under another
 * sql_mode is re-prepared there) — the session keeps answering, keeps its sql_mode and user
 * variable, and the secondary's read-only guard holds (a write through a stored function is refused,
 * nothing changes there).
 *
 * Before the fix, `SET SESSION sql_mode='ORACLE'` (or MSSQL) hung the session: the dialect the
 * server reported is "unsure" for pairgate's reader (those modes change the grammar), and the
 * session read it back before every statement, forever (no statement was ever relayed).
 */
import { join } from "node:path";
import type { Connection, PrepareStatementInfo } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseSqlMode } from "../../src/sql/dialect.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { onRoot, q, waitReplicated } from "../helpers/sql.js";

/** Every sql_mode flag of MariaDB 10.11, in bit order (checked against the server below). */
const MODES = [
  "REAL_AS_FLOAT",
  "PIPES_AS_CONCAT",
  "ANSI_QUOTES",
  "IGNORE_SPACE",
  "IGNORE_BAD_TABLE_OPTIONS",
  "ONLY_FULL_GROUP_BY",
  "NO_UNSIGNED_SUBTRACTION",
  "NO_DIR_IN_CREATE",
  "POSTGRESQL",
  "ORACLE",
  "MSSQL",
  "DB2",
  "MAXDB",
  "NO_KEY_OPTIONS",
  "NO_TABLE_OPTIONS",
  "NO_FIELD_OPTIONS",
  "MYSQL323",
  "MYSQL40",
  "ANSI",
  "NO_AUTO_VALUE_ON_ZERO",
  "NO_BACKSLASH_ESCAPES",
  "STRICT_TRANS_TABLES",
  "STRICT_ALL_TABLES",
  "NO_ZERO_IN_DATE",
  "NO_ZERO_DATE",
  "ALLOW_INVALID_DATES",
  "ERROR_FOR_DIVISION_BY_ZERO",
  "TRADITIONAL",
  "NO_AUTO_CREATE_USER",
  "HIGH_NOT_PRECEDENCE",
  "NO_ENGINE_SUBSTITUTION",
  "PAD_CHAR_TO_FULL_LENGTH",
  "EMPTY_STRING_IS_NULL",
  "SIMULTANEOUS_ASSIGNMENT",
  "TIME_ROUND_FRACTIONAL",
];

const monitor = { intervalMs: 100, connectTimeoutMs: 300, queryTimeoutMs: 300, fall: 2, rise: 2 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

let pair: TestPair;
let px: RunningProxy;
let secondaryServerId = 0;

interface ModeSession {
  mode: string;
  /** @@session.sql_mode as the server expands the flag. */
  expanded: string;
  c: Connection;
  /** Prepared under sql_mode '' (before the flag was set), and under the flag. */
  before: PrepareStatementInfo;
  under: PrepareStatementInfo;
}
const sessions: ModeSession[] = [];

/** A statement that gets no answer fails the test instead of hanging it. */
function answered<T>(what: string, p: Promise<T>, ms = 10_000): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.catch((e: Error) => {
      e.message = `${what}: ${e.message}`;
      throw e;
    }),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

async function one(s: ModeSession, sql: string): Promise<Record<string, unknown>> {
  const [rows] = await answered(`[${s.mode}] ${sql}`, s.c.query(sql));
  return (rows as Record<string, unknown>[])[0];
}

/**
 * The session answers, keeps its sql_mode and user variable, and both prepared statements run.
 * On the secondary, under a flag whose grammar pairgate does not read (ORACLE, MSSQL: the dialect is
 * unsure), no statement read under it can be proven a read: it is refused with pairgate's 1290 —
 * an answer, on a session that stays open — while the statement prepared under '' still runs.
 */
async function works(s: ModeSession, where: string, secondary = false): Promise<void> {
  const label = `[${s.mode}] ${where}`;
  if (secondary && parseSqlMode(s.expanded).unsure) {
    for (const run of [() => s.c.query("SELECT 1 AS one"), () => s.under.execute([7])])
      await answered(label, run()).then(
        () => assert.unreachable(`${label}: a statement read under an unsure dialect ran on the secondary`),
        (e: { errno?: number }) => assert.is(e.errno, 1290, `${label}: refused with pairgate's 1290 (${e})`),
      );
    const [rows] = await answered(`${label} prepared before`, s.before.execute([7]));
    assert.equal(
      (rows as Record<string, unknown>[]).map((x) => Number(x.x)),
      [7],
      `${label}: the statement prepared under '' runs`,
    );
    return;
  }
  assert.equal(await one(s, "SELECT 1 AS one"), { one: 1 }, `${label}: SELECT 1`);
  const r = await one(s, "SELECT @@session.sql_mode AS m, HEX(@u) AS u, @n IS NULL AS n");
  assert.equal(
    r,
    { m: s.expanded, u: Buffer.from("V'\\").toString("hex").toUpperCase(), n: 1 },
    `${label}: sql_mode and user variables kept`,
  );
  for (const [name, stmt] of [
    ["prepared before", s.before],
    ["prepared under", s.under],
  ] as const) {
    const [rows] = await answered(`${label} ${name}`, stmt.execute([7]));
    assert.equal(
      (rows as Record<string, unknown>[]).map((x) => Number(x.x)),
      [7],
      `${label}: statement ${name} the flag`,
    );
  }
  if (!secondary) return;
  const g = await one(s, "SELECT @@server_id AS id, @@session.tx_read_only AS ro");
  assert.equal(g, { id: secondaryServerId, ro: 1 }, `${label}: on the secondary, guarded`);
}

async function secondaryState(): Promise<{ rows: number; own: string[]; readOnly: number }> {
  return onRoot(pair, "secondary", async (c) => {
    const [r] = await q(c, "SELECT COUNT(*) AS n FROM passtrix.modes_log");
    const [g] = await q(c, "SELECT @@global.read_only AS ro, @@global.gtid_binlog_pos AS b");
    const own = String(g.b)
      .split(",")
      .filter((x) => x.trim() && x.trim().split("-")[1] === String(secondaryServerId));
    return { rows: Number(r.n), own, readOnly: Number(g.ro) };
  });
}

test.before(async () => {
  pair = await startPair();
  await onRoot(pair, "primary", async (root) => {
    await root.query(`GRANT SUPER, READ_ONLY ADMIN ON *.* TO ${root.escape(pair.appUser.username)}@'%'`);
    await root.query("CREATE TABLE passtrix.modes_log (id INT AUTO_INCREMENT PRIMARY KEY, v VARCHAR(40))");
    await root.query(
      "CREATE FUNCTION passtrix.modes_write() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN INSERT INTO passtrix.modes_log (v) VALUES ('pwned'); RETURN 0; END",
    );
  });
  await waitReplicated(pair, 20);
  await onRoot(pair, "secondary", async (c) => {
    const [r] = await q(c, "SELECT @@server_id AS id");
    secondaryServerId = Number(r.id);
  });
  px = await startProxy(
    pair,
    pair.proxyConfig({
      monitor,
      audit: {
        rules: [{ operation: "password_retrieval", tables: ["passtrix.ptrx_passwords"] }],
        journalDir: join(pair.dir, "audit-modes"),
      },
    }),
  );
});

test.after(async () => {
  for (const s of sessions) await s.c.end().catch(() => {});
  await px?.stop();
  await pair?.stop();
});

test("the list is every flag the server accepts", async () => {
  await onRoot(pair, "primary", async (c) => {
    // The flags in bit order: each bit of the value the server accepts, and not one more.
    const all = (1n << BigInt(MODES.length)) - 1n;
    await c.query(`SET SESSION sql_mode = ${all}`);
    const [r] = await q(c, "SELECT @@session.sql_mode AS m");
    assert.equal(String(r.m).split(","), MODES, "the server's flags are the list");
    let refused = false;
    await c.query(`SET SESSION sql_mode = ${all + 1n}`).catch(() => {
      refused = true;
    });
    assert.ok(refused, "no flag beyond the list");
  });
});

test("read_write: each flag set in a session; SELECT 1, prepared statements, a move with replay", async () => {
  for (const mode of MODES) {
    const c = await px.connect();
    c.on("error", () => {}); // a session pairgate closes fails its assertions, not the process
    await c.query("SET SESSION sql_mode = ''");
    const before = await c.prepare("SELECT ? AS x, 'a' AS s");
    await answered(`[${mode}] SET`, c.query(`SET SESSION sql_mode = '${mode}'`));
    // A string with a quote and a backslash, and a NULL: read back and replayed under the flag.
    await answered(`[${mode}] SET @u`, c.query("SET @u = X'56275C', @n = NULL"));
    await answered(`[${mode}] SET @u charset`, c.query("SET @u = CONVERT(@u USING utf8mb4)"));
    const under = await answered(`[${mode}] prepare`, c.prepare("SELECT ? AS x"));
    const [[m]] = (await c.query("SELECT @@session.sql_mode AS m")) as unknown as [{ m: string }[]];
    const s: ModeSession = { mode, expanded: m.m, c, before, under };
    sessions.push(s);
    await works(s, "read_write");
  }
  // A move: every backend connection times out while idle; the next statement opens a new one and
  // replays the session state (sql_mode, wait_timeout, user variables) under the flag.
  for (const s of sessions) await one(s, "SET SESSION wait_timeout = 2");
  await sleep(3500);
  for (const s of sessions) {
    await one(s, "SET SESSION wait_timeout = 28800");
    await works(s, "after a move");
  }
});

test("SET @@sql_mode without a scope (the server reports nothing) is read back: audited in its quotes, carried at a move", async () => {
  const c = await px.connect({ database: "passtrix" });
  try {
    const events = () => px.proxy.audit?.counts().password_retrieval ?? 0;
    for (const set of [
      "SET @@sql_mode = 'ANSI'",
      "SET \x0c @@sql_mode = 'ORACLE'",
      "SET @@local.sql_mode = 'ANSI_QUOTES'",
    ]) {
      await answered(set, c.query(set));
      const before = events();
      // In ANSI quotes these are identifiers: a read of the audited table.
      const [rows] = await answered(set, c.query('SELECT "encrypted_password" FROM "ptrx_passwords"'));
      assert.ok((rows as unknown[]).length > 0, `${set}: the rows were read`);
      assert.is(events(), before + 1, `${set}: the read has its audit event`);
    }
    await c.query("SET SESSION wait_timeout = 2");
    await sleep(3500);
    await c.query("SET @@wait_timeout = 28800");
    const [[m]] = (await c.query(
      "SELECT @@session.sql_mode AS m, @@session.wait_timeout AS w",
    )) as unknown as [{ m: string; w: number }[]];
    assert.equal(
      { ...m },
      { m: "ANSI_QUOTES", w: 28800 },
      "the mode set without a scope was carried at the move",
    );
  } finally {
    await c.end().catch(() => {});
  }
});

test("failover: each session works on the secondary under its flag, and the guard holds", async () => {
  const before = await secondaryState();
  await pair.lab.kill("primary");
  await px.proxy.topology.waitFor("read_only", 15_000);
  for (const s of sessions) {
    await works(s, "after the failover", true);
    for (const sql of ["SELECT modes_write()", "SET SESSION TRANSACTION READ WRITE"]) {
      await answered(`[${s.mode}] ${sql}`, s.c.query(sql)).catch(() => {}); // refused or harmless
    }
    await answered(`[${s.mode}] write`, s.c.query("SELECT modes_write()")).then(
      () => assert.unreachable(`[${s.mode}] a write through a function ran on the secondary`),
      (e: { errno?: number }) => assert.ok(e.errno !== undefined, `[${s.mode}] refused: ${e}`),
    );
  }
  assert.equal(await secondaryState(), before, "nothing written on the secondary, no GTID of its own");
  assert.is(before.readOnly, 1);
  assert.equal(before.own, []);
});

test.run();
