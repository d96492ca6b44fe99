/**
 * PacketFramer: whole logical packets out of a byte stream, cut at every point; split
 * (0xFFFFFF-byte) packets joined with the first and last sequence ids; a payload over the limit
 * refused as soon as its header is seen.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { type Packet, PacketFramer } from "../../src/protocol/framer.js";
import { ProtocolError } from "../../src/protocol/packet.js";
import {
  around,
  type Bytes,
  bigPackets,
  chunkings,
  int3,
  MAX_PAYLOAD,
  packet,
  str,
} from "../helpers/wire.js";

interface Want {
  seq: number;
  lastSeq: number;
  payload: Bytes | Buffer;
}

/**
 * Feeds the chunks and returns every packet. Payloads are copied when `copy` (they may be views
 * into chunks, and small-stream tests scribble over chunks once fed).
 */
function run(framer: PacketFramer, chunks: Buffer[], copy = true): Packet[] {
  const out: Packet[] = [];
  for (const c of chunks) {
    for (const p of framer.push(c))
      out.push(
        // The fields one by one: a packet's derived fields are getters, which a spread would not copy.
        copy
          ? {
              seq: p.seq,
              lastSeq: p.lastSeq,
              payload: Buffer.from(p.payload),
              length: p.length,
              first: p.first,
              raw: p.raw,
              rawParts: p.rawParts,
            }
          : p,
      );
  }
  return out;
}

function same(got: ReturnType<typeof run>, want: Want[], label: string): void {
  assert.is(got.length, want.length, `${label}: packet count`);
  want.forEach((w, i) => {
    assert.is(got[i].seq, w.seq, `${label}: seq of packet ${i}`);
    assert.is(got[i].lastSeq, w.lastSeq, `${label}: lastSeq of packet ${i}`);
    const wp = Buffer.from(w.payload as Uint8Array);
    assert.ok(
      got[i].payload.equals(wp),
      `${label}: payload of packet ${i} (${got[i].payload.length} vs ${wp.length})`,
    );
  });
}

test("one packet, cut at every point and fed byte by byte", () => {
  const payload = [0x03, ...str("SELECT * FROM credentials WHERE id = 42")];
  for (const { label, chunks } of chunkings(packet(0, payload), { byteByByte: true })) {
    const f = new PacketFramer(1 << 20);
    const got: ReturnType<typeof run> = [];
    chunks.forEach((c, i) => {
      const r = run(f, [c]);
      if (i < chunks.length - 1) {
        assert.is(r.length, 0, `${label}: nothing before the last byte`);
        assert.is(
          f.buffered(),
          chunks.slice(0, i + 1).reduce((n, x) => n + x.length, 0),
          `${label}: buffered`,
        );
      }
      got.push(...r);
    });
    same(got, [{ seq: 0, lastSeq: 0, payload }], label);
    assert.is(f.buffered(), 0);
  }
});

test("several packets in one chunk, and in every two-chunk cut", () => {
  const payloads: Bytes[] = [
    [0x0e], // COM_PING
    [], // an empty packet (end of LOCAL INFILE data)
    [0x03, ...str("BEGIN")],
    [0x16, ...str("SELECT ?")],
    new Array(300).fill(0x61),
    [0x01],
  ];
  const stream: Bytes = [];
  payloads.forEach((p, i) => {
    stream.push(...packet((i * 7) & 0xff, p));
  });
  const want = payloads.map((payload, i) => ({ seq: (i * 7) & 0xff, lastSeq: (i * 7) & 0xff, payload }));
  for (const { label, chunks } of chunkings(stream, { byteByByte: true })) {
    const f = new PacketFramer(1 << 20);
    same(run(f, chunks), want, label);
    assert.is(f.buffered(), 0, label);
  }
});

test("three-chunk cuts across two packet headers", () => {
  const a = packet(1, [1, 2, 3]);
  const b = packet(2, [4, 5]);
  const stream = Buffer.from([...a, ...b]);
  for (let i = 1; i < stream.length; i++) {
    for (let j = i + 1; j < stream.length; j++) {
      const f = new PacketFramer(100);
      const got = run(f, [stream.subarray(0, i), stream.subarray(i, j), stream.subarray(j)]);
      same(
        got,
        [
          { seq: 1, lastSeq: 1, payload: [1, 2, 3] },
          { seq: 2, lastSeq: 2, payload: [4, 5] },
        ],
        `cuts ${i}, ${j}`,
      );
    }
  }
});

test("payloads stay intact after the chunk they came from is reused", () => {
  // A packet's payload may be a view into a chunk (or into the framer's own copy). Once push()
  // returned, the caller's next chunk may arrive in the same memory; packets already returned and
  // any tail kept for later must not change. Here the framer's copy of the tail is what matters.
  const f = new PacketFramer(1000);
  const chunk = Buffer.from([...packet(0, [0x0e]), ...packet(1, [0x03, 0x41]).slice(0, 5)]);
  const first = f.push(chunk);
  assert.equal([...first[0].payload], [0x0e]);
  chunk.fill(0xee); // the socket layer reuses its read buffer
  const second = f.push(Buffer.from([0x42]));
  assert.equal([...second[0].payload], [0x03, 0x42]);
});

