/**
 * The proxy core against a real pair: mysql2 (text, prepared, pool, multi-statements, TLS),
 * authentication, session state, LOCAL INFILE and packets of 16 MiB and more.
 */
import { Readable } from "node:stream";
import mysql from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { Config } from "../../src/config/load.js";
import { readsThroughChannel } from "../../src/net/read-channel.js";
import { directWriteCount } from "../../src/net/write-channel.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePort } from "../helpers/ports.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { comQuery, isErr, parseErr, RawConnection, rawLogin, textRow } from "../helpers/raw-client.js";

let pair: TestPair;
let px: RunningProxy;

test.before(async () => {
  pair = await startPair();
  px = await startProxy(pair, pair.proxyConfig());
});

test.after(async () => {
  await px?.stop();
  await pair?.stop();
});

test("a text query through pairgate returns the primary's rows", async () => {
  const c = await px.connect();
  try {
    const [rows] = await c.query("SELECT @@server_id AS id, COUNT(*) AS n FROM ptrx_resources");
    const direct = await pair.connect("primary");
    const [drows] = await direct.query("SELECT @@server_id AS id, COUNT(*) AS n FROM ptrx_resources");
    await direct.end();
    assert.equal(rows, drows);
  } finally {
    await c.end();
  }
});

test("a plain client's commands are read through the session's channel (the relay's fast path)", async () => {
  const c = await px.connect();
  try {
    await c.query("SELECT 1");
    const sessions = [...px.proxy.activeSessions()];
    assert.is(sessions.length, 1);
    assert.ok(readsThroughChannel(sessions[0]!.client), "no 'data' events on the hot path");
  } finally {
    await c.end();
  }
});

test("the relay writes commands and responses straight to the sockets' handles (the write side's fast path)", async () => {
  const c = await px.connect();
  try {
    await c.query("SELECT 1");
    const before = directWriteCount();
    for (let i = 0; i < 10; i++) await c.query("SELECT 1");
    await c.execute("SELECT ? AS x", [1]);
    // Each statement: one command to the backend and at least one response chunk to the client.
    assert.ok(directWriteCount() - before >= 22, `direct writes: ${directWriteCount() - before}`);
  } finally {
    await c.end();
  }
});

test("prepared statements: execute with parameters, reuse, close", async () => {
  const c = await px.connect();
  try {
    const [a] = await c.execute("SELECT id, name FROM ptrx_resources WHERE id = ?", [1]);
    const [b] = await c.execute("SELECT id, name FROM ptrx_resources WHERE id = ?", [2]);
    assert.is((a as { id: number }[])[0].id, 1);
    assert.is((b as { id: number }[])[0].id, 2);
    const [r] = await c.execute("INSERT INTO ptrx_audit (app_user, operation) VALUES (?, ?)", [
      "alice",
      "test",
    ]);
    assert.is((r as { affectedRows: number }).affectedRows, 1);
    c.unprepare("SELECT id, name FROM ptrx_resources WHERE id = ?");
    const [again] = await c.execute("SELECT id, name FROM ptrx_resources WHERE id = ?", [3]);
    assert.is((again as { id: number }[])[0].id, 3);
  } finally {
    await c.end();
  }
});

test("a wrong password gets ERR 1045 / 28000 with the server's wording, and the proxy keeps serving", async () => {
  const err = await px.connect({ password: "wrong" }).then(
    () => null,
    (e) => e,
  );
  assert.ok(err, "login should fail");
  assert.is(err.errno, 1045);
  assert.is(err.sqlState, "28000");
  assert.match(err.message, /Access denied for user 'pmpuser'@'127.0.0.1' \(using password: YES\)/);
  const unknown = await px.connect({ user: "nobody" }).then(
    () => null,
    (e) => e,
  );
  assert.is(unknown?.errno, 1045);
  const c = await px.connect();
  const [rows] = await c.query("SELECT 1 AS one");
  assert.equal(rows, [{ one: 1 }]);
  await c.end();
});

