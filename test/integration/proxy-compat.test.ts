/**
 * Compatibility through pairgate against the real pair: the `mariadb` npm connector, the `mariadb`
 * command-line client (plain and --ssl), mysql2 over TLS, caching_sha2_password (full
 * authentication over TLS, then the fast path), sysbench oltp_read_write in both prepared-statement
 * modes, and the commands no driver here sends (cursors with COM_STMT_FETCH, COM_FIELD_LIST,
 * COM_STATISTICS, unknown command bytes) over a raw socket.
 */
import { execFile } from "node:child_process";
import { readFileSync } from "node:fs";
import type { TLSSocket } from "node:tls";
import { promisify } from "node:util";
import * as mariadb from "mariadb";
import mysqlCb from "mysql2";
import type { Connection, ConnectionOptions } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { tlsFiles } from "../../src/lab/tls.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePort } from "../helpers/ports.js";
import { appUserOptions, type RunningProxy, startProxy } from "../helpers/proxy.js";
import {
  CAP,
  comExecute,
  comFetch,
  comFieldList,
  comPrepare,
  comQuery,
  comStmtClose,
  DEFAULT_CAPS,
  errOf,
  isErr,
  parseErr,
  RawConnection,
  RawServerError,
  rawLogin,
  readPrepareOk,
  SERVER_STATUS_CURSOR_EXISTS,
  SERVER_STATUS_LAST_ROW_SENT,
  sha2Token,
  sslRequest,
  textRow,
} from "../helpers/raw-client.js";

const run = promisify(execFile);

let pair: TestPair;
let px: RunningProxy;
const extra: RunningProxy[] = [];

test.before(async () => {
  pair = await startPair();
  px = await startProxy(pair, pair.proxyConfig());
});

test.after(async () => {
  for (const p of extra) await p.stop().catch(() => {});
  await px?.stop();
  await pair?.stop();
});

/** Another pairgate on the same pair, on its own port, with `overrides` (stopped in test.after). */
async function anotherProxy(overrides: Record<string, unknown>): Promise<RunningProxy> {
  const port = await freePort();
  const p = await startProxy(
    pair,
    pair.proxyConfig({
      ...overrides,
      listen: { port, ...((overrides.listen as object) ?? {}) },
      audit: { journalDir: `${pair.dir}/audit-${port}` },
    }),
    `${pair.dir}/proxy-${port}.config.json`,
  );
  extra.push(p);
  return p;
}

let tlsProxy: RunningProxy | null = null;

/** A pairgate with listen.tls (not required), shared by the TLS tests. */
async function tlsPairgate(): Promise<RunningProxy> {
  tlsProxy ??= await anotherProxy({ listen: tlsListen(false) });
  return tlsProxy;
}

function tlsListen(require = false) {
  const t = tlsFiles(pair.lab.tlsDir);
  return { tls: { cert: t.cert, key: t.key, require } };
}

function mariadbOptions(port: number): mariadb.ConnectionConfig {
  return {
    host: "127.0.0.1",
    port,
    user: pair.appUser.username,
    password: pair.appUser.password,
    database: "passtrix",
  };
}

function cli(port: number, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(
    "/usr/bin/mariadb",
    [
      "--no-defaults",
      "-h127.0.0.1",
      `-P${port}`,
      `-u${pair.appUser.username}`,
      `-p${pair.appUser.password}`,
      "--connect-timeout=10",
      ...args,
    ],
    { timeout: 30_000 },
  );
}

// ---------------------------------------------------------------- the mariadb npm connector

