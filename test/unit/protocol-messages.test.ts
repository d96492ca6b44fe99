/**
 * messages.ts: the messages pairgate speaks itself, checked against bytes built with the
 * independent builder and against captures from real peers (a MariaDB 10.11.19 handshake and the
 * handshake response mysql2 3.24.6 sent to it).
 */
import { createHash } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  decodeAuthSwitch,
  decodeChangeUser,
  decodeErr,
  decodeErrAsError,
  decodeHandshakeResponse,
  decodeHandshakeV10,
  encodeAuthMoreData,
  encodeAuthSwitch,
  encodeEof,
  encodeErr,
  encodeHandshakeResponse,
  encodeHandshakeV10,
  encodeOk,
  encodeSslRequest,
  eofStatusFlags,
  frameWithStatementId,
  type HandshakeResponse,
  type HandshakeV10,
  isSslRequest,
  okStatusAt,
  patchStatementId,
  ServerError,
  setPrepareOkStatementId,
} from "../../src/protocol/messages.js";
import { ProtocolError } from "../../src/protocol/packet.js";
import {
  type Bytes,
  eofPayload,
  errPayload,
  hex,
  int2,
  int3,
  int4,
  lenenc,
  lenencStr,
  nulStr,
  okPayload,
  repeat,
  str,
} from "../helpers/wire.js";

// Capability bits, from the spec.
const CLIENT_LONG_PASSWORD = 0x1;
const CLIENT_CONNECT_WITH_DB = 0x8;
const CLIENT_PROTOCOL_41 = 0x200;
const CLIENT_SSL = 0x800;
const CLIENT_TRANSACTIONS = 0x2000;
const CLIENT_SECURE_CONNECTION = 0x8000;
const CLIENT_MULTI_RESULTS = 0x20000;
const CLIENT_PLUGIN_AUTH = 0x80000;
const CLIENT_CONNECT_ATTRS = 0x100000;
const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 0x200000;
const CLIENT_DEPRECATE_EOF = 0x1000000;

const b = (x: Bytes) => Buffer.from(x);
const bytesOf = (x: Uint8Array) => [...x];

/** The initial handshake of MariaDB 10.11.19 (Debian 12), captured over a unix socket: header + payload. */
const MARIADB_HANDSHAKE = hex(`
  64000000 0a 352e352e352d31302e31312e31392d4d6172696144422d302b6465623132753100 03000000
  5970464f386a314f 00 fef7 08 0200 ff81 15 000000000000 1d000000 7c4275463b38432a4767534700
  6d7973716c5f6e61746976655f70617373776f726400
`);

/**
 * The handshake response mysql2 3.24.6 sent to that handshake (user "app", password "pw",
 * database "passtrix", default flags: CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA, CONNECT_ATTRS ...).
 */
const MYSQL2_RESPONSE = hex(`
  8a000001 cef3ba08 00000000 e0 00000000000000000000000000000000000000 08000000 61707000
  14 aac2fd9573cdb3a925b8e7513ee39093727c7f34 7061737374726978 00
  6d7973716c5f6e61746976655f70617373776f726400
  31 0c 5f636c69656e745f6e616d65 0c 4e6f64652d4d7953514c2d32 0f 5f636c69656e745f76657273696f6e 06 332e32342e36
`);

/** mysql_native_password, computed here from the formula: SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))). */
function nativeToken(password: string, scramble: Buffer): Buffer {
  const sha1 = (...parts: Buffer[]) => {
    const h = createHash("sha1");
    for (const p of parts) h.update(p);
    return h.digest();
  };
  const s1 = sha1(Buffer.from(password));
  const s2 = sha1(scramble, sha1(s1));
  return Buffer.from(s1.map((x, i) => x ^ s2[i]));
}

// ---------------------------------------------------------------- initial handshake

test("decode the real MariaDB 10.11 handshake", () => {
  const payload = b(MARIADB_HANDSHAKE.slice(4));
  assert.is(MARIADB_HANDSHAKE[0], payload.length, "the capture is one whole packet");
  const h = decodeHandshakeV10(payload);
  assert.is(h.protocolVersion, 10);
  assert.is(h.serverVersion, "5.5.5-10.11.19-MariaDB-0+deb12u1");
  assert.is(h.connectionId, 3);
  assert.is(h.scramble.toString("latin1"), "YpFO8j1O|BuF;8C*GgSG");
  assert.is(h.scramble.length, 20);
  assert.is(h.capabilities, 0x81fff7fe);
  assert.is(
    h.capabilities & CLIENT_LONG_PASSWORD,
    0,
    "MariaDB clears CLIENT_MYSQL and uses the reserved bytes",
  );
  assert.ok(h.capabilities & CLIENT_DEPRECATE_EOF);
  assert.is(h.collation, 8);
  assert.is(h.statusFlags, 0x0002);
  assert.is(h.authPlugin, "mysql_native_password");
  assert.is(h.mariadbCapabilities, 0x1d);
});