test("multi-statements return several result sets", async () => {
  const c = await px.connect({ multipleStatements: true });
  try {
    const [results] = await c.query(
      "SELECT 1 AS a; SELECT 2 AS b; UPDATE ptrx_audit SET app_user = app_user WHERE id < 0",
    );
    const r = results as unknown[];
    assert.is(r.length, 3);
    assert.equal(r[0], [{ a: 1 }]);
    assert.equal(r[1], [{ b: 2 }]);
  } finally {
    await c.end();
  }
});

test("a pool of connections works concurrently", async () => {
  const pool = mysql.createPool({
    host: "127.0.0.1",
    port: px.port,
    user: pair.appUser.username,
    password: pair.appUser.password,
    database: "passtrix",
    connectionLimit: 8,
  });
  try {
    const results = await Promise.all(Array.from({ length: 64 }, (_, i) => pool.query("SELECT ? AS i", [i])));
    for (const [i, [rows]] of results.entries()) assert.equal(rows, [{ i }]);
  } finally {
    await pool.end();
  }
});

test("session state: schema, autocommit and transactions follow the server's flags", async () => {
  const c = await px.connect({ database: undefined });
  try {
    await c.query("USE passtrix");
    const [[db]] = (await c.query("SELECT DATABASE() AS d")) as unknown as [{ d: string }[]];
    assert.is(db.d, "passtrix");
    await c.query("SET time_zone = '+02:00', sql_mode = 'ANSI_QUOTES'");
    const [[tz]] = (await c.query("SELECT @@session.time_zone AS tz")) as unknown as [{ tz: string }[]];
    assert.is(tz.tz, "+02:00");
    await c.beginTransaction();
    await c.query("INSERT INTO ptrx_audit (app_user, operation) VALUES ('tx', 'rolled back')");
    await c.rollback();
    const [rows] = await c.query("SELECT COUNT(*) AS n FROM ptrx_audit WHERE app_user = 'tx'");
    assert.equal(rows, [{ n: 0 }]);
  } finally {
    await c.end();
  }
});

test("LOCAL INFILE streams the client's file to the primary", async () => {
  const c = await px.connect({
    infileStreamFactory: () => Readable.from([Buffer.from("alice\tinfile\n"), Buffer.from("bob\tinfile\n")]),
  } as never);
  try {
    const [r] = await c.query("LOAD DATA LOCAL INFILE 'x.tsv' INTO TABLE ptrx_audit (app_user, operation)");
    assert.is((r as { affectedRows: number }).affectedRows, 2);
    const [rows] = await c.query("SELECT COUNT(*) AS n FROM ptrx_audit WHERE operation = 'infile'");
    assert.equal(rows, [{ n: 2 }]);
  } finally {
    await c.end();
  }
});

test("packets of 16 MiB and more pass both ways", async () => {
  const c = await px.connect();
  try {
    const big = "x".repeat(17 * 1024 * 1024 + 5);
    await c.query("CREATE TABLE IF NOT EXISTS big_blob (id INT PRIMARY KEY, b LONGBLOB)");
    await c.query("REPLACE INTO big_blob VALUES (1, ?)", [big]);
    const [rows] = await c.query("SELECT LENGTH(b) AS n, b FROM big_blob WHERE id = 1");
    const row = (rows as { n: number; b: Buffer }[])[0];
    assert.is(row.n, big.length);
    assert.is(row.b.length, big.length);
    assert.ok(row.b.equals(Buffer.from(big)), "the 17 MiB value came back intact");
  } finally {
    await c.end();
  }
});

