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
  payload: Buffer;
  /**
   * The packet's bytes as received (header + payload), when it arrived as one packet: a relay can
   * forward it without framing a copy. Null for split packets, which were joined.
   */
  raw: Buffer | null;
}

export class PacketFramer {
  private pending: Buffer | null = null;
  private parts: Buffer[] = [];
  private partsLen = 0;
  private firstSeq = -1;

  constructor(private maxPayload: number) {}

  setMaxPayload(n: number): void {
    this.maxPayload = n;
  }

  /** Bytes received but not yet part of a complete packet. */
  buffered(): number {
    return (this.pending?.length ?? 0) + this.partsLen;
  }

  /**
   * Append a chunk and return the complete packets it finished, in order. Throws ProtocolError
   * with code PAIRGATE_PACKET_TOO_LARGE when a payload would exceed the limit.
   */
  push(chunk: Buffer): Packet[] {
    const buf = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    const out: Packet[] = [];
    let i = 0;
    while (buf.length - i >= 4) {
      const len = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16);
      const seq = buf[i + 3];
      if (this.partsLen + len > this.maxPayload) {
        throw new ProtocolError(
          `Got a packet bigger than 'max_allowed_packet' bytes (${this.partsLen + len} > ${this.maxPayload})`,
          "PAIRGATE_PACKET_TOO_LARGE",
        );
      }
      if (buf.length - i - 4 < len) break;
      const payload = buf.subarray(i + 4, i + 4 + len);
      i += 4 + len;
      if (len === MAX_PACKET_PAYLOAD || this.parts.length > 0) {
        if (this.parts.length === 0) this.firstSeq = seq;
        this.parts.push(payload);
        this.partsLen += len;
        if (len === MAX_PACKET_PAYLOAD) continue;
        out.push({
          seq: this.firstSeq,
          lastSeq: seq,
          payload: Buffer.concat(this.parts, this.partsLen),
          raw: null,
        });
        this.parts = [];
        this.partsLen = 0;
      } else {
        out.push({ seq, lastSeq: seq, payload, raw: buf.subarray(i - 4 - len, i) });
      }
    }
    if (i < buf.length) {
      // Copy the tail so the (possibly large) chunk it came from can be freed.
      this.pending = Buffer.from(buf.subarray(i));
    }
    return out;
  }
}