test("mariadb connector: text query, prepared execute, batch and a pool", async () => {
  const conn = await mariadb.createConnection(mariadbOptions(px.port));
  try {
    const rows = await conn.query("SELECT @@server_id AS id, ? AS echo, 1 + 1 AS two", ["hé"]);
    assert.is(rows.length, 1);
    assert.is(rows[0].echo, "hé");
    assert.is(Number(rows[0].two), 2);

    const direct = await pair.connect("primary");
    const [[primaryId]] = (await direct.query("SELECT @@server_id AS id")) as unknown as [{ id: number }[]];
    await direct.end();
    assert.is(Number(rows[0].id), primaryId.id, "the query ran on the primary");

    const res = await conn.execute("SELECT id, name FROM ptrx_resources WHERE id = ?", [2]);
    assert.is(res.length, 1);
    assert.is(Number(res[0].id), 2);
    const again = await conn.execute("SELECT id, name FROM ptrx_resources WHERE id = ?", [3]);
    assert.is(Number(again[0].id), 3, "the cached prepared statement is reused");

    await conn.query("CREATE TABLE IF NOT EXISTS compat_batch (id INT PRIMARY KEY, v VARCHAR(32))");
    await conn.query("DELETE FROM compat_batch");
    const batch = await conn.batch(
      "INSERT INTO compat_batch (id, v) VALUES (?, ?)",
      Array.from({ length: 50 }, (_, i) => [i + 1, `v${i + 1}`]),
    );
    const affected = Array.isArray(batch)
      ? batch.reduce((n: number, r: { affectedRows: number }) => n + Number(r.affectedRows), 0)
      : Number((batch as { affectedRows: number }).affectedRows);
    assert.is(affected, 50);
    const [count] = await conn.query("SELECT COUNT(*) AS n, SUM(id) AS s FROM compat_batch");
    assert.is(Number(count.n), 50);
    assert.is(Number(count.s), (50 * 51) / 2);

    // A transaction and an error the session survives.
    await conn.beginTransaction();
    await conn.query("INSERT INTO compat_batch VALUES (1000, 'rolled back')");
    await conn.rollback();
    const err = await conn.query("SELECT * FROM no_such_table").catch((e) => e);
    assert.is(err.errno, 1146);
    const [gone] = await conn.query("SELECT COUNT(*) AS n FROM compat_batch WHERE id = 1000");
    assert.is(Number(gone.n), 0);
  } finally {
    await conn.end();
  }

  const pool = mariadb.createPool({ ...mariadbOptions(px.port), connectionLimit: 6 });
  try {
    const results = await Promise.all(
      Array.from({ length: 60 }, (_, i) => pool.query("SELECT ? AS i, CONNECTION_ID() AS c", [i])),
    );
    for (const [i, r] of results.entries()) assert.is(Number(r[0].i), i);
    const backends = new Set(results.map((r) => Number(r[0].c)));
    assert.ok(backends.size > 1, "the pool used several sessions");
    const ex = await Promise.all(
      Array.from({ length: 20 }, (_, i) => pool.execute("SELECT ? * 2 AS d", [i])),
    );
    for (const [i, r] of ex.entries()) assert.is(Number(r[0].d), i * 2);
  } finally {
    await pool.end();
  }
});

// ---------------------------------------------------------------- the mariadb command-line client

test("mariadb command-line client: -e with several statements, and an error exit", async () => {
  const { stdout } = await cli(px.port, [
    "passtrix",
    "--batch",
    "-e",
    "SELECT 'hello' AS greeting; SELECT COUNT(*) AS n FROM ptrx_resources WHERE id <= 3",
  ]);
  assert.equal(stdout.trim().split("\n"), ["greeting", "hello", "n", "3"]);
  const bad = await cli(px.port, ["passtrix", "-e", "SELECT * FROM nope"]).catch((e) => e);
  assert.is(bad.code, 1);
  assert.match(bad.stderr, /ERROR 1146 \(42S02\).*nope/);
});

test("mariadb command-line client with --ssl against listen.tls; require refuses a plain client", async () => {
  const t = tlsFiles(pair.lab.tlsDir);
  const tlsPx = await tlsPairgate();
  const { stdout } = await cli(tlsPx.port, [
    "passtrix",
    "--ssl",
    `--ssl-ca=${t.ca}`,
    "--ssl-verify-server-cert",
    "-e",
    "status; SELECT 40 + 2 AS answer",
  ]);
  assert.match(stdout, /SSL:\s+Cipher in use is \S+/, stdout);
  assert.match(stdout, /answer\s*\n\s*42/);
  // The same pairgate still accepts a plain client when TLS is not required.
  const plain = await cli(tlsPx.port, ["--skip-ssl", "-e", "status"]);
  assert.match(plain.stdout, /SSL:\s+Not in use/);

  const strict = await anotherProxy({ listen: tlsListen(true) });
  const refused = await cli(strict.port, ["--skip-ssl", "-e", "SELECT 1"]).catch((e) => e);
  assert.is(refused.code, 1, "a plain client is refused");
  assert.match(refused.stderr, /ERROR 3159 \(HY000\).*insecure transport.*TLS/);
  const ok = await cli(strict.port, ["--ssl", `--ssl-ca=${t.ca}`, "--batch", "-e", "SELECT 7 AS seven"]);
  assert.equal(ok.stdout.trim().split("\n"), ["seven", "7"]);
});

// ---------------------------------------------------------------- mysql2 over TLS, caching_sha2