test("COM_PING, COM_INIT_DB and COM_RESET_CONNECTION, as sent on the wire, and their results", async () => {
  const c = await rawLogin(px.port, { user: pair.appUser.username, password: pair.appUser.password });
  try {
    const database = async () => textRow((await c.query(comQuery("SELECT DATABASE()"))).rows[0])[0];
    const ping = await c.command(Buffer.from([0x0e]));
    assert.is(ping.payload[0], 0x00, "COM_PING: OK");
    const init = await c.command(Buffer.concat([Buffer.from([0x02]), Buffer.from("sbtest")]));
    assert.is(init.payload[0], 0x00, "COM_INIT_DB sbtest: OK");
    assert.is(await database(), "sbtest", "the schema the server now uses");
    const bad = await c.command(Buffer.concat([Buffer.from([0x02]), Buffer.from("no_such_db")]));
    assert.ok(isErr(bad), "COM_INIT_DB to a schema that does not exist: ERR");
    // The server's own answer, relayed: 1044 for a user without rights on it (the app user), 1049 else.
    assert.ok([1044, 1049].includes(parseErr(bad).code), `errno ${parseErr(bad).code}`);
    assert.match(parseErr(bad).message, /no_such_db/);
    assert.is(await database(), "sbtest", "a failed COM_INIT_DB changes nothing");
    // The session remembers the schema COM_INIT_DB chose: a statement after a reset still runs there.
    await c.query(comQuery("SET @x = 1"));
    const reset = await c.command(Buffer.from([0x1f]));
    assert.is(reset.payload[0], 0x00, "COM_RESET_CONNECTION: OK");
    assert.is(textRow((await c.query(comQuery("SELECT @x"))).rows[0])[0], null, "user variables are gone");
    assert.is(await database(), "sbtest", "the schema stays");
  } finally {
    c.close();
  }
});

test("COM_CHANGE_USER: a new login inside the session, with its own schema", async () => {
  const c = await px.connect();
  try {
    await c.query("SET @before = 1");
    await c.changeUser({ user: pair.appUser.username, password: pair.appUser.password, database: "sbtest" });
    const [[row]] = (await c.query("SELECT DATABASE() AS d, @before AS b")) as unknown as [
      { d: string; b: number | null }[],
    ];
    assert.equal(row, { d: "sbtest", b: null }, "new schema, old session state gone");
    const e = await c.changeUser({ user: pair.appUser.username, password: "wrong" }).then(
      () => null,
      (err: { errno?: number }) => err,
    );
    assert.is(e?.errno, 1045, "a wrong password: access denied");
  } finally {
    await c.end().catch(() => {});
  }
});

test("a reload's maxAllowedPacket holds for open sessions too; the greeting names the server that serves now", async () => {
  const port = await freePort();
  // A slow monitor, so that only the check events this test emits change the greeting.
  const p2 = await startProxy(
    pair,
    pair.proxyConfig({
      listen: { port },
      monitor: { intervalMs: 60_000, connectTimeoutMs: 2500, queryTimeoutMs: 2500, fall: 3, rise: 2 },
    }),
  );
  try {
    const { username, password } = pair.appUser;
    const open = await rawLogin(p2.port, { user: username, password });
    const query = comQuery(`SELECT '${"x".repeat(200 * 1024)}' AS big`);
    assert.is((await open.query(query)).rows.length, 1, "200 KiB passes under the default limit");
    const current = (p2.proxy as unknown as { config: Config }).config;
    await p2.proxy.reload({ ...current, maxAllowedPacket: 100 * 1024 });
    const refused = await open.command(query);
    assert.ok(isErr(refused), "the open session is held to the reloaded limit");
    assert.is(parseErr(refused).code, 1153, "ER_NET_PACKET_TOO_LARGE");
    await open.waitClosed();
    const fresh = await rawLogin(p2.port, { user: username, password });
    assert.ok(isErr(await fresh.command(query)), "and a new one");
    fresh.close();

    // The greeting's version follows the checks of the server that serves (read_write: the primary).
    const topology = p2.proxy.topology;
    const health = topology.snapshot().primary;
    topology.emit("check", "primary", { ...health, version: "10.99.9-MariaDB-promoted" });
    topology.emit("check", "secondary", { ...health, version: "10.1.1-MariaDB-not-serving" });
    const c = await RawConnection.connect(p2.port);
    assert.is((await c.readGreeting()).serverVersion, "5.5.5-10.99.9-MariaDB-promoted");
    c.close();
  } finally {
    await p2.stop();
  }
});

test.run();
