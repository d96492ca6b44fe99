/**
 * Writing a TCP socket without Node's stream machinery when nothing is queued: the bytes go
 * straight to the socket's handle (`writeBuffer`, which tries the `write()` system call at once),
 * as `net.Socket` itself does at the bottom of its Writable, but without what lies above it per
 * write: the Writable state machine (writeOrBuffer, onwrite), the `process.nextTick` that reports a
 * synchronous write's completion, and a new WriteWrap request object (an AsyncWrap built through
 * the slow API-construct path). On the relay's hot path that is two writes per query.
 *
 * The rules that keep the socket's own writes and ours in one ordered stream:
 * - The direct path is taken only when the socket has nothing queued or in flight of its own
 *   (`writableLength === 0`, not corked, not ending) and no direct write of ours is still pending.
 *   Otherwise the bytes go through `socket.write`, exactly as before.
 * - A direct write the kernel could not take whole is finished by libuv, in order; libuv also
 *   queues any later write (ours or the socket's) behind it, and a later `end()` waits for it.
 *   While such a write is pending, `write` returns false once the pending bytes reach
 *   `highWaterMark` (backpressure, as `socket.write` would); when they have gone out the socket
 *   emits 'drain', so a caller listening for the socket's 'drain' needs no second listener.
 * - A failed direct write destroys the socket with the system error, as Node does.
 *
 * The handle's `writeBuffer` and the request class (`WriteWrap`) are Node internals (stable since
 * Node 10, reached through `process.binding('stream_wrap')`). Where they are not found — another
 * Node, a TLS socket (its handle is not a TCP wrap), a pipe — every write goes through
 * `socket.write`: `direct` tells which (tests assert the fast path is taken on the running Node).
 */
import type { Socket } from "node:net";
import { getSystemErrorName } from "node:util";

interface StreamWrapBinding {
  WriteWrap: new () => WriteReq;
  streamBaseState: Int32Array;
  kLastWriteWasAsync: number;
}

interface WriteReq {
  handle?: unknown;
  oncomplete?: (this: WriteReq, status: number) => void;
  buffer?: Buffer | null;
  bytes?: number;
  async?: boolean;
  error?: string;
}

interface TcpHandle {
  writeBuffer(req: WriteReq, data: Uint8Array): number;
}

let binding: StreamWrapBinding | null | undefined;

/** Direct writes made by every channel in this process (tests: the relay's fast path is taken). */
let directTotal = 0;

export function directWriteCount(): number {
  return directTotal;
}

/** Node's stream_wrap binding, or null when this Node does not offer it as expected. */
function streamWrap(): StreamWrapBinding | null {
  if (binding !== undefined) return binding;
  binding = null;
  try {
    // process.binding is deprecated (DEP0111, documentation-only: no warning unless
    // --pending-deprecation), but stream_wrap is on its allow-list in every Node since 11.
    const b = (process as unknown as { binding(name: string): Partial<StreamWrapBinding> }).binding(
      "stream_wrap",
    );
    if (
      typeof b.WriteWrap === "function" &&
      b.streamBaseState instanceof Int32Array &&
      typeof b.kLastWriteWasAsync === "number"
    )
      binding = b as StreamWrapBinding;
  } catch {
    binding = null;
  }
  return binding;
}

/** The fields of Node's WritableState that say whether the socket has writes of its own queued. */
interface WritableStateView {
  length: number;
  corked: number;
  ending: boolean;
  destroyed: boolean;
}

function writableState(socket: Socket): WritableStateView | null {
  const ws = (socket as unknown as { _writableState?: Partial<WritableStateView> })._writableState;
  if (!ws || typeof ws.length !== "number" || typeof ws.corked !== "number") return null;
  if (typeof ws.ending !== "boolean" || typeof ws.destroyed !== "boolean") return null;
  return ws as WritableStateView;
}