interface Observed {
  conn: Connection;
  /** The second byte of every AuthMoreData packet seen during login (0x03 fast, 0x04 full auth). */
  authMoreData: number[];
  encrypted: boolean;
}

/** A mysql2 connection whose login packets are watched (the promise API hides them). */
function observedMysql2(port: number, options: ConnectionOptions): Promise<Observed> {
  return new Promise((resolve, reject) => {
    const authMoreData: number[] = [];
    const c = mysqlCb.createConnection(appUserOptions(pair, port, options));
    const raw = c as unknown as {
      handlePacket(p?: { buffer: Buffer; start: number; end: number }): void;
      stream: TLSSocket;
    };
    const original = raw.handlePacket.bind(c);
    raw.handlePacket = (p) => {
      if (p && p.end - p.start >= 6 && p.buffer[p.start + 4] === 0x01)
        authMoreData.push(p.buffer[p.start + 5]);
      original(p);
    };
    c.once("error", reject);
    c.connect((err) => {
      if (err) reject(err);
      else resolve({ conn: c.promise(), authMoreData, encrypted: raw.stream.encrypted === true });
    });
  });
}

test("mysql2 over TLS (ssl.ca): queries and prepared statements on an encrypted session", async () => {
  const tlsPx = await tlsPairgate();
  const ca = readFileSync(pair.caFile);
  const o = await observedMysql2(tlsPx.port, { ssl: { ca } });
  try {
    assert.ok(o.encrypted, "the client hop is TLS");
    const [rows] = await o.conn.query("SELECT 'over tls' AS s");
    assert.equal(rows, [{ s: "over tls" }]);
    const [ex] = await o.conn.execute("SELECT id FROM ptrx_resources WHERE id = ?", [1]);
    assert.equal(ex, [{ id: 1 }]);
    const big = "y".repeat(3 * 1024 * 1024);
    const [[echo]] = (await o.conn.query("SELECT LENGTH(?) AS n", [big])) as unknown as [{ n: number }[]];
    assert.is(echo.n, big.length, "a 3 MiB parameter crosses the TLS hop");
  } finally {
    await o.conn.end();
  }
});

test("bytes that are no login after the TLS upgrade: ERR 1043 with sequence id 3 (the SSLRequest was 1)", async () => {
  const tlsPx = await tlsPairgate();
  const c = await RawConnection.connect(tlsPx.port);
  try {
    await c.readGreeting();
    c.send(1, sslRequest(DEFAULT_CAPS | CAP.SSL));
    await (c as unknown as { upgrade(ca: Buffer): Promise<void> }).upgrade(readFileSync(pair.caFile));
    // A header announcing 100 KiB: over the login limit, refused before any handshake decoding.
    c.write(Buffer.from([0x00, 0x90, 0x01, 2]));
    const err = await c.read(5000);
    assert.ok(isErr(err), "an ERR");
    assert.is(parseErr(err).code, 1043, "ER_HANDSHAKE_ERROR");
    assert.is(err.seq, 3, "after the client's packets 1 (SSLRequest) and 2");
  } finally {
    c.close();
  }
});

