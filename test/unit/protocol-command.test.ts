/**
 * decodeCommand: every command byte 0–255 decodes to the variant the session acts on (or `unknown`
 * with the server's wording), every truncation of a payload pairgate needs fields from decodes to
 * `malformed` or to the fields it carries — never a throw, never a field read past the end; the
 * commands of the hot path decode to shared constants (no allocation).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type ClientCommand, decodeCommand, executeStatementId } from "../../src/protocol/command.js";
import {
  CLIENT_PLUGIN_AUTH,
  CLIENT_SECURE_CONNECTION,
  MARIADB_CLIENT_STMT_BULK_OPERATIONS,
} from "../../src/protocol/constants.js";
import { prng } from "../helpers/prng.js";

const PLAIN = { capabilities: CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH, mariadbCapabilities: 0 };
const BULK = { ...PLAIN, mariadbCapabilities: MARIADB_CLIENT_STMT_BULK_OPERATIONS };

/** The variant each command byte decodes to with a full payload; every other byte is `unknown`. */
const KNOWN = new Map<number, ClientCommand["type"]>([
  [0x01, "quit"],
  [0x02, "init_db"],
  [0x03, "query"],
  [0x04, "field_list"],
  [0x09, "statistics"],
  [0x0c, "process_kill"],
  [0x0e, "ping"],
  [0x11, "change_user"],
  [0x16, "stmt_prepare"],
  [0x17, "stmt_execute"],
  [0x18, "stmt_send_long_data"],
  [0x19, "stmt_close"],
  [0x1a, "stmt_reset"],
  [0x1b, "set_option"],
  [0x1c, "stmt_fetch"],
  [0x1f, "reset_connection"],
  [0xfa, "stmt_bulk_execute"],
]);

/** A well-formed COM_CHANGE_USER for PLAIN's capabilities: user, 20-byte token, schema, collation, plugin. */
function changeUserPayload(): Buffer {
  return Buffer.concat([
    Buffer.from([0x11]),
    Buffer.from("bob\0"),
    Buffer.from([20]),
    Buffer.alloc(20, 7),
    Buffer.from("shop\0"),
    Buffer.from([45, 0]),
    Buffer.from("mysql_native_password\0"),
  ]);
}

/** A full payload for command byte `b`: long enough for every field any command has. */
function fullPayload(b: number): Buffer {
  if (b === 0x11) return changeUserPayload();
  const p = Buffer.alloc(32, 0);
  p[0] = b;
  p.writeUInt32LE(42, 1);
  return p;
}

test("every command byte 0–255 with a full payload: its variant, or unknown with the byte in hex", () => {
  for (let b = 0; b < 256; b++) {
    const d = decodeCommand(fullPayload(b), BULK);
    const want = KNOWN.get(b) ?? "unknown";
    assert.is(d.type, want, `byte 0x${b.toString(16)}`);
    if (d.type === "unknown") {
      assert.is(d.command, b);
      assert.is(
        d.message,
        `Unknown command 0x${b.toString(16).padStart(2, "0")}: pairgate does not relay this command`,
      );
    }
    if ("statementId" in d) assert.is(d.statementId, 42, `statement id of 0x${b.toString(16)}`);
  }
});

test("every command byte alone (a one-byte payload): never throws; the commands that need an id are malformed", () => {
  const needId = new Set([0x0c, 0x17, 0x18, 0x19, 0x1a, 0x1c, 0xfa]);
  for (let b = 0; b < 256; b++) {
    const d = decodeCommand(Buffer.from([b]), BULK);
    if (needId.has(b)) {
      assert.is(d.type, "malformed", `byte 0x${b.toString(16)}`);
      if (d.type !== "malformed") continue;
      assert.is(d.command, b);
      assert.ok(d.message.startsWith("Malformed communication packet: "));
      // CLOSE and SEND_LONG_DATA are never answered, not even with an ERR.
      assert.is(d.answer, b !== 0x18 && b !== 0x19);
    } else if (b === 0x11) assert.is(d.type, "malformed", "a change-user without its user name");
    else assert.is(d.type, KNOWN.get(b) ?? "unknown", `byte 0x${b.toString(16)}`);
  }
});

test("an empty payload is an unknown command (the loop's wording)", () => {
  const d = decodeCommand(Buffer.alloc(0), PLAIN);
  assert.equal(d, { type: "unknown", command: -1, message: "Unknown command: empty packet" });
});

test("statement commands cut at every length: malformed below 5 bytes, the id from 5 on, flags and params where they are", () => {
  const p = Buffer.from([0x17, 0x2a, 0, 0, 0, 0x01, 1, 0, 0, 0, 0xaa, 0xbb]);
  for (let n = 1; n <= p.length; n++) {
    const cut = Buffer.from(p.subarray(0, n));
    const d = decodeCommand(cut, PLAIN);
    if (n < 5) {
      assert.is(d.type, "malformed", `length ${n}`);
      continue;
    }
    assert.is(d.type, "stmt_execute");
    if (d.type !== "stmt_execute") continue;
    assert.is(d.statementId, 42);
    assert.is(d.flags, n >= 6 ? 1 : 0);
    assert.is(d.paramsAt, Math.min(n, 10));
    assert.is(d.truncated, n < 10, `length ${n}`);
    assert.equal(cut, p.subarray(0, n), "the payload is not changed");
  }
});

