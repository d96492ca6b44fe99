/**
 * Whole packets as promises, for the connection phase on either side (pairgate as server and as
 * client), where the exchange is a short conversation rather than a stream. Fed by the caller;
 * touches no socket.
 */
import { type Packet, PacketFramer } from "./framer.js";

export class PacketQueue {
  private framer: PacketFramer;
  private queue: Packet[] = [];
  private waiter: { resolve: (p: Packet) => void; reject: (e: Error) => void } | null = null;
  private error: Error | null = null;

  constructor(maxPayload: number) {
    this.framer = new PacketFramer(maxPayload);
  }

  push(chunk: Buffer): void {
    try {
      for (const p of this.framer.push(chunk)) this.queue.push(p);
    } catch (e) {
      this.fail(e as Error);
      return;
    }
    this.wake();
  }

  /** The first failure wins; every later `next()` rejects with it. */
  fail(e: Error): void {
    this.error ??= e;
    this.wake();
  }

  /** Bytes received beyond the packets handed out (must be none when the phase ends). */
  leftover(): number {
    return this.framer.buffered() + this.queue.reduce((n, p) => n + p.payload.length + 4, 0);
  }

  next(): Promise<Packet> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.wake();
    });
  }

  private wake(): void {
    const w = this.waiter;
    if (!w) return;
    if (this.queue.length > 0) {
      this.waiter = null;
      w.resolve(this.queue.shift()!);
    } else if (this.error) {
      this.waiter = null;
      w.reject(this.error);
    }
  }
}
