/**
 * Reading a TCP socket without Node's stream machinery: the bytes land, through `net.Socket`'s
 * `onread` option, in buffers pairgate hands out, and go straight to one handler. On the relay's hot
 * path this saves, per read, the readable stream's push/addChunk/emit, a `process.nextTick` and a
 * fresh 64 KiB allocation that libuv then shrinks to the bytes read.
 *
 * Buffer lifetime rule: each read goes into the unused tail of a slab and the next read starts
 * after it, so a chunk's bytes are never overwritten — a handler may keep a chunk (a queued write, a
 * collected response, a packet waiting in a queue) without copying it. A slab whose tail runs short
 * is left to the garbage collector once nothing points into it any more.
 *
 * Slab sizes: every channel starts with small slabs, carved from Node's shared buffer pool, so an
 * idle session costs next to nothing, and moves to 64 KiB slabs when a read fills all the room it
 * was given (more bytes were waiting). A backend's channel ("grow") then keeps big slabs for good —
 * a session that once got a multi-row result will get more, each in few reads; a client's
 * ("adaptive") goes back to small slabs after a small read, since big uploads (LOAD DATA, a large
 * INSERT) are rare between small commands.
 */
import type { Socket } from "node:net";

/** Below Buffer.poolSize / 2, so allocUnsafe slices it from Node's shared pool. */
const SMALL_SLAB = 2 * 1024;
const SMALL_MIN_ROOM = 512;
const BIG_SLAB = 64 * 1024;
const BIG_MIN_ROOM = 16 * 1024;

const noop = (): void => {};

export class ReadChannel {
  /** Where the bytes go; swapped as a connection moves from login to relay. */
  handler: (chunk: Buffer) => void = noop;
  private slab: Buffer;
  private used = 0;
  /** Read into big slabs: since a read filled its room (and, adaptive, no small read since). */
  private big = false;
  /**
   * Where the next read may go instead of a slab: the unfilled tail of a large packet being
   * received (the client's framer, PacketFramer.room), so its bytes land in place — no slab, no
   * copy. Null: read into the slab.
   */
  room: (() => Buffer | null) | null = null;
  /** The last read went into `room`'s buffer, not the slab. */
  private lent = false;

  constructor(private readonly sizing: "grow" | "adaptive" = "grow") {
    this.slab = Buffer.allocUnsafe(SMALL_SLAB);
  }

  /** For `net.connect({ onread })`: Node calls `buffer()` once before the first read and after each one. */
  readonly onread = {
    buffer: (): Buffer => {
      const into = this.room?.() ?? null;
      this.lent = into !== null;
      if (into !== null) return into;
      const room = this.slab.length - this.used;
      if (this.big ? this.slab.length < BIG_SLAB || room < BIG_MIN_ROOM : room < SMALL_MIN_ROOM) {
        this.slab = Buffer.allocUnsafe(this.big ? BIG_SLAB : SMALL_SLAB);
        this.used = 0;
      }
      return this.slab.subarray(this.used);
    },
    callback: (n: number, buf: Uint8Array): boolean => {
      if (this.lent) {
        this.handler((buf as Buffer).subarray(0, n));
        return true;
      }
      this.used += n;
      if (n === buf.length) this.big = true;
      else if (n < SMALL_MIN_ROOM && this.sizing === "adaptive") this.big = false;
      this.handler((buf as Buffer).subarray(0, n));
      return true;
    },
  };

  /** A channel fed by a socket's 'data' events (TLS sockets, or when `adopt` is not possible). */
  static fromDataEvents(socket: Socket): ReadChannel {
    const channel = new ReadChannel("adaptive"); // never reads itself: its slab stays small
    socket.on("data", (chunk: Buffer) => channel.handler(chunk));
    return channel;
  }
}

/** The symbols under which net.Socket keeps what the `onread` option sets (Node 12.4+ internals). */
interface OnreadSlots {
  buffer: symbol;
  callback: symbol;
  generator: symbol;
}

let slots: OnreadSlots | null | undefined;

function onreadSlots(socket: Socket): OnreadSlots | null {
  if (slots !== undefined) return slots;
  const find = (name: string) => Object.getOwnPropertySymbols(socket).find((s) => s.description === name);
  const buffer = find("kBuffer");
  const callback = find("kBufferCb");
  const generator = find("kBufferGen");
  slots = buffer && callback && generator ? { buffer, callback, generator } : null;
  return slots;
}

/**
 * Make an already connected plain TCP socket (one a server accepted, which Node 20 gives no
 * `onread` option) read into `channel` from now on, exactly as `onread` would have set it up.
 * Bytes the stream had already buffered go to the handler first. Returns false, changing nothing,
 * when this Node does not keep the `onread` state where expected, the socket is destroyed, or it
 * is a TLS socket: the caller then reads with 'data' events.
 *
 * The socket must be paused with no 'data' listener; it is resumed here.
 */
export function adoptSocket(socket: Socket, channel: ReadChannel): boolean {
  const handle = (socket as unknown as { _handle?: { useUserBuffer?: (b: Uint8Array) => void } })._handle;
  // A TLS socket's handle (the TLS layer) has useUserBuffer too, but the socket is not the plain
  // TCP stream this is written for: test it by name, not by the handle's shape.
  if ((socket as { encrypted?: boolean }).encrypted === true) return false;
  const s = onreadSlots(socket);
  if (!s || !handle || typeof handle.useUserBuffer !== "function" || socket.destroyed) return false;
  const early = socket.readableLength > 0 ? (socket.read() as Buffer | null) : null;
  const fields = socket as unknown as Record<symbol, unknown>;
  const first = channel.onread.buffer();
  fields[s.buffer] = first;
  fields[s.generator] = channel.onread.buffer;
  fields[s.callback] = channel.onread.callback;
  handle.useUserBuffer(first);
  if (early) channel.handler(early);
  socket.resume();
  return true;
}

/** Is `socket` reading through a channel (for tests: the fast path must really be taken)? */
export function readsThroughChannel(socket: Socket): boolean {
  const s = onreadSlots(socket);
  return s !== null && Boolean((socket as unknown as Record<symbol, unknown>)[s.buffer]);
}