test("listen.authPlugin caching_sha2_password: fast path in plain, full auth over TLS once, then fast", async () => {
  // The caching_sha2 exchange is served for users of the config's `users` (an account read from
  // the servers is switched to its native plugin: test/integration/accounts.test.ts).
  const sha2 = await anotherProxy({
    listen: { ...tlsListen(false), authPlugin: "caching_sha2_password" },
    users: [{ username: pair.appUser.username, password: pair.appUser.password }],
  });
  const ca = readFileSync(pair.caFile);

  const plain = await observedMysql2(sha2.port, {});
  assert.not.ok(plain.encrypted);
  assert.equal(plain.authMoreData, [0x03], "without TLS: fast authentication success");
  const [p] = await plain.conn.query("SELECT 'plain sha2' AS s");
  assert.equal(p, [{ s: "plain sha2" }]);
  await plain.conn.end();

  const first = await observedMysql2(sha2.port, { ssl: { ca } });
  assert.ok(first.encrypted);
  assert.equal(first.authMoreData, [0x04], "first login over TLS: perform full authentication");
  const [f] = await first.conn.query("SELECT 'first' AS s");
  assert.equal(f, [{ s: "first" }]);
  await first.conn.end();

  const second = await observedMysql2(sha2.port, { ssl: { ca } });
  assert.equal(second.authMoreData, [0x03], "second login over TLS: the fast path");
  const [s] = await second.conn.query("SELECT 'second' AS s");
  assert.equal(s, [{ s: "second" }]);
  await second.conn.end();

  const wrong = await observedMysql2(sha2.port, { ssl: { ca }, password: "nope" }).catch((e) => e);
  assert.is(wrong.errno, 1045);
  assert.is(wrong.sqlState, "28000");

  // COM_CHANGE_USER asks for the login's plugin too (one authentication routine for both).
  const { username, password } = pair.appUser;
  const raw = await rawLogin(sha2.port, { user: username, password, plugin: "caching_sha2_password" });
  try {
    const changeUser = Buffer.concat([
      Buffer.from([0x11]),
      Buffer.from(`${username}\0`),
      Buffer.from([0]), // no auth data: pairgate asks afresh anyway
      Buffer.from("passtrix\0"),
      Buffer.from([45, 0]),
      Buffer.from("mysql_native_password\0"),
    ]);
    raw.send(0, changeUser);
    const sw = await raw.read();
    assert.is(sw.payload[0], 0xfe, "an auth switch request");
    const nul = sw.payload.indexOf(0, 1);
    assert.is(sw.payload.toString("latin1", 1, nul), "caching_sha2_password", "listen.authPlugin");
    const scramble = sw.payload.subarray(nul + 1, sw.payload.length - 1);
    raw.send(sw.seq + 1, sha2Token(password, scramble));
    const fast = await raw.read();
    assert.equal([...fast.payload], [0x01, 0x03], "fast authentication success, as at login without TLS");
    const ok = await raw.read();
    assert.is(ok.payload[0], 0x00, "then OK");
    assert.is(ok.seq, fast.seq + 1);
    const db = await raw.query(comQuery("SELECT DATABASE()"));
    assert.equal(textRow(db.rows[0]), ["passtrix"], "the new login's schema");
  } finally {
    raw.close();
  }
});

// ---------------------------------------------------------------- sysbench

function sysbench(mode: string, ...args: string[]): Promise<{ stdout: string; stderr: string }> {
  return run(
    "sysbench",
    [
      "oltp_read_write",
      "--mysql-host=127.0.0.1",
      `--mysql-port=${px.port}`,
      `--mysql-user=${pair.appUser.username}`,
      `--mysql-password=${pair.appUser.password}`,
      "--mysql-db=sbtest",
      "--tables=2",
      "--table-size=1000",
      ...args,
      mode,
    ],
    { timeout: 120_000, maxBuffer: 16 * 1024 * 1024 },
  );
}

async function deadlocks(): Promise<number> {
  const root = await pair.rootConnection("primary");
  try {
    const [rows] = await root.query("SHOW GLOBAL STATUS LIKE 'Innodb_deadlocks'");
    return Number((rows as { Value: string }[])[0].Value);
  } finally {
    await root.end();
  }
}

test("sysbench oltp_read_write through pairgate with --db-ps-mode=auto and disable: zero errors", async () => {
  await sysbench("prepare");
  try {
    for (const ps of ["auto", "disable"]) {
      // sysbench stops with an error exit on any error except deadlocks (1213, 1020, 1205), which it
      // retries and counts as "ignored errors": those must all be the server's own deadlocks.
      const before = await deadlocks();
      const { stdout } = await sysbench("run", "--threads=4", "--time=4", `--db-ps-mode=${ps}`);
      const serverDeadlocks = (await deadlocks()) - before;
      const ignored = /^\s*ignored errors:\s+(\d+)/m.exec(stdout);
      const reconnects = /^\s*reconnects:\s+(\d+)/m.exec(stdout);
      const transactions = /^\s*transactions:\s+(\d+)/m.exec(stdout);
      assert.ok(ignored && reconnects && transactions, `sysbench output not understood:\n${stdout}`);
      assert.ok(
        Number(ignored[1]) <= serverDeadlocks,
        `--db-ps-mode=${ps}: ${ignored[1]} errors, of which only ${serverDeadlocks} were the server's deadlocks:\n${stdout}`,
      );
      assert.is(Number(reconnects[1]), 0, `reconnects with --db-ps-mode=${ps}`);
      assert.ok(Number(transactions[1]) > 20, `few transactions with --db-ps-mode=${ps}:\n${stdout}`);
    }
  } finally {
    await sysbench("cleanup");
  }
});

// ---------------------------------------------------------------- raw commands

function login(capabilities = DEFAULT_CAPS): Promise<RawConnection> {
  return rawLogin(px.port, {
    user: pair.appUser.username,
    password: pair.appUser.password,
    database: "passtrix",
    capabilities,
  });
}

