/**
 * Packet primitives: a reader cursor over one payload and a writer that builds a payload and
 * frames it. Pure: no sockets. (Shape after node-postgres' pg-protocol buffer reader/writer.)
 *
 * Wire format: 3-byte little-endian payload length, 1-byte sequence id, payload. A payload of
 * 0xFFFFFF bytes or more continues in the next packet; see `framePayload`.
 */
import { MAX_PACKET_PAYLOAD } from "./constants.js";

export class ProtocolError extends Error {
  readonly code: string;
  constructor(message: string, code = "PAIRGATE_PROTOCOL") {
    super(message);
    this.name = "ProtocolError";
    this.code = code;
  }
}

/** Cursor over one packet payload. Every read checks bounds: a truncated packet throws ProtocolError. */
export class PacketReader {
  offset: number;
  constructor(
    readonly buf: Buffer,
    offset = 0,
    readonly end = buf.length,
  ) {
    this.offset = offset;
  }

  remaining(): number {
    return this.end - this.offset;
  }

  private need(n: number): void {
    if (this.offset + n > this.end) throw new ProtocolError("packet is shorter than its contents say");
  }

  u8(): number {
    this.need(1);
    return this.buf[this.offset++];
  }

  u16(): number {
    this.need(2);
    const v = this.buf.readUInt16LE(this.offset);
    this.offset += 2;
    return v;
  }

  u24(): number {
    this.need(3);
    const v = this.buf.readUIntLE(this.offset, 3);
    this.offset += 3;
    return v;
  }

  u32(): number {
    this.need(4);
    const v = this.buf.readUInt32LE(this.offset);
    this.offset += 4;
    return v;
  }

  /** Length-encoded integer; returns a number (values above 2^53 are not expected in headers). */
  lenenc(): number {
    const first = this.u8();
    if (first < 0xfb) return first;
    if (first === 0xfc) return this.u16();
    if (first === 0xfd) return this.u24();
    if (first === 0xfe) {
      this.need(8);
      const lo = this.buf.readUInt32LE(this.offset);
      const hi = this.buf.readUInt32LE(this.offset + 4);
      this.offset += 8;
      return hi * 0x100000000 + lo;
    }
    throw new ProtocolError(`invalid length-encoded integer prefix 0x${first.toString(16)}`);
  }

  bytes(n: number): Buffer {
    this.need(n);
    const b = this.buf.subarray(this.offset, this.offset + n);
    this.offset += n;
    return b;
  }

  skip(n: number): void {
    this.need(n);
    this.offset += n;
  }

  /** Bytes up to (not including) the next NUL; consumes the NUL. */
  nulBytes(): Buffer {
    const i = this.buf.indexOf(0, this.offset);
    if (i < 0 || i >= this.end) throw new ProtocolError("string is not NUL-terminated");
    const b = this.buf.subarray(this.offset, i);
    this.offset = i + 1;
    return b;
  }

  nulString(): string {
    return this.nulBytes().toString("utf8");
  }

  /** A string ended by NUL or by the end of the packet (servers and clients differ). */
  nulOrRest(): string {
    const i = this.buf.indexOf(0, this.offset);
    if (i < 0 || i >= this.end) return this.restString();
    return this.nulString();
  }

  lenencBytes(): Buffer {
    return this.bytes(this.lenenc());
  }

  lenencString(): string {
    return this.lenencBytes().toString("utf8");
  }

  restBytes(): Buffer {
    const b = this.buf.subarray(this.offset, this.end);
    this.offset = this.end;
    return b;
  }

  restString(): string {
    return this.restBytes().toString("utf8");
  }
}

/** Builds one payload. Grows as needed; `payload()` returns a view of the written bytes. */
export class PacketWriter {
  private buf: Buffer;
  private len = 0;

