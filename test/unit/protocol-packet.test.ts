/**
 * packet.ts: framePayload / packetCount against the independent builder (including payloads of
 * exactly 0xFFFFFF and 2 × 0xFFFFFF bytes, which must end with an empty packet), PacketReader
 * bounds (a truncated packet throws ProtocolError), and length-encoded integers at every boundary.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  framePayload,
  PacketReader,
  PacketWriter,
  ProtocolError,
  packetCount,
} from "../../src/protocol/packet.js";
import {
  type Bytes,
  bigPackets,
  int2,
  int3,
  int4,
  int8,
  lenenc,
  lenencStr,
  MAX_PAYLOAD,
  nulStr,
  packet,
  str,
} from "../helpers/wire.js";

const bytesOf = (b: Uint8Array) => [...b];

function throwsProtocolError(fn: () => unknown, label: string): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ProtocolError, label);
    assert.is((e as ProtocolError).code, "PAIRGATE_PROTOCOL", label);
    return;
  }
  assert.unreachable(`${label}: should have thrown`);
}

// ---------------------------------------------------------------- framing

test("framePayload: short payloads are one packet", () => {
  for (const len of [0, 1, 250, 251, 0xffff, 0x10000]) {
    const payload = Array.from({ length: len }, (_, i) => (i * 31) & 0xff);
    for (const seq of [0, 1, 255]) {
      const got = framePayload(Buffer.from(payload), seq);
      assert.equal(bytesOf(got), packet(seq, payload), `len ${len}, seq ${seq}`);
    }
    assert.is(packetCount(len), 1);
  }
});

test("framePayload: 0xFFFFFF - 1 bytes is still one packet", () => {
  const payload = Buffer.alloc(MAX_PAYLOAD - 1, 0x5a);
  const got = framePayload(payload, 3);
  assert.is(got.length, 4 + MAX_PAYLOAD - 1);
  assert.equal(bytesOf(got.subarray(0, 4)), [...int3(MAX_PAYLOAD - 1), 3]);
  assert.is(packetCount(MAX_PAYLOAD - 1), 1);
});

test("framePayload: exactly 0xFFFFFF, 0xFFFFFF + 1, 2 × 0xFFFFFF, 2 × 0xFFFFFF + 1 bytes", () => {
  const cases = [
    { len: MAX_PAYLOAD, lens: [MAX_PAYLOAD, 0] },
    { len: MAX_PAYLOAD + 1, lens: [MAX_PAYLOAD, 1] },
    { len: 2 * MAX_PAYLOAD, lens: [MAX_PAYLOAD, MAX_PAYLOAD, 0] },
    { len: 2 * MAX_PAYLOAD + 1, lens: [MAX_PAYLOAD, MAX_PAYLOAD, 1] },
  ];
  for (const { len, lens } of cases) {
    const payload = Buffer.alloc(len);
    for (let i = 0; i < len; i += 65521) payload[i] = (i >>> 16) & 0xff;
    payload[len - 1] = 0x77;
    for (const seq of [0, 254]) {
      const got = framePayload(payload, seq);
      const want = bigPackets(payload, seq);
      assert.ok(got.equals(want.bytes), `len ${len}, seq ${seq}: same bytes as the builder`);
      // And the headers, spelled out: lengths as listed, sequence ids counting up and wrapping.
      let off = 0;
      lens.forEach((n, k) => {
        assert.equal(
          bytesOf(got.subarray(off, off + 4)),
          [...int3(n), (seq + k) & 0xff],
          `len ${len}: header ${k}`,
        );
        off += 4 + n;
      });
      assert.is(off, got.length, `len ${len}: nothing after the last packet`);
      assert.is(packetCount(len), lens.length, `packetCount(${len})`);
      assert.is(want.nextSeq - seq, packetCount(len));
    }
  }
});

// ---------------------------------------------------------------- lenenc

const boundaries = [
  0,
  1,
  250,
  251,
  252,
  0xfffe,
  0xffff,
  0x10000,
  0xfffffe,
  0xffffff,
  0x1000000,
  0x1000001,
  2 ** 32 - 1,
  2 ** 32,
  2 ** 53 - 1,
];

test("lenenc: writer output equals the builder's, reader gets the value back", () => {
  for (const v of boundaries) {
    const want = lenenc(v);
    const written = new PacketWriter(1).lenenc(v).payload();
    assert.equal(bytesOf(written), want, `write ${v}`);
    const r = new PacketReader(Buffer.from([...want, 0x99]));
    assert.is(r.lenenc(), v, `read ${v}`);
    assert.is(r.offset, want.length, `read ${v}: consumed`);
    assert.is(r.u8(), 0x99);
  }
});

test("lenenc: sizes at the boundaries", () => {
  const size = (v: number) => new PacketWriter().lenenc(v).payload().length;
  assert.is(size(250), 1);
  assert.is(size(251), 3);
  assert.is(size(0xffff), 3);
  assert.is(size(0x10000), 4);
  assert.is(size(0xffffff), 4);
  assert.is(size(0x1000000), 9);
  assert.equal(lenenc(251), [0xfc, 0xfb, 0x00]);
  assert.equal(lenenc(0x10000), [0xfd, 0x00, 0x00, 0x01]);
  assert.equal(lenenc(0x1000000), [0xfe, 0, 0, 0, 1, 0, 0, 0, 0]);
});

test("lenenc: 0xFB (NULL) and 0xFF are not lengths", () => {
  for (const first of [0xfb, 0xff]) {
    throwsProtocolError(
      () => new PacketReader(Buffer.from([first, 0, 0, 0, 0, 0, 0, 0, 0])).lenenc(),
      `0x${first.toString(16)}`,
    );
  }
});

test("lenenc strings round trip at the boundaries", () => {
  for (const n of [0, 250, 251, 0xffff, 0x10000]) {
    const s = "é".repeat(Math.floor(n / 2)) + "x".repeat(n % 2);
    const written = new PacketWriter(4).lenencString(s).payload();
    assert.equal(bytesOf(written), lenencStr(s), `length ${n}`);
    assert.is(new PacketReader(written).lenencString(), s);
  }
});

// ---------------------------------------------------------------- reader

test("PacketReader: fixed-size integers, little-endian", () => {
  const r = new PacketReader(Buffer.from([0x7f, ...int2(0xbeef), ...int3(0xc0ffee), ...int4(0xdeadbeef)]));
  assert.is(r.u8(), 0x7f);
  assert.is(r.u16(), 0xbeef);
  assert.is(r.u24(), 0xc0ffee);
  assert.is(r.u32(), 0xdeadbeef);
  assert.is(r.remaining(), 0);
});

test("PacketReader: every read of a truncated packet throws ProtocolError", () => {
  const reads: [string, Bytes, (r: PacketReader) => unknown][] = [
    ["u8 of nothing", [], (r) => r.u8()],
    ["u16 of 1 byte", [1], (r) => r.u16()],
    ["u24 of 2 bytes", [1, 2], (r) => r.u24()],
    ["u32 of 3 bytes", [1, 2, 3], (r) => r.u32()],
    ["lenenc of nothing", [], (r) => r.lenenc()],
    ["lenenc 0xFC + 1 byte", [0xfc, 1], (r) => r.lenenc()],
    ["lenenc 0xFD + 2 bytes", [0xfd, 1, 2], (r) => r.lenenc()],
    ["lenenc 0xFE + 7 bytes", [0xfe, 1, 2, 3, 4, 5, 6, 7], (r) => r.lenenc()],
    ["bytes(4) of 3", [1, 2, 3], (r) => r.bytes(4)],
    ["skip(2) of 1", [1], (r) => r.skip(2)],
    ["nulString without NUL", str("abc"), (r) => r.nulString()],
    ["nulBytes of nothing", [], (r) => r.nulBytes()],
    ["lenencString longer than the packet", [5, ...str("abc")], (r) => r.lenencString()],
    ["lenencBytes 0xFC length beyond the end", [0xfc, 0x00, 0x01, 1, 2], (r) => r.lenencBytes()],
  ];
  for (const [label, bytes, read] of reads)
    throwsProtocolError(() => read(new PacketReader(Buffer.from(bytes))), label);
});

test("PacketReader: `end` bounds every read, even when the buffer goes on", () => {
  // A reader over the first packet of a chunk that holds two: nothing may be read from the second.
  const buf = Buffer.from([...str("ab"), 0x00, 0x01, 0x02, 0x03, 0x04]);
  const end = 2; // the payload is "ab"; the NUL at 2 belongs to the next packet
  throwsProtocolError(() => new PacketReader(buf, 0, end).nulString(), "NUL after end");
  throwsProtocolError(() => new PacketReader(buf, 0, end).u24(), "u24 across end");
  throwsProtocolError(() => new PacketReader(buf, 2, end).u8(), "u8 at end");
  const r = new PacketReader(buf, 0, end);
  assert.is(r.nulOrRest(), "ab", "nulOrRest stops at end");
  assert.is(r.remaining(), 0);
  assert.equal(bytesOf(new PacketReader(buf, 1, end).restBytes()), [0x62]);
  // And a reader starting at an offset.
  const s = new PacketReader(buf, 3);
  assert.is(s.u32(), 0x04030201);
});

test("PacketReader: strings (NUL-terminated, NUL-or-rest, length-encoded, rest)", () => {
  const buf = Buffer.from([
    ...nulStr("root"),
    ...lenencStr("pässword"),
    ...str("mysql_native_password"),
    0,
    ...str("tail"),
  ]);
  const r = new PacketReader(buf);
  assert.is(r.nulString(), "root");
  assert.is(r.lenencString(), "pässword");
  assert.is(r.nulOrRest(), "mysql_native_password");
  assert.is(r.nulOrRest(), "tail", "no NUL: the rest of the packet");
  assert.is(r.remaining(), 0);
  assert.is(r.restString(), "");
  const e = new PacketReader(Buffer.from([0]));
  assert.is(e.nulString(), "");
  assert.equal(bytesOf(new PacketReader(Buffer.from([1, 2, 3]), 1).restBytes()), [2, 3]);
});

// ---------------------------------------------------------------- writer

test("PacketWriter: integers, strings and zeros equal the builder's bytes, growing as needed", () => {
  const w = new PacketWriter(2);
  w.u8(0x0a).u16(0xbeef).u24(0xc0ffee).u32(0xdeadbeef).u32(-1);
  w.nulString("5.5.5-10.11")
    .string("é")
    .zeros(3)
    .lenencString("x".repeat(300))
    .bytes(new Uint8Array([9, 8]));
  const want = [
    0x0a,
    ...int2(0xbeef),
    ...int3(0xc0ffee),
    ...int4(0xdeadbeef),
    0xff,
    0xff,
    0xff,
    0xff,
    ...nulStr("5.5.5-10.11"),
    ...str("é"),
    0,
    0,
    0,
    ...lenencStr("x".repeat(300)),
    9,
    8,
  ];
  assert.equal(bytesOf(w.payload()), want);
  assert.equal(bytesOf(new PacketWriter().lenenc(2 ** 40).payload()), [0xfe, ...int8(2 ** 40)]);
});

test("a payload written, framed and framed back reads the same", () => {
  const payload = new PacketWriter().u8(0x03).string("SELECT 1").payload();
  const framed = framePayload(payload, 0);
  assert.equal(bytesOf(framed), packet(0, [0x03, ...str("SELECT 1")]));
});

test.run();
