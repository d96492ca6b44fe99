/**
 * ResponseScanner with rows of 0xFFFFFF bytes and more: such a row is split over several packets,
 * and only the first part has a head. A continuation packet may start with 0xFE or 0xFF (it is
 * the middle of a value) or be empty; none of that may end the response. These streams are
 * 16 MiB and more, so they are cut around every packet header and head boundary, not everywhere.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ResponseKind, ResponseScanner } from "../../src/protocol/response-scanner.js";
import {
  around,
  type Bytes,
  bigPackets,
  binaryRowPayload,
  chunkings,
  columnDefPayload,
  eofPayload,
  int3,
  lenenc,
  MAX_PAYLOAD,
  okPayload,
  packets,
  terminatorPayload,
  textRowPayload,
} from "../helpers/wire.js";

const CLASSIC = 0x200;
const DEPRECATE = 0x200 | 0x1000000;
const MODES = [
  { name: "classic EOF", caps: CLASSIC, deprecateEof: false },
  { name: "CLIENT_DEPRECATE_EOF", caps: DEPRECATE, deprecateEof: true },
] as const;
const AUTOCOMMIT = 0x2;
const IN_TRANS = 0x1;
const MORE_RESULTS = 0x8;

/**
 * A text-row payload of exactly `total` bytes: one column, or (when no length prefix fits that
 * size exactly) a short first column and a long second one. Value bytes are `fill`, except that
 * the payload ends with `tail`.
 */
function textRowOfSize(total: number, fill: number, tail: Bytes = []): Buffer {
  for (let pad = -1; pad <= 16; pad++) {
    const padBytes = pad < 0 ? 0 : 1 + pad; // -1: no first column
    for (const prefix of [1, 3, 4, 9]) {
      const valueLen = total - padBytes - prefix;
      const enc = lenenc(valueLen);
      if (valueLen < 0 || enc.length !== prefix) continue;
      const out = Buffer.alloc(total, fill);
      if (pad >= 0) out[0] = pad;
      out.set(enc, padBytes);
      out.set(tail, total - tail.length);
      return out;
    }
  }
  throw new Error(`no text row of ${total} bytes`);
}

/** Offsets of every packet header in a stream, found by walking the 3-byte lengths. */
function headerOffsets(buf: Buffer): number[] {
  const out: number[] = [];
  let off = 0;
  while (off < buf.length) {
    out.push(off);
    off += 4 + (buf[off] | (buf[off + 1] << 8) | (buf[off + 2] << 16));
  }
  assert.is(off, buf.length, "the test stream is well formed");
  return out;
}

/** Cut points: around every header, inside each header, at the end of each 24-byte head, and near the end. */
function samplePoints(buf: Buffer): number[] {
  const pts: number[] = [];
  for (const h of headerOffsets(buf)) pts.push(...around(h, h + 2, h + 4, h + 4 + 24, h + 4 + 9));
  pts.push(...around(buf.length - 1, Math.floor(buf.length / 2)));
  return [...new Set(pts)].filter((p) => p > 0 && p < buf.length).sort((a, b) => a - b);
}

function scanBig(kind: ResponseKind, caps: number, stream: Buffer, expect: { status: number }) {
  for (const { label, chunks } of chunkings(stream, { points: samplePoints(stream), views: true })) {
    const s = new ResponseScanner();
    s.begin(kind, caps);
    chunks.forEach((c, i) => {
      const last = i === chunks.length - 1;
      const r = s.feed(c);
      if (r !== last || s.done !== last) assert.unreachable(`${label}: chunk ${i + 1} → ${r}, want ${last}`);
    });
    assert.is(s.status, expect.status, label);
    assert.is(s.failed, false, label);
  }
  // And in 64 KiB chunks, as a socket would deliver it.
  const s = new ResponseScanner();
  s.begin(kind, caps);
  for (let off = 0; off < stream.length; off += 65536) {
    const end = Math.min(stream.length, off + 65536);
    assert.is(s.feed(stream.subarray(off, end)), end === stream.length, `64 KiB chunk at ${off}`);
  }
}

