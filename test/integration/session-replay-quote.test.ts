/**
 * quote.ts against the real server (issue 19): every byte 0–255 in user-variable names and in
 * values, each in every sql_mode that changes how quotes and backslashes read (none,
 * NO_BACKSLASH_ESCAPES, ANSI_QUOTES, both) and under client character sets whose trail bytes can be
 * 0x5C (gbk, sjis, big5 — strings only: identifiers go out under SET NAMES utf8mb4). Each literal
 * is written with the quoting functions and read back: the server must hold exactly the name and
 * the bytes, and nothing but the one assignment may run (a marker variable set after it must
 * still be unset when the quoting is wrong). Names the server refuses (NUL) are refused by
 * quoteIdentifier too. Then readUserVariables reads them all back as literals that recreate them.
 */
import type { Connection } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { BackendConnection } from "../../src/backend/connection.js";
import { CLIENT_NO_SCHEMA, CLIENT_SESSION_TRACK, PROXY_CAPABILITIES } from "../../src/protocol/constants.js";
import { readUserVariables } from "../../src/session/user-variables.js";
import { NotALiteral, quoteBytes, quoteIdentifier, quoteString } from "../../src/sql/quote.js";
import { ADMIN_USER, type Servers, startServers } from "../helpers/servers.js";

let servers: Servers;
let root: Connection;