test("split packets: 0xFFFFFF payload + empty packet, 0xFFFFFF + n, 2 × 0xFFFFFF + empty", () => {
  const cases = [
    { len: MAX_PAYLOAD, parts: 2 },
    { len: MAX_PAYLOAD + 1, parts: 2 },
    { len: 2 * MAX_PAYLOAD, parts: 3 },
  ];
  for (const { len, parts } of cases) {
    const payload = Buffer.alloc(len);
    for (let i = 0; i < len; i += 4093) payload[i] = (i / 4093) & 0xff;
    payload[len - 1] = 0xab;
    const first = 254; // sequence ids wrap: 254, 255, 0, ...
    const framed = bigPackets(payload, first);
    assert.is(framed.nextSeq - first, parts);
    const next = packet(framed.nextSeq, [0x0e]);
    const stream = Buffer.concat([framed.bytes, Buffer.from(next)]);
    const lastSeq = (first + parts - 1) & 0xff;
    const want: Want[] = [
      { seq: first, lastSeq, payload },
      { seq: framed.nextSeq & 0xff, lastSeq: framed.nextSeq & 0xff, payload: [0x0e] },
    ];
    const headers = [0, 4 + MAX_PAYLOAD, 2 * (4 + MAX_PAYLOAD), framed.bytes.length].filter(
      (o) => o <= stream.length,
    );
    const points = around(...headers.flatMap((h) => [h, h + 2, h + 4]), Math.floor(stream.length / 2));
    for (const { label, chunks } of chunkings(stream, { points, views: true })) {
      const f = new PacketFramer(64 * 1024 * 1024);
      same(run(f, chunks, false), want, `${len}: ${label}`);
      assert.is(f.buffered(), 0);
    }
    // In 64 KiB chunks, as a socket delivers it.
    const f = new PacketFramer(64 * 1024 * 1024);
    const chunks: Buffer[] = [];
    for (let off = 0; off < stream.length; off += 65536) chunks.push(stream.subarray(off, off + 65536));
    same(run(f, chunks, false), want, `${len}: 64 KiB chunks`);
  }
});

function tooLarge(fn: () => unknown, label: string): void {
  try {
    fn();
  } catch (e) {
    assert.instance(e, ProtocolError, label);
    assert.is((e as ProtocolError).code, "PAIRGATE_PACKET_TOO_LARGE", label);
    return;
  }
  assert.unreachable(`${label}: should have thrown`);
}

test("a payload over the limit throws PAIRGATE_PACKET_TOO_LARGE as soon as the header is seen", () => {
  // Exactly the limit is fine.
  const f = new PacketFramer(10);
  same(
    run(f, [Buffer.from(packet(0, new Array(10).fill(1)))]),
    [{ seq: 0, lastSeq: 0, payload: new Array(10).fill(1) }],
    "at the limit",
  );
  // One over: only the 4-byte header has arrived, and the framer refuses already.
  tooLarge(() => new PacketFramer(10).push(Buffer.from([...int3(11), 0])), "header alone");
  // The header in two pieces: nothing at 3 bytes, refused at the 4th.
  const g = new PacketFramer(10);
  assert.equal(g.push(Buffer.from([11, 0, 0])), []);
  tooLarge(() => g.push(Buffer.from([0])), "header completed");
  // After a good packet in the same chunk.
  tooLarge(
    () => new PacketFramer(10).push(Buffer.from([...packet(0, [1]), ...int3(0xffffff), 1])),
    "second packet",
  );
});

test("a split packet over the limit is refused at the continuation's header", () => {
  const limit = MAX_PAYLOAD + 10;
  const first = Buffer.concat([Buffer.from([...int3(MAX_PAYLOAD), 0]), Buffer.alloc(MAX_PAYLOAD)]);
  // Total exactly the limit: accepted.
  const ok = new PacketFramer(limit);
  assert.equal(ok.push(first), []);
  assert.is(ok.buffered(), MAX_PAYLOAD);
  const done = ok.push(Buffer.from([...int3(10), 1, ...new Array(10).fill(7)]));
  assert.is(done.length, 1);
  assert.is(done[0].payload.length, limit);
  assert.is(done[0].lastSeq, 1);
  // One byte more: refused when the continuation's header arrives, before its payload.
  const bad = new PacketFramer(limit);
  bad.push(first);
  tooLarge(() => bad.push(Buffer.from([...int3(11), 1])), "continuation header");
  // A limit below 0xFFFFFF refuses the first part itself.
  tooLarge(() => new PacketFramer(1 << 20).push(first.subarray(0, 4)), "first part");
});