/** A one-column text result whose rows are the given payloads (big ones split), and its terminator. */
function textResult(deprecateEof: boolean, rows: Buffer[], status: number, extraAfter: Bytes[] = []): Buffer {
  const head: Bytes[] = [lenenc(1), columnDefPayload({ name: "blob", type: 0xfc, charset: 63 })];
  if (!deprecateEof) head.push(eofPayload(status));
  const parts: Buffer[] = [Buffer.from(packets(head, 1))];
  let seq = 1 + head.length;
  for (const row of rows) {
    const framed = bigPackets(row, seq);
    parts.push(framed.bytes);
    seq = framed.nextSeq;
  }
  parts.push(Buffer.from(packets([terminatorPayload(deprecateEof, status), ...extraAfter], seq)));
  return Buffer.concat(parts);
}

test("a row of exactly 0xFFFFFF bytes: the split packet and its empty continuation", () => {
  for (const m of MODES) {
    const row = textRowOfSize(MAX_PAYLOAD, 0x61);
    const stream = textResult(m.deprecateEof, [row, Buffer.from(textRowPayload(["small"]))], AUTOCOMMIT);
    // The split row is a full packet then an empty one.
    const offs = headerOffsets(stream);
    const rowAt = offs[m.deprecateEof ? 2 : 3];
    assert.equal([...stream.subarray(rowAt, rowAt + 4)], [...int3(MAX_PAYLOAD), m.deprecateEof ? 3 : 4]);
    assert.equal(
      [...stream.subarray(rowAt + 4 + MAX_PAYLOAD, rowAt + 8 + MAX_PAYLOAD)],
      [0, 0, 0, m.deprecateEof ? 4 : 5],
    );
    scanBig(ResponseKind.Query, m.caps, stream, { status: AUTOCOMMIT });
  }
});

test("continuations that look like EOF, 0xFE-OK, ERR or LOCAL INFILE do not end the response", () => {
  const tails: [string, Bytes][] = [
    ["0xFE alone", [0xfe]],
    ["a classic EOF", eofPayload(AUTOCOMMIT)],
    ["a 0xFE-OK", okPayload({ header: 0xfe, status: AUTOCOMMIT })],
    ["an ERR", [0xff, 0x7a, 0x04, 0x23, ...Buffer.from("42S02oops")]],
    ["0xFF alone", [0xff]],
    ["0xFB", [0xfb, 0x41]],
  ];
  for (const m of MODES) {
    for (const [name, tail] of tails) {
      // A row of 0xFFFFFF + tail.length bytes whose last bytes (the continuation) are `tail`.
      const total = MAX_PAYLOAD + tail.length;
      const row = textRowOfSize(total, 0x61, tail);
      const stream = textResult(m.deprecateEof, [row, row], IN_TRANS | AUTOCOMMIT);
      const s = new ResponseScanner();
      s.begin(ResponseKind.Query, m.caps);
      // Feed up to and including the first continuation: not done.
      const offs = headerOffsets(stream);
      const contAt = offs[m.deprecateEof ? 3 : 4];
      assert.equal([...stream.subarray(contAt + 4, contAt + 4 + tail.length)], tail, name);
      assert.is(s.feed(stream.subarray(0, contAt + 4 + tail.length)), false, `${m.name}: ${name}`);
      assert.is(s.feed(stream.subarray(contAt + 4 + tail.length)), true, `${m.name}: ${name}`);
      assert.is(s.status, IN_TRANS | AUTOCOMMIT);
      if (name === "a classic EOF" || name === "a 0xFE-OK") {
        scanBig(ResponseKind.Query, m.caps, stream, {
          status: IN_TRANS | AUTOCOMMIT,
        });
      }
    }
  }
});