test("re-encoding the decoded MariaDB handshake gives the captured bytes back", () => {
  const payload = b(MARIADB_HANDSHAKE.slice(4));
  assert.equal(bytesOf(encodeHandshakeV10(decodeHandshakeV10(payload))), bytesOf(payload));
});

test("handshake v10: encode equals the builder's bytes, and decodes back", () => {
  const scramble = Buffer.from("abcdefghijklmnopqrst");
  const h: HandshakeV10 = {
    protocolVersion: 10,
    serverVersion: "8.0.36-pairgate",
    connectionId: 0xfedcba98,
    scramble,
    capabilities: 0xdfffffff,
    collation: 45,
    statusFlags: 0x0002,
    authPlugin: "caching_sha2_password",
    mariadbCapabilities: 0,
  };
  const want = [
    10,
    ...nulStr("8.0.36-pairgate"),
    ...int4(0xfedcba98),
    ...str("abcdefgh"),
    0,
    ...int2(0xffff),
    45,
    ...int2(0x0002),
    ...int2(0xdfff),
    21,
    ...repeat(0, 10),
    ...str("ijklmnopqrst"),
    0,
    ...nulStr("caching_sha2_password"),
  ];
  const encoded = encodeHandshakeV10(h);
  assert.equal(bytesOf(encoded), want);
  assert.equal(decodeHandshakeV10(b(want)), h);
  // MariaDB style: CLIENT_MYSQL off, extended capabilities in the last 4 reserved bytes.
  const m = {
    ...h,
    capabilities: 0x81fff7fe,
    mariadbCapabilities: 0x1d,
    authPlugin: "mysql_native_password",
  };
  const me = encodeHandshakeV10(m);
  assert.equal(bytesOf(me.subarray(me.length - 22 - 13 - 4, me.length - 22 - 13)), int4(0x1d));
  assert.equal(decodeHandshakeV10(me), m);
});

test("a handshake whose plugin name lacks its NUL (old MySQL 5.5) still decodes", () => {
  const payload = MARIADB_HANDSHAKE.slice(4, MARIADB_HANDSHAKE.length - 1);
  assert.is(decodeHandshakeV10(b(payload)).authPlugin, "mysql_native_password");
});

test("a server that answers the connection with ERR: decode throws a ServerError", () => {
  const withState = errPayload(1040, "08004", "Too many connections");
  try {
    decodeHandshakeV10(b(withState));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, ServerError);
    assert.is((e as ServerError).errno, 1040);
    assert.is((e as ServerError).sqlState, "08004");
    assert.is((e as ServerError).message, "Too many connections");
  }
  // Before the handshake there is no SQLSTATE marker (ER_HOST_NOT_PRIVILEGED).
  const bare = [
    0xff,
    ...int2(1130),
    ...str("Host '10.0.0.9' is not allowed to connect to this MariaDB server"),
  ];
  try {
    decodeHandshakeV10(b(bare));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, ServerError);
    assert.is((e as ServerError).errno, 1130);
    assert.is((e as ServerError).sqlState, "HY000");
    assert.match((e as Error).message, /^Host '10.0.0.9'/);
  }
});

test("handshake: other protocol versions and truncated packets are ProtocolErrors", () => {
  for (const payload of [
    [9, ...nulStr("4.0"), 1, 0, 0, 0],
    [10, ...str("no-nul")],
    [10, ...nulStr("x"), 1, 2],
  ]) {
    try {
      decodeHandshakeV10(b(payload));
      assert.unreachable(JSON.stringify(payload));
    } catch (e) {
      assert.instance(e, ProtocolError, JSON.stringify(payload));
    }
  }
});

// ---------------------------------------------------------------- handshake response