  constructor(size = 128) {
    this.buf = Buffer.allocUnsafe(size);
  }

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }

  u8(v: number): this {
    this.ensure(1);
    this.buf[this.len++] = v;
    return this;
  }

  u16(v: number): this {
    this.ensure(2);
    this.buf.writeUInt16LE(v, this.len);
    this.len += 2;
    return this;
  }

  u24(v: number): this {
    this.ensure(3);
    this.buf.writeUIntLE(v, this.len, 3);
    this.len += 3;
    return this;
  }

  u32(v: number): this {
    this.ensure(4);
    this.buf.writeUInt32LE(v >>> 0, this.len);
    this.len += 4;
    return this;
  }

  lenenc(v: number): this {
    if (v < 0xfb) return this.u8(v);
    if (v <= 0xffff) return this.u8(0xfc).u16(v);
    if (v <= 0xffffff) return this.u8(0xfd).u24(v);
    this.u8(0xfe);
    this.u32(v % 0x100000000);
    return this.u32(Math.floor(v / 0x100000000));
  }

  bytes(b: Uint8Array): this {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
    return this;
  }

  zeros(n: number): this {
    this.ensure(n);
    this.buf.fill(0, this.len, this.len + n);
    this.len += n;
    return this;
  }

  string(s: string): this {
    return this.bytes(Buffer.from(s, "utf8"));
  }

  nulString(s: string): this {
    return this.string(s).u8(0);
  }

  lenencBytes(b: Uint8Array): this {
    return this.lenenc(b.length).bytes(b);
  }

  lenencString(s: string): this {
    return this.lenencBytes(Buffer.from(s, "utf8"));
  }

  payload(): Buffer {
    return this.buf.subarray(0, this.len);
  }
}

/**
 * Frame a payload as one or more packets starting at `seq`. A payload of exactly a multiple of
 * 0xFFFFFF bytes ends with an empty packet, as the protocol requires.
 */
export function framePayload(payload: Buffer, seq: number): Buffer {
  if (payload.length < MAX_PACKET_PAYLOAD) {
    const out = Buffer.allocUnsafe(4 + payload.length);
    out.writeUIntLE(payload.length, 0, 3);
    out[3] = seq & 0xff;
    payload.copy(out, 4);
    return out;
  }
  const parts: Buffer[] = [];
  let off = 0;
  let s = seq;
  for (;;) {
    const n = Math.min(MAX_PACKET_PAYLOAD, payload.length - off);
    const header = Buffer.allocUnsafe(4);
    header.writeUIntLE(n, 0, 3);
    header[3] = s++ & 0xff;
    parts.push(header, payload.subarray(off, off + n));
    off += n;
    if (n < MAX_PACKET_PAYLOAD) break;
  }
  return Buffer.concat(parts);
}

/** How many packets framePayload makes of a payload: the next sequence id is seq + this. */
export function packetCount(payloadLength: number): number {
  return Math.floor(payloadLength / MAX_PACKET_PAYLOAD) + 1;
}

/**
 * Frame a COM_STMT_* command (sequence id 0) with the statement id at payload offset 1 replaced
 * by `statementId`, in one allocation and one copy; `payload` itself is left as it was.
 */
export function frameStatementCommand(payload: Buffer, statementId: number): Buffer {
  if (payload.length < 5) return framePayload(payload, 0);
  if (payload.length >= MAX_PACKET_PAYLOAD) {
    const copy = Buffer.from(payload);
    copy.writeUInt32LE(statementId >>> 0, 1);
    return framePayload(copy, 0);
  }
  const out = Buffer.allocUnsafe(4 + payload.length);
  const n = payload.length;
  out[0] = n & 0xff;
  out[1] = (n >>> 8) & 0xff;
  out[2] = (n >>> 16) & 0xff;
  out[3] = 0;
  payload.copy(out, 4);
  out.writeUInt32LE(statementId >>> 0, 5);
  return out;
}

/**
 * Put `statementId` into a COM_STMT_* packet as received (header + payload, one packet) in place,
 * and return it: the relay then forwards the client's own bytes with no copy. The caller must own
 * `raw` (a read-channel chunk, never reused by later reads) and must not need the client's id in it
 * afterwards.
 */
export function patchStatementId(raw: Buffer, statementId: number): Buffer {
  if (raw.length >= 9) raw.writeUInt32LE(statementId >>> 0, 5);
  return raw;
}