test("a row of 16 MiB + 10 bytes whose first packet starts with 0xFE (8-byte length prefix)", () => {
  for (const m of MODES) {
    const total = 16 * 1024 * 1024 + 10;
    const row = textRowOfSize(total, 0xfe, [0xff, 0xfe, 0xff]);
    assert.is(row[0], 0xfe, "a value of 16 MiB + 1 bytes has a 0xFE-prefixed length");
    assert.is(row.length - MAX_PAYLOAD, 11);
    const stream = textResult(m.deprecateEof, [row], AUTOCOMMIT);
    scanBig(ResponseKind.Query, m.caps, stream, { status: AUTOCOMMIT });
  }
});

test("a row of 2 × 0xFFFFFF bytes: two full packets and an empty one, then more results", () => {
  for (const m of MODES) {
    const row = textRowOfSize(2 * MAX_PAYLOAD, 0xfe);
    const more = AUTOCOMMIT | MORE_RESULTS;
    const stream = textResult(m.deprecateEof, [row], more, [okPayload({ status: IN_TRANS })]);
    const offs = headerOffsets(stream);
    const lens = offs.map((o) => stream[o] | (stream[o + 1] << 8) | (stream[o + 2] << 16));
    assert.ok(lens.join(",").includes(`${MAX_PAYLOAD},${MAX_PAYLOAD},0,`), "split as MAX, MAX, 0");
    scanBig(ResponseKind.Query, m.caps, stream, { status: IN_TRANS });
  }
});

test("binary rows of 0xFFFFFF and more for COM_STMT_EXECUTE and COM_STMT_FETCH", () => {
  for (const m of MODES) {
    // A binary row: 0x00, a one-byte NULL bitmap, then a BLOB as a length-encoded string.
    const binRow = (total: number, fill: number) =>
      Buffer.concat([Buffer.from([0x00, 0x00]), textRowOfSize(total - 2, fill)]);
    const rows = [
      binRow(MAX_PAYLOAD, 0xfe),
      binRow(MAX_PAYLOAD + 5, 0xff),
      Buffer.from(binaryRowPayload([1])),
    ];
    const head: Bytes[] = [lenenc(1), columnDefPayload({ name: "b", type: 0xfc, charset: 63 })];
    if (!m.deprecateEof) head.push(eofPayload(AUTOCOMMIT));
    const parts: Buffer[] = [Buffer.from(packets(head, 1))];
    let seq = 1 + head.length;
    for (const r of rows) {
      const f = bigPackets(r, seq);
      parts.push(f.bytes);
      seq = f.nextSeq;
    }
    parts.push(Buffer.from(packets([terminatorPayload(m.deprecateEof, IN_TRANS)], seq)));
    const stream = Buffer.concat(parts);
    scanBig(ResponseKind.Execute, m.caps, stream, { status: IN_TRANS });

    // The same rows as a COM_STMT_FETCH answer (no metadata).
    const fetchParts: Buffer[] = [];
    seq = 1;
    for (const r of rows) {
      const f = bigPackets(r, seq);
      fetchParts.push(f.bytes);
      seq = f.nextSeq;
    }
    fetchParts.push(Buffer.from(packets([terminatorPayload(m.deprecateEof, 0x80 | AUTOCOMMIT)], seq)));
    scanBig(ResponseKind.Fetch, m.caps, Buffer.concat(fetchParts), { status: 0x82 });
  }
});

test("a single-packet answer of 0xFFFFFF bytes or more ends only after its last continuation", () => {
  // Not a shape servers send in practice (COM_STATISTICS is short), but the framing rule holds.
  for (const len of [MAX_PAYLOAD, MAX_PAYLOAD + 3]) {
    const payload = Buffer.alloc(len, 0x55);
    const stream = bigPackets(payload, 1).bytes;
    const s = new ResponseScanner();
    s.begin(ResponseKind.Single, CLASSIC);
    assert.is(s.feed(stream.subarray(0, 4 + MAX_PAYLOAD)), false, `${len}: first packet alone`);
    assert.is(s.feed(stream.subarray(4 + MAX_PAYLOAD)), true, `${len}: with the continuation`);
  }
});

test.run();