test("decode mysql2's handshake response (LENENC client data, connect attributes)", () => {
  const payload = b(MYSQL2_RESPONSE.slice(4));
  assert.is(MYSQL2_RESPONSE[0], payload.length);
  assert.is(MYSQL2_RESPONSE[3], 1, "sequence id 1");
  assert.is(isSslRequest(payload), false);
  const r = decodeHandshakeResponse(payload);
  assert.is(r.capabilities, 0x08baf3ce);
  for (const bit of [
    CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
    CLIENT_CONNECT_ATTRS,
    CLIENT_PLUGIN_AUTH,
    CLIENT_CONNECT_WITH_DB,
  ]) {
    assert.ok(r.capabilities & bit, `bit 0x${bit.toString(16)}`);
  }
  assert.is(r.maxPacketSize, 0);
  assert.is(r.collation, 224);
  assert.is(r.mariadbCapabilities, 8);
  assert.is(r.username, "app");
  assert.is(r.database, "passtrix");
  assert.is(r.authPlugin, "mysql_native_password");
  // The token is mysql_native_password over the handshake's scramble with the password "pw".
  const scramble = decodeHandshakeV10(b(MARIADB_HANDSHAKE.slice(4))).scramble;
  assert.equal(bytesOf(r.authResponse), bytesOf(nativeToken("pw", scramble)));
  // The attributes block, length prefix included, exactly as sent.
  const attrs = [
    ...lenencStr("_client_name"),
    ...lenencStr("Node-MySQL-2"),
    ...lenencStr("_client_version"),
    ...lenencStr("3.24.6"),
  ];
  assert.equal(bytesOf(r.connectAttrs!), [...lenenc(attrs.length), ...attrs]);
  // Re-encoding gives the same bytes back.
  assert.equal(bytesOf(encodeHandshakeResponse(r)), bytesOf(payload));
});

/**
 * mysql2 again, to the same handshake with the plugin name changed to caching_sha2_password: user
 * "app", password "pässword", no database (CONNECT_WITH_DB still set: an empty name is sent),
 * one extra connect attribute program_name=pmp.
 */
const MYSQL2_RESPONSE_SHA2 = hex(`
  9f000001 cef3ba08 00000000 e0 00000000000000000000000000000000000000 08000000 61707000
  20 370dcb72dadebb4c667aa9c4109234661c76d0ef064b7932dd03a8515f6bf373 00
  63616368696e675f736861325f70617373776f726400
  42 0c 5f636c69656e745f6e616d65 0c 4e6f64652d4d7953514c2d32 0f 5f636c69656e745f76657273696f6e 06 332e32342e36
  0c 70726f6772616d5f6e616d65 03 706d70
`);

test("decode mysql2's response with an empty database and a caching_sha2_password token", () => {
  const payload = b(MYSQL2_RESPONSE_SHA2.slice(4));
  assert.is(MYSQL2_RESPONSE_SHA2[0], payload.length);
  const r = decodeHandshakeResponse(payload);
  assert.ok(r.capabilities & CLIENT_CONNECT_WITH_DB);
  assert.is(r.database, null);
  assert.is(r.authPlugin, "caching_sha2_password");
  assert.is(r.authResponse.length, 32);
  assert.is(r.connectAttrs!.length, 1 + 0x42);
  assert.equal(bytesOf(r.connectAttrs!.subarray(r.connectAttrs!.length - 17)), [
    ...lenencStr("program_name"),
    ...lenencStr("pmp"),
  ]);
  assert.equal(bytesOf(encodeHandshakeResponse(r)), bytesOf(payload));
});

function builtResponse(o: {
  caps: number;
  user: string;
  token: Bytes;
  db?: string;
  plugin?: string;
  attrs?: Bytes;
  mariadb?: number;
}): Bytes {
  const out = [...int4(o.caps), ...int4(16 * 1024 * 1024), 45, ...repeat(0, 19), ...int4(o.mariadb ?? 0)];
  out.push(...nulStr(o.user));
  if (o.caps & CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA) out.push(...lenencStr(o.token));
  else if (o.caps & CLIENT_SECURE_CONNECTION) out.push(o.token.length, ...o.token);
  else out.push(...o.token, 0);
  if (o.caps & CLIENT_CONNECT_WITH_DB) out.push(...nulStr(o.db ?? ""));
  if (o.caps & CLIENT_PLUGIN_AUTH) out.push(...nulStr(o.plugin ?? ""));
  if (o.caps & CLIENT_CONNECT_ATTRS) out.push(...lenencStr(o.attrs ?? []));
  return out;
}