test("COM_STMT_SEND_LONG_DATA: id, parameter, data offset; cut short, no parameter", () => {
  assert.equal(decodeCommand(Buffer.from([0x18, 5, 0, 0, 0, 3, 0, 0x61]), PLAIN), {
    type: "stmt_send_long_data",
    statementId: 5,
    paramId: 3,
    dataAt: 7,
  });
  assert.equal(decodeCommand(Buffer.from([0x18, 5, 0, 0, 0, 3]), PLAIN), {
    type: "stmt_send_long_data",
    statementId: 5,
    paramId: -1,
    dataAt: 6,
  });
});

test("the 'statement prepared last' id (0xFFFFFFFF) is carried as sent", () => {
  const d = decodeCommand(Buffer.from([0x17, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0, 0]), PLAIN);
  assert.is(d.type === "stmt_execute" && d.statementId, 0xffffffff);
});

test("COM_STMT_BULK_EXECUTE is unknown to a client that did not negotiate bulk operations", () => {
  const p = Buffer.from([0xfa, 1, 0, 0, 0, 0x80, 0]);
  assert.equal(decodeCommand(p, PLAIN), {
    type: "unknown",
    command: 0xfa,
    message: "Unknown command 0xfa: bulk operations were not negotiated",
  });
  const d = decodeCommand(p, BULK);
  assert.is(d.type, "stmt_bulk_execute");
  assert.is(d.type === "stmt_bulk_execute" && d.flags, 0x80);
});

test("COM_PROCESS_KILL: the 4-byte id, malformed when cut", () => {
  assert.equal(decodeCommand(Buffer.from([0x0c, 0x10, 0x27, 0, 0]), PLAIN), {
    type: "process_kill",
    connectionId: 10000,
  });
  for (let n = 1; n < 5; n++) {
    const d = decodeCommand(Buffer.from([0x0c, 0x10, 0x27, 0, 0].slice(0, n)), PLAIN);
    assert.is(d.type === "malformed" && d.message, "Malformed communication packet: connection id missing");
  }
});

test("COM_INIT_DB and COM_SET_OPTION carry their fields", () => {
  assert.equal(decodeCommand(Buffer.from("\x02shop"), PLAIN), { type: "init_db", schema: "shop" });
  assert.equal(decodeCommand(Buffer.from([0x1b, 1, 0]), PLAIN), { type: "set_option", option: 1 });
  assert.equal(decodeCommand(Buffer.from([0x1b, 1]), PLAIN), { type: "set_option", option: null });
});

test("COM_CHANGE_USER: the fields, and every truncation is the request or malformed, never a throw", () => {
  const full = changeUserPayload();
  const d = decodeCommand(full, PLAIN);
  assert.is(d.type, "change_user");
  if (d.type !== "change_user") return;
  assert.is(d.request.username, "bob");
  assert.is(d.request.database, "shop");
  assert.is(d.request.collation, 45);
  assert.is(d.request.authPlugin, "mysql_native_password");
  assert.is(d.request.authResponse.length, 20);
  let malformed = 0;
  for (let n = 1; n < full.length; n++) {
    const c = decodeCommand(Buffer.from(full.subarray(0, n)), PLAIN);
    assert.ok(c.type === "change_user" || c.type === "malformed", `length ${n}: ${c.type}`);
    if (c.type === "malformed") malformed++;
  }
  // The user name and the token are required: cuts inside them are malformed.
  assert.ok(malformed >= 5, `${malformed} malformed cuts`);
});

test("the hot path's commands decode to shared constants (nothing allocated per query)", () => {
  for (const b of [0x01, 0x03, 0x0e, 0x16, 0x1f, 0x09, 0x04]) {
    const a = decodeCommand(Buffer.from([b, 0x53, 0x45]), PLAIN);
    const again = decodeCommand(Buffer.from([b, 0x31]), PLAIN);
    assert.ok(a === again, `byte 0x${b.toString(16)}`);
    assert.ok(Object.isFrozen(a));
  }
});

test("random payloads (seeded): never a throw, every variant's offsets inside the payload", () => {
  const seed = Number(process.env.PAIRGATE_FUZZ_SEED ?? 23);
  const rng = prng(seed);
  for (let i = 0; i < 20000; i++) {
    const p = rng.bytes(rng.int(24));
    if (p.length > 0 && rng.next() < 0.7) p[0] = rng.pick([...KNOWN.keys()]);
    let d: ClientCommand;
    try {
      d = decodeCommand(p, rng.next() < 0.5 ? PLAIN : BULK);
    } catch (e) {
      throw new Error(`seed ${seed}, payload ${p.toString("hex")}: ${(e as Error).message}`);
    }
    if ("paramsAt" in d) assert.ok(d.paramsAt <= p.length);
    if ("dataAt" in d) assert.ok(d.dataAt <= p.length);
  }
});

test("executeStatementId agrees with decodeCommand: the id of every well-formed EXECUTE, -1 for anything else", () => {
  const rnd = prng(25);
  for (let cmd = 0; cmd < 256; cmd++)
    for (let len = 0; len <= 14; len++) {
      const p = rnd.bytes(len);
      if (len > 0) p[0] = cmd;
      const d = decodeCommand(p, BULK);
      const want = d.type === "stmt_execute" ? d.statementId : -1;
      assert.is(executeStatementId(p), want, `command 0x${cmd.toString(16)}, ${len} bytes`);
    }
  assert.is(executeStatementId(Buffer.from([0x17, 0xff, 0xff, 0xff, 0xff, 0])), 0xffffffff);
});

test.run();
