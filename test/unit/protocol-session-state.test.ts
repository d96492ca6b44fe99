/**
 * session-state.ts: the OK packet's session state (CLIENT_SESSION_TRACK), built with the
 * independent byte builder — the `last_gtid` MariaDB 10.11 reports when a session tracks it, MySQL's
 * SESSION_TRACK_GTIDS, the rewrite for a client without session tracking, and every truncation.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ProtocolError } from "../../src/protocol/packet.js";
import {
  finalOkState,
  lastGtidFromOk,
  okWithoutSessionState,
  parseOkSessionState,
  readFinalOk,
  withFinalOkWithoutSessionState,
} from "../../src/protocol/session-state.js";
import { type Bytes, int1, int2, lenenc, lenencStr } from "../helpers/wire.js";

const STATE_CHANGED = 0x4000;
const AUTOCOMMIT = 0x0002;

function ok(status: number, rest: Bytes = [], header = 0x00, affected = 1, insertId = 7): Buffer {
  return Buffer.from([
    header,
    ...lenenc(affected),
    ...lenenc(insertId),
    ...int2(status),
    ...int2(0),
    ...rest,
  ]);
}

function entry(type: number, data: Bytes): Bytes {
  return [...int1(type), ...lenenc(data.length), ...data];
}

const sysvar = (name: string, value: string) => entry(0, [...lenencStr(name), ...lenencStr(value)]);

function withState(status: number, info: string, entries: Bytes[], header = 0x00): Buffer {
  const state = entries.flat();
  return ok(status | STATE_CHANGED, [...lenencStr(info), ...lenenc(state.length), ...state], header);
}

test("MariaDB last_gtid from a tracked system variable", () => {
  const p = withState(AUTOCOMMIT, "", [sysvar("last_gtid", "0-1-25")]);
  assert.is(lastGtidFromOk(p), "0-1-25");
  assert.equal(parseOkSessionState(p), {
    systemVariables: [["last_gtid", "0-1-25"]],
    schema: null,
    gtids: null,
  });
});

test("last_gtid among other tracked variables, a schema change and unknown types", () => {
  const p = withState(AUTOCOMMIT, "Rows matched: 1", [
    sysvar("autocommit", "ON"),
    entry(1, lenencStr("vault")),
    entry(2, lenencStr("1")),
    sysvar("last_gtid", "1-3-900"),
    entry(5, lenencStr("________")),
  ]);
  assert.is(lastGtidFromOk(p), "1-3-900");
  const s = parseOkSessionState(p);
  assert.is(s?.schema, "vault");
  assert.equal(s?.systemVariables, [
    ["autocommit", "ON"],
    ["last_gtid", "1-3-900"],
  ]);
});

test("an empty last_gtid (a statement that logged nothing) is no GTID", () => {
  assert.is(lastGtidFromOk(withState(AUTOCOMMIT, "", [sysvar("last_gtid", "")])), null);
});

test("MySQL SESSION_TRACK_GTIDS", () => {
  const uuid = "3e11fa47-71ca-11e1-9e33-c80aa9429562";
  const p = withState(AUTOCOMMIT, "", [entry(3, [0, ...lenencStr(`${uuid}:23`)])]);
  assert.is(lastGtidFromOk(p), `${uuid}:23`);
});

test("an OK without the state-changed flag: null, whatever follows", () => {
  assert.is(lastGtidFromOk(ok(AUTOCOMMIT)), null);
  assert.is(lastGtidFromOk(ok(AUTOCOMMIT, lenencStr("info"))), null);
  assert.is(parseOkSessionState(ok(AUTOCOMMIT, lenencStr("info"))), null);
  // The flag without any bytes after warnings (seen on MySQL's 0xFE OK) is harmless.
  assert.is(lastGtidFromOk(ok(AUTOCOMMIT | STATE_CHANGED)), null);
});

test("a 0xFE OK ending a result set and big lenenc fields", () => {
  const p = Buffer.from([
    0xfe,
    ...lenenc(70000),
    ...lenenc(2 ** 33),
    ...int2(AUTOCOMMIT | STATE_CHANGED),
    ...int2(3),
    ...lenencStr(""),
    ...lenenc(sysvar("last_gtid", "0-1-1").length),
    ...sysvar("last_gtid", "0-1-1"),
  ]);
  assert.is(lastGtidFromOk(p), "0-1-1");
});

test("okWithoutSessionState: flag cleared, state dropped, info kept length-encoded as servers send it", () => {
  const p = withState(AUTOCOMMIT, "Rows matched: 1  Changed: 1", [sysvar("last_gtid", "0-1-25")]);
  const q = okWithoutSessionState(p);
  const expected = ok(AUTOCOMMIT, [...lenencStr("Rows matched: 1  Changed: 1")]);
  assert.equal([...q], [...expected]);
  const bare = ok(AUTOCOMMIT);
  assert.is(okWithoutSessionState(bare), bare);
  // No state: untouched (the server's bytes are what a client without session tracking gets).
  const infoOnly = ok(AUTOCOMMIT, [...lenencStr("Records: 2  Duplicates: 0  Warnings: 0")]);
  assert.is(okWithoutSessionState(infoOnly), infoOnly);
  const noInfo = withState(AUTOCOMMIT, "", [sysvar("last_gtid", "0-1-25")]);
  assert.equal([...okWithoutSessionState(noInfo)], [...ok(AUTOCOMMIT)]);
});

test("every truncation of a state-carrying OK either parses as less or throws ProtocolError", () => {
  const p = withState(AUTOCOMMIT, "x", [sysvar("autocommit", "ON"), sysvar("last_gtid", "0-1-25")]);
  for (let n = 1; n < p.length; n++) {
    try {
      const g = lastGtidFromOk(p.subarray(0, n));
      assert.ok(g === null || g === "0-1-25");
    } catch (e) {
      assert.instance(e, ProtocolError);
    }
  }
});

const frame = (payload: Buffer, seq: number) =>
  Buffer.concat([
    Buffer.from([...int2(payload.length & 0xffff), (payload.length >> 16) & 0xff, seq]),
    payload,
  ]);

test("the chunk that ends a response: only its final OK loses the session state, the rest is kept", () => {
  const row = frame(Buffer.from([...lenencStr("x")]), 3);
  const last = withState(AUTOCOMMIT, "Rows matched: 1", [sysvar("last_gtid", "0-1-9")], 0xfe);
  const chunk = Buffer.concat([row, frame(last, 4)]);
  const out = withFinalOkWithoutSessionState(chunk, last.length);
  const want = okWithoutSessionState(last);
  assert.ok(want.length < last.length);
  assert.equal([...out], [...row, ...frame(want, 4)], "rows untouched, header length and sequence id right");
  // An OK without state: the same chunk object, nothing copied.
  const plain = frame(ok(AUTOCOMMIT), 1);
  assert.is(withFinalOkWithoutSessionState(plain, plain.length - 4), plain);
  // The OK is not wholly in this chunk (split across reads): relayed as it is.
  const tail = frame(last, 1).subarray(10);
  assert.is(withFinalOkWithoutSessionState(tail, last.length), tail);
  // Not an OK at the end: untouched.
  const err = frame(Buffer.from([0xff, ...int2(1290), ...Buffer.from("#HY000x")]), 1);
  assert.is(withFinalOkWithoutSessionState(err, err.length - 4), err);
});

test("readFinalOk (the relay's one-pass path) agrees with lastGtidFromOk and withFinalOkWithoutSessionState", () => {
  const gtids = (set: string) => entry(3, [...int1(0), ...lenencStr(set)]);
  const cases: Buffer[] = [
    withState(AUTOCOMMIT, "", [sysvar("last_gtid", "0-1-25")]),
    withState(AUTOCOMMIT, "Rows matched: 1  Changed: 1  Warnings: 0", [sysvar("last_gtid", "0-1-123456")]),
    withState(AUTOCOMMIT, "", [sysvar("last_gtid", "2-7-1")], 0xfe),
    withState(AUTOCOMMIT, "x", [
      sysvar("autocommit", "ON"),
      entry(1, lenencStr("vault")),
      sysvar("last_gtid", "1-3-900"),
    ]),
    withState(AUTOCOMMIT, "", [sysvar("last_gtid", "")]),
    withState(AUTOCOMMIT, "", [gtids("3E11FA47-71CA-11E1-9E33-C80AA9429562:23")]),
    withState(AUTOCOMMIT, "", [entry(2, lenencStr("1"))]),
    withState(AUTOCOMMIT, "i".repeat(300), [sysvar("last_gtid", "0-1-7")]),
  ];
  for (const payload of cases) {
    const chunk = Buffer.concat([frame(Buffer.from([...lenencStr("row")]), 2), frame(payload, 3)]);
    assert.ok(readFinalOk(chunk, payload.length));
    assert.is(finalOkState.gtid, lastGtidFromOk(payload));
    assert.equal([...finalOkState.chunk], [...withFinalOkWithoutSessionState(chunk, payload.length)]);
  }
  // No state, split, not an OK, truncated state: the general path decides.
  const plain = frame(ok(AUTOCOMMIT), 1);
  assert.not.ok(readFinalOk(plain, plain.length - 4));
  const full = frame(cases[1], 1);
  assert.not.ok(readFinalOk(full.subarray(8), cases[1].length));
  const truncated = cases[1].subarray(0, cases[1].length - 3);
  assert.not.ok(readFinalOk(frame(truncated, 1), truncated.length));
});

test("readFinalOk reports the tracked variables, the schema and the state-change flag (issue 19)", () => {
  const payload = withState(AUTOCOMMIT, "", [
    sysvar("tx_read_only", "OFF"),
    sysvar("SQL_MODE", "ANSI_QUOTES"),
    sysvar("last_gtid", "0-1-9"),
    entry(1, lenencStr("vault")),
    entry(2, lenencStr("1")),
    sysvar("character_set_client", "gbk"),
  ]);
  const chunk = frame(payload, 1);
  assert.ok(readFinalOk(chunk, payload.length));
  assert.equal(finalOkState.vars, [
    "tx_read_only",
    "OFF",
    "sql_mode",
    "ANSI_QUOTES",
    "character_set_client",
    "gbk",
  ]);
  assert.is(finalOkState.schema, "vault");
  assert.is(finalOkState.stateChange, true);
  assert.is(finalOkState.gtid, "0-1-9");
  // The general parser agrees (names as sent).
  const s = parseOkSessionState(payload);
  assert.is(s?.stateChange, true);
  assert.equal(s?.systemVariables.length, 4);
  // A later OK without those reports leaves nothing behind from this one.
  const next = withState(AUTOCOMMIT, "", [sysvar("last_gtid", "0-1-10")]);
  assert.ok(readFinalOk(frame(next, 1), next.length));
  assert.equal(finalOkState.vars, []);
  assert.is(finalOkState.schema, null);
  assert.is(finalOkState.stateChange, false);
});

test.run();