test("handshake response: 1-byte auth length (no LENENC), no database, no attributes", () => {
  const caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_TRANSACTIONS;
  const token = Array.from({ length: 32 }, (_, i) => i * 7);
  const bytes = builtResponse({ caps, user: "svc", token, plugin: "caching_sha2_password" });
  const r = decodeHandshakeResponse(b(bytes));
  assert.equal(r, {
    capabilities: caps,
    maxPacketSize: 16 * 1024 * 1024,
    collation: 45,
    username: "svc",
    authResponse: b(token),
    database: null,
    authPlugin: "caching_sha2_password",
    connectAttrs: null,
    mariadbCapabilities: 0,
  } satisfies HandshakeResponse);
  assert.equal(bytesOf(encodeHandshakeResponse(r)), bytes);
});

test("handshake response: LENENC auth data longer than 250 bytes, empty database, attributes", () => {
  const caps =
    CLIENT_PROTOCOL_41 |
    CLIENT_SECURE_CONNECTION |
    CLIENT_PLUGIN_AUTH |
    CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
    CLIENT_CONNECT_WITH_DB |
    CLIENT_CONNECT_ATTRS |
    CLIENT_MULTI_RESULTS;
  const token = repeat(0x41, 300);
  const attrs = [
    ...lenencStr("_os"),
    ...lenencStr("Linux"),
    ...lenencStr("program_name"),
    ...lenencStr("pmp"),
  ];
  const bytes = builtResponse({
    caps,
    user: "ünï",
    token,
    db: "",
    plugin: "mysql_clear_password",
    attrs,
    mariadb: 4,
  });
  const r = decodeHandshakeResponse(b(bytes));
  assert.is(r.username, "ünï");
  assert.is(r.authResponse.length, 300);
  assert.is(r.database, null, "an empty database name means none");
  assert.is(r.authPlugin, "mysql_clear_password");
  assert.equal(bytesOf(r.connectAttrs!), lenencStr(attrs));
  assert.is(r.mariadbCapabilities, 4);
  // Empty auth data (no password).
  const empty = decodeHandshakeResponse(
    b(builtResponse({ caps, user: "u", token: [], db: "d", plugin: "p" })),
  );
  assert.is(empty.authResponse.length, 0);
  assert.is(empty.database, "d");
  assert.equal(bytesOf(empty.connectAttrs!), [0]);
});

test("handshake response: truncated attributes and pre-4.1 clients are refused", () => {
  const caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_CONNECT_ATTRS;
  const bytes = builtResponse({ caps, user: "u", token: [], attrs: repeat(1, 10) });
  try {
    decodeHandshakeResponse(b(bytes.slice(0, -3)));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, ProtocolError);
  }
  try {
    decodeHandshakeResponse(b([...int2(0x8005), ...int3(0xffffff), ...nulStr("old"), ...repeat(0, 8)]));
    assert.unreachable();
  } catch (e) {
    assert.instance(e, ProtocolError);
    assert.is((e as ProtocolError).code, "PAIRGATE_OLD_CLIENT");
  }
});

// ---------------------------------------------------------------- SSLRequest

test("isSslRequest: exactly 32 bytes with CLIENT_SSL", () => {
  const caps = CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_SSL | CLIENT_PLUGIN_AUTH;
  const ssl = [...int4(caps), ...int4(0x1000000), 45, ...repeat(0, 19), ...int4(0)];
  assert.is(ssl.length, 32);
  assert.is(isSslRequest(b(ssl)), true);
  assert.is(isSslRequest(b([...int4(caps & ~CLIENT_SSL), ...ssl.slice(4)])), false, "no CLIENT_SSL");
  assert.is(isSslRequest(b([...ssl, 0])), false, "a full response with CLIENT_SSL is not an SSLRequest");
  assert.is(isSslRequest(b(ssl.slice(0, 31))), false);
  const encoded = encodeSslRequest(caps & ~CLIENT_SSL, 0x1000000, 45);
  assert.equal(bytesOf(encoded), ssl, "encodeSslRequest sets CLIENT_SSL itself");
  assert.is(isSslRequest(encoded), true);
});

// ---------------------------------------------------------------- ERR