const MODES = ["", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES", "ANSI_QUOTES,NO_BACKSLASH_ESCAPES"];

test.before(async () => {
  servers = await startServers(1);
  root = await servers.list[0].rootConnection();
});

test.after(async () => {
  await root?.end();
  await servers?.stop();
});

async function one(sql: string): Promise<Record<string, unknown>> {
  const [rows] = await root.query(sql);
  return (rows as Record<string, unknown>[])[0];
}

test("every byte 0–255 in a name, in every sql_mode: the server holds that name, nothing else ran", async () => {
  const failures: string[] = [];
  await root.query("SET NAMES utf8mb4");
  for (const mode of MODES) {
    await root.query(`SET SESSION sql_mode = ${quoteString(mode)}`);
    for (let b = 0; b < 256; b++) {
      // User variable names are case- and accent-insensitive: a prefix per byte keeps them apart.
      const name = `n${b.toString(16)}_${String.fromCharCode(b)}x`;
      let q: string;
      try {
        q = quoteIdentifier(name);
      } catch (e) {
        if (!(e instanceof NotALiteral) || b !== 0) failures.push(`${mode}/${b}: refused ${String(e)}`);
        continue;
      }
      await root.query("SET @marker = NULL");
      try {
        await root.query(`SET @${q} = ${b}, @marker = 'after'`);
      } catch (e) {
        failures.push(`${mode}/${b}: ${(e as Error).message}`);
        continue;
      }
      const r = await one(
        `SELECT @${q} AS v, @marker AS m, (SELECT HEX(VARIABLE_NAME) FROM information_schema.USER_VARIABLES WHERE VARIABLE_NAME = ${quoteString(name)}) AS h`,
      );
      if (Number(r.v) !== b || r.m !== "after")
        failures.push(`${mode}/${b}: read back ${String(r.v)} ${String(r.m)}`);
      if (r.h !== Buffer.from(name, "utf8").toString("hex").toUpperCase())
        failures.push(`${mode}/${b}: the server's name is ${String(r.h)}`);
      await root.query(`SET @${q} = NULL`);
    }
  }
  assert.equal(failures, []);
});

test("every byte 0–255 in values, every sql_mode and client charset: the server holds exactly those bytes", async () => {
  const failures: string[] = [];
  for (const charset of ["utf8mb4", "gbk", "sjis", "big5", "latin1"]) {
    await root.query(`SET NAMES ${charset}`);
    for (const mode of MODES) {
      await root.query(`SET SESSION sql_mode = ${quoteString(mode)}`);
      for (let b = 0; b < 256; b++) {
        const bytes = Buffer.from([0x61, b, 0x27, b, 0x5c, b]);
        const text = `a${String.fromCharCode(b)}'\\${String.fromCharCode(b)}é`;
        const sql = `SET @v = ${quoteBytes(bytes, "binary", null)}, @s = ${quoteString(text)}, @marker = 'after'`;
        try {
          await root.query("SET @marker = NULL");
          await root.query(sql);
          const r = await one("SELECT HEX(@v) AS v, HEX(CONVERT(@s USING utf8mb4)) AS s, @marker AS m");
          if (r.v !== bytes.toString("hex").toUpperCase())
            failures.push(`${charset}/${mode}/${b}: bytes ${r.v}`);
          if (r.s !== Buffer.from(text, "utf8").toString("hex").toUpperCase())
            failures.push(`${charset}/${mode}/${b}: string ${r.s}`);
          if (r.m !== "after") failures.push(`${charset}/${mode}/${b}: the marker was not set`);
        } catch (e) {
          failures.push(`${charset}/${mode}/${b}: ${(e as Error).message}`);
        }
      }
    }
  }
  assert.equal(failures, [], failures.slice(0, 5).join("\n"));
  await root.query("SET NAMES utf8mb4");
});

test("readUserVariables: names and values of every byte come back as literals that recreate them", async () => {
  const admin = ADMIN_USER;
  const conn = await BackendConnection.open(
    { role: "primary", host: servers.list[0].host, port: servers.list[0].port },
    {
      username: admin.username,
      password: admin.password,
      database: null,
      collation: 45,
      // As mysql2 and most connectors negotiate: CLIENT_NO_SCHEMA forbids `information_schema.x`.
      capabilities: (PROXY_CAPABILITIES & ~CLIENT_NO_SCHEMA) | CLIENT_SESSION_TRACK,
      connectAttrs: null,
    },
    5000,
  );
  try {
    await conn.runQuery("SET NAMES utf8mb4");
    const expected: string[] = [];
    for (let b = 1; b < 256; b += 1) {
      const name = `u${b.toString(16)}_${String.fromCharCode(b)}`;
      const q = quoteIdentifier(name);
      await conn.runQuery(
        `SET @${q} = ${quoteBytes(Buffer.from([b, 0x5c, 0x27, 0]), b % 2 ? "binary" : "latin1", b % 2 ? null : "latin1_bin")}`,
      );
      expected.push(name);
    }
    await conn.runQuery("SET @i = -7, @d = 2.50, @f = 1e-300, @n = NULL");
    const r = await readUserVariables(conn, { maxUserVariables: 1000, maxUserVariableBytes: 1 << 20 });
    assert.is(r.problem, null);
    const vars = r.vars!;
    assert.is(vars.size, expected.length + 4);
    assert.is(vars.get("i"), "-7");
    assert.is(vars.get("d"), "2.50");
    assert.is(vars.get("n"), "NULL");
    // Recreate them on a fresh session from the literals alone: the same hex, charset and collation.
    const check = await BackendConnection.open(
      { role: "primary", host: servers.list[0].host, port: servers.list[0].port },
      {
        username: admin.username,
        password: admin.password,
        database: null,
        collation: 45,
        capabilities: PROXY_CAPABILITIES & ~CLIENT_NO_SCHEMA,
        connectAttrs: null,
      },
      5000,
    );
    try {
      await check.runQuery("SET NAMES utf8mb4");
      await check.runQuery(
        `SET ${[...vars].map(([n, lit]) => `@${quoteIdentifier(n)} = ${lit}`).join(", ")}`,
      );
      for (const name of expected) {
        const q = quoteIdentifier(name);
        const a = await conn.queryRow(`SELECT HEX(@${q}), CHARSET(@${q}), COLLATION(@${q})`);
        const b = await check.queryRow(`SELECT HEX(@${q}), CHARSET(@${q}), COLLATION(@${q})`);
        assert.equal(b, a, `@${name} recreated`);
      }
      const f = await check.queryRow("SELECT @f = 1e-300, @d = 2.50, @i = -7, @n IS NULL");
      assert.equal(f, ["1", "1", "1", "1"]);
    } finally {
      check.destroy();
    }
    // Bounded: more than the limit is refused, nothing read.
    const capped = await readUserVariables(conn, { maxUserVariables: 10, maxUserVariableBytes: 1 << 20 });
    assert.is(capped.vars, null);
    assert.match(String(capped.problem), /more than 10 user variables/);
    const big = await readUserVariables(conn, { maxUserVariables: 1000, maxUserVariableBytes: 100 });
    assert.match(String(big.problem), /more than 100 bytes/);
  } finally {
    conn.destroy();
  }
});

test.run();