async function selectOne(c: RawConnection, sql: string): Promise<(string | null)[][]> {
  const r = await c.query(comQuery(sql));
  return r.rows.map(textRow);
}

for (const [label, caps] of [
  ["classic EOF", DEFAULT_CAPS],
  ["CLIENT_DEPRECATE_EOF", DEFAULT_CAPS | CAP.DEPRECATE_EOF],
] as const) {
  test(`COM_STMT_EXECUTE with a read-only cursor, then COM_STMT_FETCH (${label})`, async () => {
    const c = await login(caps);
    try {
      const prep = await readPrepareOk(c, await c.command(comPrepare("SELECT seq FROM seq_1_to_10")));
      assert.is(prep.columns, 1);
      const opened = await c.query(comExecute(prep.statementId, 0x01));
      assert.is(opened.columns, 1);
      assert.ok(opened.cursor, "the server opened a cursor (no rows until FETCH)");
      assert.ok(opened.status & SERVER_STATUS_CURSOR_EXISTS);
      const seen: number[] = [];
      let last = 0;
      for (let i = 0; i < 10 && !(last & SERVER_STATUS_LAST_ROW_SENT); i++) {
        c.send(0, comFetch(prep.statementId, 4));
        const r = await c.readRows();
        // Binary rows: 0x00, NULL bitmap (1 byte for one column), then a LONGLONG.
        for (const row of r.rows) seen.push(Number(row.readBigUInt64LE(2)));
        last = r.status;
      }
      assert.equal(seen, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      assert.ok(last & SERVER_STATUS_LAST_ROW_SENT, "the last fetch says the cursor is exhausted");
      // Fetching from a statement pairgate does not know is an ERR, not a hang.
      c.send(0, comFetch(prep.statementId + 1000, 1));
      const unknown = await c.read();
      assert.ok(isErr(unknown));
      assert.is(errOf(unknown).code, 1243);
      c.send(0, comStmtClose(prep.statementId));
      assert.equal(await selectOne(c, "SELECT 'after cursor' AS s"), [["after cursor"]]);
    } finally {
      c.close();
    }
  });
}

test("COM_FIELD_LIST and COM_STATISTICS", async () => {
  const c = await login();
  try {
    c.send(0, comFieldList("ptrx_resources"));
    const defs: Buffer[] = [];
    for (;;) {
      const p = await c.read();
      assert.not.ok(isErr(p), isErr(p) ? errOf(p).message : "");
      if (p.payload[0] === 0xfe && p.payload.length < 9) break;
      defs.push(p.payload);
    }
    assert.ok(defs.length >= 2, "column definitions of ptrx_resources");
    assert.ok(
      defs.some((d) => d.includes(Buffer.from("name"))),
      "the name column is listed",
    );
    const missing = await c.command(comFieldList("no_such_table"));
    assert.ok(isErr(missing));
    assert.is(errOf(missing).code, 1146);

    const stats = await c.command(Buffer.from([0x09]));
    assert.match(stats.payload.toString(), /^Uptime: \d+\s+Threads: \d+/);
    assert.equal(await selectOne(c, "SELECT 'still here' AS s"), [["still here"]]);
  } finally {
    c.close();
  }
});

test("an unknown command byte gets an ERR (never a hang) and the session keeps working", async () => {
  const c = await login();
  try {
    // (0x0c, COM_PROCESS_KILL, is answered by pairgate since issue 20: test/integration/kill.test.ts.)
    for (const byte of [0x1d, 0xee, 0x08, 0x12, 0xfa, 0x00, 0x0b]) {
      const p = await c.command(Buffer.from([byte, 1, 2, 3]), 5000);
      assert.ok(isErr(p), `command 0x${byte.toString(16)} answered with an ERR`);
      const e = errOf(p);
      assert.is(e.code, 1047, e.message);
      assert.is(p.seq, 1);
      assert.equal(await selectOne(c, `SELECT ${byte} AS b`), [[String(byte)]]);
    }
    // An empty command packet is an ERR too.
    const empty = await c.command(Buffer.alloc(0), 5000);
    assert.ok(isErr(empty));
    assert.equal(await selectOne(c, "SELECT 'alive' AS s"), [["alive"]]);
  } finally {
    c.close();
  }
});

test("a SQL error through the raw client is relayed with its code and SQLSTATE", async () => {
  const c = await login();
  try {
    const e = await c.query(comQuery("SELEC 1")).catch((x) => x);
    assert.instance(e, RawServerError);
    assert.is(e.code, 1064);
    assert.is(e.sqlState, "42000");
  } finally {
    c.close();
  }
});

test.run();