test("ERR: encode equals the builder's bytes; decode keeps code, SQLSTATE and message", () => {
  const msg = "The MySQL server is running with the --read-only option so it cannot execute this statement";
  assert.equal(
    bytesOf(encodeErr({ code: 1290, sqlState: "HY000", message: msg })),
    errPayload(1290, "HY000", msg),
  );
  assert.equal(decodeErr(b(errPayload(1045, "28000", "Access denied for user 'app'@'localhost'"))), {
    code: 1045,
    sqlState: "28000",
    message: "Access denied for user 'app'@'localhost'",
  });
  // Non-ASCII message, code above 0x7FFF.
  assert.equal(decodeErr(encodeErr({ code: 0xbeef, sqlState: "42S02", message: "Tabelle »t« fehlt" })), {
    code: 0xbeef,
    sqlState: "42S02",
    message: "Tabelle »t« fehlt",
  });
  // SQLSTATE is always 5 characters on the wire.
  assert.equal(bytesOf(encodeErr({ code: 1, sqlState: "42", message: "" })), [
    0xff,
    1,
    0,
    0x23,
    ...str("42000"),
  ]);
  assert.equal(bytesOf(encodeErr({ code: 1, sqlState: "HY0001", message: "" })), [
    0xff,
    1,
    0,
    0x23,
    ...str("HY000"),
  ]);
  // Without the '#' marker: HY000 and the whole rest as the message.
  assert.equal(decodeErr(b([0xff, ...int2(1043), ...str("Bad handshake")])), {
    code: 1043,
    sqlState: "HY000",
    message: "Bad handshake",
  });
  const e = decodeErrAsError(b(errPayload(1927, "70100", "Connection was killed")));
  assert.instance(e, Error);
  assert.is(e.errno, 1927);
  assert.is(e.sqlState, "70100");
  assert.is(e.name, "ServerError");
});

// ---------------------------------------------------------------- OK and EOF

test("OK: encode equals the builder's bytes; status flags read back", () => {
  const cases = [
    { statusFlags: 0x0002 },
    { statusFlags: 0x0003, affectedRows: 1, lastInsertId: 42, warnings: 2 },
    { statusFlags: 0x2001, affectedRows: 251, lastInsertId: 0x10000, info: "Rows matched: 251" },
    { statusFlags: 0x0008, affectedRows: 2 ** 33, lastInsertId: 0x1000000 },
  ];
  for (const c of cases) {
    const want = okPayload({ status: c.statusFlags, ...c });
    assert.equal(bytesOf(encodeOk(c)), want, JSON.stringify(c));
    assert.is(okStatusAt(b(want)), c.statusFlags);
    // The same OK ending a result set under CLIENT_DEPRECATE_EOF.
    const eofOk = encodeOk(c, 0xfe);
    assert.equal(bytesOf(eofOk), okPayload({ status: c.statusFlags, ...c, header: 0xfe }));
    assert.is(okStatusAt(eofOk), c.statusFlags);
  }
  // IN_TRANS | AUTOCOMMIT and friends.
  assert.is(okStatusAt(b(okPayload({ status: 0x0001 }))) & 0x0001, 1);
  assert.is(okStatusAt(b(okPayload({ status: 0x0002 }))) & 0x0001, 0);
  // Truncated OK: no status (0), not garbage read past its end.
  assert.is(okStatusAt(b([0x00, 0x00, 0x00, 0x02])), 0);
  // In place, at an offset (the response scanner reads it where the packet starts in a chunk).
  const framed = Buffer.concat([Buffer.from([0xaa, 0xbb, 0xcc]), b(okPayload({ status: 0x2003 }))]);
  assert.is(okStatusAt(framed, 3), 0x2003);
  // 8-byte length-encoded affected rows and insert id (0xFE prefix).
  const big = b(okPayload({ status: 0x0021, affectedRows: 2 ** 40, lastInsertId: 2 ** 50 }));
  assert.is(okStatusAt(big), 0x0021);
});

test("EOF: encode equals the builder's bytes; status flags read back", () => {
  assert.equal(bytesOf(encodeEof(0x0003)), eofPayload(0x0003));
  assert.equal(bytesOf(encodeEof(0x0022, 7)), eofPayload(0x0022, 7));
  assert.is(eofStatusFlags(b(eofPayload(0x0042, 1))), 0x0042);
  assert.is(eofStatusFlags(b([0xfe])), 0, "pre-4.1 EOF has no status");
});

// ---------------------------------------------------------------- auth switch / more data