test("setMaxPayload changes the limit for the next header", () => {
  const f = new PacketFramer(4);
  assert.is(f.push(Buffer.from(packet(0, [1, 2, 3, 4]))).length, 1);
  f.setMaxPayload(3);
  tooLarge(() => f.push(Buffer.from(packet(1, [1, 2, 3, 4]))), "lowered");
  const g = new PacketFramer(3);
  g.setMaxPayload(100);
  assert.is(g.push(Buffer.from(packet(0, new Array(50).fill(0)))).length, 1);
});

test("a whole packet in one chunk is handed out zero-copy (a view of the chunk)", () => {
  const f = new PacketFramer(1 << 20);
  const chunk = Buffer.concat([
    Buffer.from([3, 0, 0, 0]),
    Buffer.from("\x03ab"),
    Buffer.from([1, 0, 0, 0, 0x0e]),
  ]);
  const ps = f.push(chunk);
  assert.is(ps.length, 2);
  for (const p of ps) {
    assert.is(p.payload.buffer, chunk.buffer, "payload is a view of the chunk");
    assert.is(p.raw?.buffer, chunk.buffer, "raw is a view of the chunk");
  }
  assert.is(f.buffered(), 0);
});

test("a 16 MiB packet trickled in 1 KiB chunks is framed in linear time, and nothing is kept after (issue 11)", () => {
  // At 6dbe06d every chunk copied everything buffered so far: ~16k copies of 8 MiB on average.
  const len = 16 * 1024 * 1024 - 64;
  const payload = Buffer.alloc(len, 0x61);
  payload[0] = 0x03;
  const wire = Buffer.concat([Buffer.from([len & 0xff, (len >> 8) & 0xff, len >> 16, 0]), payload]);
  const f = new PacketFramer(64 * 1024 * 1024);
  const budgetMs = 1500;
  const t0 = performance.now();
  let got: Packet[] = [];
  for (let i = 0; i < wire.length; i += 1024) {
    got = f.push(wire.subarray(i, Math.min(i + 1024, wire.length)));
    if (performance.now() - t0 > budgetMs) break;
  }
  const elapsed = performance.now() - t0;
  assert.ok(
    elapsed <= budgetMs,
    `framing took over ${budgetMs} ms (${elapsed.toFixed(0)} ms, stopped early)`,
  );
  assert.is(got.length, 1);
  assert.is(got[0]!.payload.length, len);
  assert.ok(got[0]!.payload.equals(payload));
  assert.is(f.buffered(), 0, "nothing buffered once the packet is complete");
  // A header announcing 16 MiB followed by a few bytes holds only what arrived (not 16 MiB).
  const g = new PacketFramer(64 * 1024 * 1024);
  g.push(wire.subarray(0, 14));
  assert.is(g.buffered(), 14);
});

test("room(): a large packet's bytes are read straight into its buffer, with no copy, and come out intact", () => {
  // 0xFFFFFF + 0xFFFFFF + 5 bytes: a 32 MiB command in three wire packets, as a read channel
  // would deliver it, reading into room() whenever the framer offers it.
  const payload = Buffer.alloc(2 * 0xffffff + 5);
  for (let i = 0; i + 4 <= payload.length; i += 4) payload.writeUInt32LE((i * 2654435761) >>> 0, i);
  const wire: Buffer[] = [];
  for (let off = 0, seq = 0; ; seq++) {
    const len = Math.min(0xffffff, payload.length - off);
    const h = Buffer.alloc(4);
    h.writeUIntLE(len, 0, 3);
    h[3] = seq;
    wire.push(h, payload.subarray(off, off + len));
    off += len;
    if (len < 0xffffff) break;
  }
  const stream = Buffer.concat(wire);
  const f = new PacketFramer(64 * 1024 * 1024);
  const got: Packet[] = [];
  let inPlace = 0;
  let at = 0;
  while (at < stream.length) {
    const room = f.room();
    const slab = room ?? Buffer.alloc(65536);
    const n = Math.min(slab.length, stream.length - at, 60_000);
    stream.copy(slab, 0, at, at + n); // what the kernel would do
    at += n;
    if (room) inPlace += n;
    got.push(...f.push(slab.subarray(0, n)));
  }
  assert.is(got.length, 1);
  assert.is(got[0]!.length, payload.length);
  assert.is(got[0]!.first, payload[0]);
  assert.ok(got[0]!.payload.equals(payload), "payload intact");
  assert.ok(Buffer.concat(got[0]!.rawParts!).equals(stream), "raw parts are the wire bytes");
  assert.ok(inPlace > 0.9 * stream.length, `${inPlace} of ${stream.length} bytes read in place`);
  assert.is(f.room(), null, "no packet under way");
});

test.run();
