/**
 * Reassembles whole logical packets from a byte stream (the client→proxy direction, where every
 * command is looked at). Split packets (0xFFFFFF-byte payloads) are joined; a payload above
 * `maxPayload` is refused rather than buffered.
 */
import { MAX_PACKET_PAYLOAD } from "./constants.js";
import { ProtocolError } from "./packet.js";

export interface Packet {
  /** Sequence id of the first packet. */
  seq: number;
  /** Sequence id of the last packet (differs from seq for split packets). */
  lastSeq: number;
  /**
   * The payload; for a split packet joined on first use (a copy of up to maxAllowedPacket bytes:
   * a relay that needs only `first`, `length` and `rawParts` never makes it).
   */
  readonly payload: Buffer;
  /** The payload's length. */
  length: number;
  /** The payload's first byte (the command), -1 when it is empty. */
  first: number;
  /**
   * The packet's bytes as received (header + payload), when it arrived as one packet: a relay can
   * forward it without framing a copy. Null for split packets, which were joined.
   */
  raw: Buffer | null;
  /**
   * A split packet's wire packets as received (headers included), in order: a relay forwards them
   * as they are instead of framing a copy of the joined payload. Null for a one-packet packet.
   */
  rawParts: Buffer[] | null;
}

/** `room` lends a packet's buffer to reads only while this much of it is still to come. */
const ROOM_MIN = 64 * 1024;

/** Room a partial packet's buffer starts with when its header does not say more is needed. */
const INITIAL_ROOM = 1024;

/**
 * Buffer lifetime rule: a packet handed out may be a view of the chunk it arrived in (the common
 * case: zero-copy) or of a buffer this framer filled; the framer never writes into a buffer after
 * handing out a view of it.
 *
 * Linear in the bytes received: a packet that arrives in many chunks is copied into one buffer
 * that grows by doubling up to the size its header announces (so a client that announces 16 MiB
 * and sends 10 bytes costs ~1 KiB, and one that trickles 16 MiB costs ~2 × 16 MiB of copying in
 * all), and nothing is kept once the packet is complete.
 */
export class PacketFramer {
  /** The incomplete packet (header + payload bytes so far) in `acc[0, accLen)`; null when none. */
  private acc: Buffer | null = null;
  private accLen = 0;
  private parts: Buffer[] = [];
  private rawParts: Buffer[] = [];
  private partsLen = 0;
  private firstSeq = -1;

  constructor(private maxPayload: number) {}

  setMaxPayload(n: number): void {
    this.maxPayload = n;
  }

  /**
   * Where the next bytes of a large packet under way can be read straight to: the free tail of its
   * buffer (grown by doubling as `fill` would, never past the announced size), at most the bytes the
   * packet still needs; null when no such packet is under way (then bytes arrive in the read
   * channel's slabs and are copied). A chunk `push`ed that lies exactly there is taken without a copy.
   */
  room(): Buffer | null {
    const acc = this.acc;
    if (acc === null || this.accLen < 4) return null;
    const need = 4 + (acc[0]! | (acc[1]! << 8) | (acc[2]! << 16));
    if (need - this.accLen < ROOM_MIN) return null;
    if (acc.length - this.accLen < ROOM_MIN) {
      const grown = Buffer.allocUnsafe(Math.min(need, 2 * acc.length));
      acc.copy(grown, 0, 0, this.accLen);
      this.acc = grown;
    }
    return this.acc!.subarray(this.accLen, Math.min(need, this.acc!.length));
  }

  /** Bytes received but not yet part of a complete packet. */
  buffered(): number {
    return this.accLen + this.partsLen;
  }

  /**
   * Append a chunk and return the complete packets it finished, in order. Throws ProtocolError
   * with code PAIRGATE_PACKET_TOO_LARGE when a payload would exceed the limit.
   */
  push(chunk: Buffer): Packet[] {
    // A fresh array: one kept across pushes would hold the last packet (and the chunk it views) alive
    // from an old-generation object until the next read — promoted garbage, measured worse at 64 sessions.
    const out: Packet[] = [];
    let i = 0;
    if (this.acc !== null) {
      i = this.fill(chunk);
      if (this.acc !== null) return out; // still incomplete: the whole chunk was taken
      this.emit(out, this.lastComplete!);
      this.lastComplete = null;
    }
    while (chunk.length - i >= 4) {
      const len = chunk[i] | (chunk[i + 1] << 8) | (chunk[i + 2] << 16);
      this.checkSize(len);
      if (chunk.length - i - 4 < len) break;
      const start = i;
      i += 4 + len;
      // The common case, a chunk that is exactly one packet, needs no view of its own.
      this.emit(out, start === 0 && i === chunk.length ? chunk : chunk.subarray(start, i));
    }
    if (i < chunk.length) {
      // Start a partial packet: a copy, so the (possibly large) chunk it came from can be freed.
      const tail = chunk.length - i;
      const need = tail >= 4 ? 4 + (chunk[i] | (chunk[i + 1] << 8) | (chunk[i + 2] << 16)) : INITIAL_ROOM;
      this.acc = Buffer.allocUnsafe(Math.max(tail, Math.min(need, Math.max(INITIAL_ROOM, 2 * tail))));
      chunk.copy(this.acc, 0, i);
      this.accLen = tail;
    }
    return out;
  }

