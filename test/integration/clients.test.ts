/**
 * Real clients through pairgate, each diffed against the same client talking to the primary
 * directly (issue 20): the greeting's collation, status flags and session-tracking capability as
 * the server announces them, and MariaDB Connector/Node (`mariadb` npm, pipelining on and off)
 * seeing the same session collation, results and errors.
 */
import * as mariadb from "mariadb";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startPair, type TestPair } from "../helpers/pair.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { RawConnection } from "../helpers/raw-client.js";

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

const CLIENT_LONG_PASSWORD = 0x1;
const CLIENT_SESSION_TRACK = 0x800000;

/** Collation id, status flags and capabilities from a raw greeting. */
async function greeting(port: number): Promise<{ collation: number; status: number; caps: number }> {
  const raw = await RawConnection.connect(port);
  try {
    const p = await raw.read();
    const o = p.payload.indexOf(0, 1) + 1 + 4 + 8 + 1; // version, id, scramble part 1, filler
    return {
      collation: p.payload[o + 2],
      status: p.payload.readUInt16LE(o + 3),
      caps: (p.payload.readUInt16LE(o) | (p.payload.readUInt16LE(o + 5) << 16)) >>> 0,
    };
  } finally {
    raw.socket.destroy();
  }
}

test("the greeting announces the backend's collation, status flags and session tracking", async () => {
  const direct = await greeting(pair.primary.port);
  const through = await greeting(px.port);
  assert.is(through.collation, direct.collation, "collation id");
  assert.is(through.status, direct.status, "status flags");
  assert.is(through.caps & CLIENT_SESSION_TRACK, direct.caps & CLIENT_SESSION_TRACK, "CLIENT_SESSION_TRACK");
  // Not (yet) the server's: pairgate keeps CLIENT_LONG_PASSWORD set and offers no MariaDB
  // extended capabilities (see README "Pointing an application at pairgate").
  assert.is(through.caps & CLIENT_LONG_PASSWORD, CLIENT_LONG_PASSWORD);
});

async function connectorNode(port: number, pipelining: boolean) {
  const c = await mariadb.createConnection({
    host: "127.0.0.1",
    port,
    user: pair.appUser.username,
    password: pair.appUser.password,
    database: "passtrix",
    pipelining,
  });
  try {
    const out: unknown[] = [];
    const q = async (sql: string, values?: unknown[]) => {
      try {
        const r = await c.query(sql, values);
        out.push(JSON.parse(JSON.stringify(r, (_k, v) => (typeof v === "bigint" ? String(v) : v))));
      } catch (e) {
        out.push({ errno: (e as { errno?: number }).errno, sqlState: (e as { sqlState?: string }).sqlState });
      }
    };
    await q("SELECT @@collation_connection AS c, @@character_set_client AS cs");
    await q("SELECT id, name FROM ptrx_resources ORDER BY id LIMIT 3");
    await q("SELECT * FROM no_such_table");
    await q("SELECT ? + 1 AS n", [41]);
    const [e1, e2] = await Promise.allSettled([
      c.execute("SELECT name FROM ptrx_resources WHERE id = ?", [1]),
      c.execute("SELECT name FROM ptrx_resources WHERE id = ?", [2]),
    ]);
    out.push(JSON.parse(JSON.stringify([e1, e2])));
    return out;
  } finally {
    await c.end();
  }
}

for (const pipelining of [true, false]) {
  test(`Connector/Node (pipelining ${pipelining ? "on" : "off"}): collation, results, errors equal to direct`, async () => {
    const direct = await connectorNode(pair.primary.port, pipelining);
    const through = await connectorNode(px.port, pipelining);
    assert.equal(through, direct);
  });
}

test.run();
