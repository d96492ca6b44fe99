/**
 * The secondary's own read-only refusal turned into pairgate's 1290 when it ends a response whose
 * earlier results already went out (secondary-guard.ts `withGuardRefusalReplaced`): only the
 * trailing ERR changes, its sequence id kept; an ERR that does not lie whole in the chunk, or that
 * is not a refusal, is left alone.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { encodeEof, encodeErr } from "../../src/protocol/messages.js";
import { framePayload } from "../../src/protocol/packet.js";
import { READ_ONLY_MESSAGE } from "../../src/routing/router.js";
import { withGuardRefusalReplaced } from "../../src/session/secondary-guard.js";

const err = (code: number, seq: number) =>
  framePayload(
    encodeErr({ code, sqlState: "25006", message: "Cannot execute statement in a READ ONLY transaction" }),
    seq,
  );
const row = framePayload(Buffer.from([0x01, 0x31]), 3);
const eof = framePayload(encodeEof(0x0008), 4);

test("a trailing 1792 after a result becomes pairgate's 1290 with the same sequence id", () => {
  const e = err(1792, 5);
  const chunk = Buffer.concat([row, eof, e]);
  const out = withGuardRefusalReplaced(chunk, e.length - 4);
  assert.ok(out);
  assert.equal(
    out!.subarray(0, row.length + eof.length),
    Buffer.concat([row, eof]),
    "the result is untouched",
  );
  const tail = out!.subarray(row.length + eof.length);
  const len = tail[0]! | (tail[1]! << 8) | (tail[2]! << 16);
  assert.is(tail.length, len + 4, "one whole packet");
  assert.is(tail[3], 5, "the server's sequence id");
  assert.is(tail[4], 0xff);
  assert.is(tail.readUInt16LE(5), 1290);
  assert.is(tail.subarray(7, 13).toString(), "#HY000");
  assert.is(tail.subarray(13).toString(), READ_ONLY_MESSAGE);
});

test("1290 and 1836 of the server's are refusals too; another error or a split ERR is left alone", () => {
  for (const code of [1290, 1836]) {
    const e = err(code, 2);
    assert.ok(withGuardRefusalReplaced(Buffer.concat([row, e]), e.length - 4), String(code));
  }
  const other = err(1146, 2);
  assert.is(withGuardRefusalReplaced(Buffer.concat([row, other]), other.length - 4), null, "not a refusal");
  const e = err(1792, 2);
  assert.is(
    withGuardRefusalReplaced(e.subarray(10), e.length - 4),
    null,
    "its first bytes were in an earlier chunk",
  );
  assert.is(
    withGuardRefusalReplaced(Buffer.concat([row, e]), e.length - 5),
    null,
    "a length that does not match",
  );
});

test.run();