  /** The packet `fill` completed, until push emits it. */
  private lastComplete: Buffer | null = null;

  /**
   * Copy from `chunk` into the partial packet, no further than its end; return how many bytes of
   * `chunk` were taken. When the packet is complete, it moves to `lastComplete` and acc is reset.
   */
  private fill(chunk: Buffer): number {
    let acc = this.acc!;
    let taken = 0;
    if (this.accLen < 4) {
      const n = Math.min(4 - this.accLen, chunk.length);
      chunk.copy(acc, this.accLen, 0, n);
      this.accLen += n;
      taken = n;
      if (this.accLen < 4) return taken;
    }
    const len = acc[0] | (acc[1] << 8) | (acc[2] << 16);
    this.checkSize(len);
    const need = 4 + len;
    const n = Math.min(need - this.accLen, chunk.length - taken);
    if (
      taken === 0 &&
      this.accLen + n <= acc.length &&
      chunk.buffer === acc.buffer &&
      chunk.byteOffset === acc.byteOffset + this.accLen
    ) {
      // Read in place through `room`: the bytes are there already.
      this.accLen += n;
      taken += n;
      if (this.accLen === need) this.complete(need);
      return taken;
    }
    if (this.accLen + n > acc.length) {
      // Grow by doubling (amortised linear), never beyond the announced size.
      const grown = Buffer.allocUnsafe(Math.min(need, Math.max(this.accLen + n, 2 * acc.length)));
      acc.copy(grown, 0, 0, this.accLen);
      this.acc = acc = grown;
    }
    chunk.copy(acc, this.accLen, taken, taken + n);
    this.accLen += n;
    taken += n;
    if (this.accLen === need) this.complete(need);
    return taken;
  }

  /** The partial packet is whole: it moves to `lastComplete`. */
  private complete(need: number): void {
    const acc = this.acc!;
    this.lastComplete = acc.length === need ? acc : acc.subarray(0, need);
    this.acc = null;
    this.accLen = 0;
  }

  private checkSize(len: number): void {
    if (this.partsLen + len > this.maxPayload) {
      throw new ProtocolError(
        `Got a packet bigger than 'max_allowed_packet' bytes (${this.partsLen + len} > ${this.maxPayload})`,
        "PAIRGATE_PACKET_TOO_LARGE",
      );
    }
  }

  /** One wire packet (header + payload): a logical packet, or a part of a split one. */
  private emit(out: Packet[], raw: Buffer): void {
    const len = raw.length - 4;
    const seq = raw[3];
    const payload = raw.subarray(4);
    if (len === MAX_PACKET_PAYLOAD || this.parts.length > 0) {
      if (this.parts.length === 0) this.firstSeq = seq;
      this.parts.push(payload);
      this.rawParts.push(raw);
      this.partsLen += len;
      if (len === MAX_PACKET_PAYLOAD) return;
      out.push(new SplitPacket(this.firstSeq, seq, this.parts, this.partsLen, this.rawParts));
      this.parts = [];
      this.rawParts = [];
      this.partsLen = 0;
    } else {
      out.push(new WholePacket(seq, payload, raw));
    }
  }
}

/** A packet the client split over several wire packets (over 16 MiB): its payload joined lazily. */
/**
 * A packet that arrived as one wire packet (every command but a >16 MiB one): three fields, the
 * rest read from them — one object per client command, so its size is allocation per query.
 */
class WholePacket implements Packet {
  constructor(
    readonly seq: number,
    readonly payload: Buffer,
    readonly raw: Buffer,
  ) {}

  get lastSeq(): number {
    return this.seq;
  }

  get length(): number {
    return this.payload.length;
  }

  get first(): number {
    return this.payload.length > 0 ? this.payload[0]! : -1;
  }

  get rawParts(): null {
    return null;
  }
}

class SplitPacket implements Packet {
  readonly raw = null;
  readonly first: number;
  private joined: Buffer | null = null;

  constructor(
    readonly seq: number,
    readonly lastSeq: number,
    private parts: Buffer[] | null,
    readonly length: number,
    readonly rawParts: Buffer[],
  ) {
    this.first = parts![0]!.length > 0 ? parts![0]![0]! : -1;
  }

  get payload(): Buffer {
    if (this.joined === null) {
      this.joined = Buffer.concat(this.parts!, this.length);
      this.parts = null;
    }
    return this.joined;
  }
}