test("AuthSwitchRequest: plugin name and data (trailing NUL dropped)", () => {
  const scramble = Buffer.from("0123456789abcdefghij");
  const fromServer = [0xfe, ...nulStr("mysql_native_password"), ...scramble, 0];
  assert.equal(decodeAuthSwitch(b(fromServer)), { plugin: "mysql_native_password", data: scramble });
  const encoded = encodeAuthSwitch("caching_sha2_password", Buffer.concat([scramble, Buffer.from([0])]));
  assert.equal(bytesOf(encoded), [0xfe, ...nulStr("caching_sha2_password"), ...scramble, 0]);
  assert.equal(decodeAuthSwitch(encoded), { plugin: "caching_sha2_password", data: scramble });
  assert.equal(decodeAuthSwitch(b([0xfe])), { plugin: "mysql_old_password", data: Buffer.alloc(0) });
  assert.equal(decodeAuthSwitch(b([0xfe, ...str("mysql_clear_password")])), {
    plugin: "mysql_clear_password",
    data: Buffer.alloc(0),
  });
});

test("AuthMoreData: 0x01 then the data", () => {
  assert.equal(bytesOf(encodeAuthMoreData(b([0x03]))), [0x01, 0x03]);
  assert.equal(bytesOf(encodeAuthMoreData(Buffer.alloc(0))), [0x01]);
});

// ---------------------------------------------------------------- COM_CHANGE_USER, statement ids

test("COM_CHANGE_USER: fields as the login's capabilities say; cut short is a ProtocolError", () => {
  const PLUGIN_AUTH = 0x80000;
  const LENENC_DATA = 0x200000;
  const SECURE = 0x8000;
  const ATTRS = 0x100000;
  const attrs = [...lenenc(4), ...lenencStr("a"), ...lenencStr("b")];
  const full = b([
    0x11,
    ...nulStr("alice"),
    ...lenencStr(repeat(0x41, 20)),
    ...nulStr("passtrix"),
    33,
    0,
    ...nulStr("mysql_native_password"),
    ...attrs,
  ]);
  const r = decodeChangeUser(full, PLUGIN_AUTH | LENENC_DATA | SECURE | ATTRS);
  assert.is(r.username, "alice");
  assert.equal(bytesOf(r.authResponse), repeat(0x41, 20));
  assert.is(r.database, "passtrix");
  assert.is(r.collation, 33);
  assert.is(r.authPlugin, "mysql_native_password");
  assert.equal(bytesOf(r.connectAttrs!), attrs);
  // Without CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA: a one-byte length; a packet that ends after the schema.
  const short = decodeChangeUser(b([0x11, ...nulStr("bob"), 2, 9, 9, ...str("db")]), SECURE);
  assert.equal(
    [short.username, bytesOf(short.authResponse), short.database, short.collation],
    ["bob", [9, 9], "db", null],
  );
  try {
    decodeChangeUser(b([0x11, 0x70, 0x6d]), SECURE);
    assert.unreachable();
  } catch (e) {
    assert.instance(e, ProtocolError);
  }
});

test("statement ids: a COM_STMT_* framed with the backend's id; a PREPARE_OK given the client's", () => {
  const execute = b([0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0]);
  const framed = frameWithStatementId(execute, 0x01020304);
  assert.equal(bytesOf(framed), [10, 0, 0, 0, 0x17, 4, 3, 2, 1, 0, 1, 0, 0, 0]);
  assert.equal(bytesOf(execute), [0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0], "the client's payload is left as sent");
  const prepareOk = Buffer.from([12, 0, 0, 1, 0x00, 99, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0]);
  setPrepareOkStatementId(prepareOk, 5);
  assert.equal(bytesOf(prepareOk), [12, 0, 0, 1, 0x00, 5, 0, 0, 0, 1, 0, 2, 0, 0, 0, 0]);
});

test("statement ids: a COM_STMT_* packet as received gets the backend's id in place (no copy)", () => {
  const chunk = Buffer.from([10, 0, 0, 0, 0x17, 7, 0, 0, 0, 0, 1, 0, 0, 0, 0xaa]);
  const raw = chunk.subarray(0, 14);
  const out = patchStatementId(raw, 0x01020304);
  assert.ok(out === raw, "the same buffer");
  assert.equal(bytesOf(chunk), [10, 0, 0, 0, 0x17, 4, 3, 2, 1, 0, 1, 0, 0, 0, 0xaa], "only the id changed");
});

test.run();