/** The socket's TCP handle when it can be written directly, else null. */
function tcpHandle(socket: Socket): TcpHandle | null {
  const handle = (
    socket as unknown as { _handle?: { writeBuffer?: unknown; constructor?: { name?: string } } }
  )._handle;
  if (!handle || typeof handle.writeBuffer !== "function" || handle.constructor?.name !== "TCP") return null;
  return handle as TcpHandle;
}

export class WriteChannel {
  /** Writes go straight to the handle when nothing is queued (false: always socket.write). */
  readonly direct: boolean;
  private readonly handle: TcpHandle | null;
  private readonly wrap: StreamWrapBinding | null;
  /** A request object no write holds: a write the kernel took whole never attaches to it. */
  private spare: WriteReq | null = null;
  /** Direct writes libuv is still finishing, and their bytes. */
  private pending = 0;
  private pendingBytes = 0;
  /** Writes that went straight to the handle (tests assert the fast path is really taken). */
  directWrites = 0;
  /** `write` returned false: emit 'drain' once the pending direct writes are out. */
  private needDrain = false;

  /** The socket's WritableState (Node keeps it as `_writableState`), or null: then never direct. */
  private readonly state: WritableStateView | null;

  constructor(readonly socket: Socket) {
    this.wrap = streamWrap();
    this.state = writableState(socket);
    this.handle = this.wrap && this.state ? tcpHandle(socket) : null;
    this.direct = this.handle !== null;
  }

  /**
   * Write `buf` (the caller must not modify it afterwards: a partly written buffer is finished
   * later). Returns false when the caller should stop writing until the socket's 'drain'.
   */
  write(buf: Buffer): boolean {
    const s = this.socket;
    const handle = this.handle;
    // The Writable's own state, read directly: the public getters (writableLength, ...) each go
    // through Duplex accessors. `destroyed` covers a handle closed under us.
    const ws = this.state;
    if (
      handle === null ||
      this.pending > 0 ||
      ws === null ||
      ws.length !== 0 ||
      ws.corked !== 0 ||
      ws.ending ||
      ws.destroyed ||
      (s as unknown as { _handle: unknown })._handle !== handle
    )
      return s.write(buf);
    const wrap = this.wrap!;
    const req = this.spare ?? new wrap.WriteWrap();
    this.spare = null;
    const err = handle.writeBuffer(req, buf);
    this.directWrites++;
    directTotal++;
    if (err !== 0) {
      s.destroy(systemError(err, req.error));
      return false;
    }
    if (wrap.streamBaseState[wrap.kLastWriteWasAsync] === 0) {
      // The kernel took every byte: the request object was never attached; keep it for the next.
      this.spare = req;
      return true;
    }
    // libuv finishes this write when the socket is writable again; hold the buffer meanwhile.
    req.handle = handle;
    req.buffer = buf;
    const bytes = buf.length;
    req.oncomplete = (status: number) => this.completed(status, bytes);
    this.pending++;
    this.pendingBytes += buf.length;
    if (this.pendingBytes >= s.writableHighWaterMark) {
      this.needDrain = true;
      return false;
    }
    return true;
  }

  /** Bytes of direct writes libuv has not finished (for tests and diagnostics). */
  get pendingLength(): number {
    return this.pendingBytes;
  }

  private completed(status: number, bytes: number): void {
    this.pending--;
    this.pendingBytes -= bytes;
    const s = this.socket;
    if (s.destroyed) return; // closed meanwhile: the write was cancelled
    if (status < 0) {
      s.destroy(systemError(status));
      return;
    }
    if (this.pending === 0 && this.needDrain) {
      this.needDrain = false;
      s.emit("drain");
    }
  }
}

function systemError(errno: number, detail?: string): NodeJS.ErrnoException {
  let code: string;
  try {
    code = getSystemErrorName(errno);
  } catch {
    code = `E${-errno}`;
  }
  const e: NodeJS.ErrnoException = new Error(`write ${code}${detail ? ` ${detail}` : ""}`);
  e.errno = errno;
  e.code = code;
  e.syscall = "write";
  return e;
}
