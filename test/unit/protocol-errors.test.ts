/**
 * One error base class, stable codes, one table to the MySQL errno/SQLSTATE a client sees.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { BackendError } from "../../src/backend/connection.js";
import { ConfigError } from "../../src/config/load.js";
import { HandshakeError } from "../../src/frontend/handshake.js";
import { ERROR_CODES, errPacketOf, PairgateError, ServerError } from "../../src/protocol/errors.js";
import { ProtocolError } from "../../src/protocol/packet.js";

test("every code maps to an errno and a 5-character SQLSTATE", () => {
  for (const [code, e] of Object.entries(ERROR_CODES)) {
    assert.match(code, /^PAIRGATE_[A-Z0-9_]+$/);
    assert.ok(Number.isInteger(e.errno) && e.errno >= 0, code);
    assert.match(e.sqlState, /^[0-9A-Z]{5}$/, code);
  }
});

test("the errors a client sees, by code", () => {
  const cases: [PairgateError, number, string][] = [
    [new PairgateError("PAIRGATE_READ_ONLY", "ro"), 1290, "HY000"],
    [new PairgateError("PAIRGATE_TRANSACTION_LOST", "gone"), 1927, "70100"],
    [new PairgateError("PAIRGATE_DOWN", "down"), 2003, "HY000"],
    [new PairgateError("PAIRGATE_AUDIT_REFUSED", "disk"), 3, "HY000"],
    [new PairgateError("PAIRGATE_SHUTDOWN", "bye"), 1053, "08S01"],
    [new ProtocolError("short"), 1835, "HY000"],
    [new ProtocolError("big", "PAIRGATE_PACKET_TOO_LARGE"), 1153, "08S01"],
    [new BackendError("refused", "PAIRGATE_BACKEND_UNREACHABLE", "primary"), 2003, "HY000"],
    [new HandshakeError("no", "PAIRGATE_AUTH_DENIED", "u"), 1045, "28000"],
    [new ServerError(1146, "42S02", "Table 'x' doesn't exist"), 1146, "42S02"],
  ];
  for (const [e, errno, sqlState] of cases) {
    assert.instance(e, PairgateError);
    assert.instance(e, Error);
    assert.equal(errPacketOf(e), { code: errno, sqlState, message: e.message }, e.code);
  }
  assert.is(new ServerError(1045, "28000", "denied").code, "PAIRGATE_SERVER");
  assert.is(new ConfigError("/x.json", ["bad"]).code, "PAIRGATE_CONFIG_INVALID");
  assert.is(new ProtocolError("x").name, "ProtocolError");
});

test("anything else reaches a client as 2003", () => {
  assert.equal(errPacketOf(new Error("boom")), { code: 2003, sqlState: "HY000", message: "boom" });
});

test.run();
