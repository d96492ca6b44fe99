/**
 * The client side of a session, as Vitess's `mysql.Conn`: reads the client socket, frames packets,
 * checks that each command starts with sequence id 0, queues what a client pipelines and hands one
 * command at a time to a `CommandHandler` — only while the session's phase is `idle`. It knows no
 * routing, no backend and no SQL.
 *
 * Concurrency rule: one command in flight per session; the rest wait in `queue` (the client is
 * paused past 64 of them). Buffer lifetime: a packet's payload points into the chunk it came in
 * (see ReadChannel); it stays valid as long as anybody holds it.
 */
import type { Socket } from "node:net";
import { COLLECT_AFTER_BYTES, collectSoon } from "../net/collect.js";
import { adoptSocket, ReadChannel } from "../net/read-channel.js";
import { WriteChannel } from "../net/write-channel.js";
import type { Logger } from "../observability/logger.js";
import { ERROR_CODES, type ErrorCode, errPacketOf } from "../protocol/errors.js";
import { type Packet, PacketFramer } from "../protocol/framer.js";
import { encodeErr } from "../protocol/messages.js";
import { framePayload } from "../protocol/packet.js";
import { LOGIN, nextPhase, type Phase, type PhaseEvent } from "./phase.js";

/** What the command loop drives (pairgate's SessionHandler; a test's fake in the loop's fuzz target). */
export interface CommandHandler {
  /** One client command: sequence id 0, non-empty payload; called only in phase `idle`. */
  command(p: Packet): void;
  /** One packet of LOCAL INFILE data (phase `infile`). */
  infileData(p: Packet): void;
  /** The client's socket can take more again. */
  clientDrained(): void;
  /** The client's socket closed. */
  clientClosed(): void;
  /** The loop gives up on the session (bad packets, a stall, shutdown): close everything. */
  close(reason: string): void;
}

export interface LoopLimits {
  maxAllowedPacket: number;
  /** How long a client may stall in the middle of a packet (the server's net_read_timeout). */
  netReadTimeoutMs: number;
}

const QUEUE_PAUSE = 64;
const QUEUE_RESUME = 16;

export class CommandLoop {
  /** The session's phase; changed only through `to()`. */
  phase: Phase = LOGIN;
  /** The client socket (the TLS one after an upgrade). */
  client: Socket;
  /** Writes to the client once commands are read (`start`): straight to the handle when idle. */
  private out: WriteChannel | null = null;
  private handler: CommandHandler | null = null;
  private framer: PacketFramer;
  private queue: Packet[] = [];
  private draining = false;
  /** Armed while a client packet is incomplete: see LoopLimits.netReadTimeoutMs. */
  private readTimer: NodeJS.Timeout | null = null;
  /**
   * Packets beyond the first of the command being answered (its lastSeq - seq): the client counts
   * sequence ids through every packet of a split command, so the reply starts after the last one.
   */
  private replyShift = 0;
  /**
   * Bytes read from and written to the client in this session (see net/collect.ts): one full
   * collection when a session that moved 32 MiB closes — not after each command, since a full
   * collection holds every session for tens of ms; while it runs, V8's own heuristics apply.
   */
  private moved = 0;
  /** COM_CHANGE_USER waits for the client's auth answer here. */
  private packetWaiter: { resolve(p: Packet): void; reject(e: Error): void } | null = null;

  constructor(
    client: Socket,
    private limits: LoopLimits,
    private log: Logger,
  ) {
    this.client = client;
    this.framer = new PacketFramer(limits.maxAllowedPacket);
  }

  /** Apply a reloaded max_allowed_packet to this session's next packets. */
  setMaxAllowedPacket(n: number): void {
    this.framer.setMaxPayload(n);
  }

  /**
   * Start reading commands (the login left the socket paused). A plain client is read through a
   * channel (no stream machinery per read); a TLS one with 'data' events.
   */
  /** The handler commands go to; set once, before the login ends (a shutdown may close the session meanwhile). */
  bind(handler: CommandHandler): void {
    this.handler = handler;
  }

  start(client: Socket, tls: boolean): void {
    const handler = this.handler!;
    this.client = client;
    this.out = new WriteChannel(client);
    client.on("drain", handler.clientDrained);
    client.on("error", this.onClientError);
    client.on("close", this.onClientClose);
    client.setNoDelay(true);
    const channel = tls ? null : new ReadChannel("adaptive");
    if (channel) {
      channel.handler = this.onClientData;
      // A large packet's bytes are read straight into the framer's buffer for it (no slab, no copy).
      channel.room = () => this.framer.room();
    }
    if (!channel || !adoptSocket(client, channel)) {
      client.on("data", this.onClientData);
      client.resume();
    }
  }

  /** Move the phase on; an impossible transition is a bug, and the session is closed rather than confused. */
  to(e: PhaseEvent): void {
    const next = nextPhase(this.phase, e);
    if (next) {
      this.phase = next;
      // Packets the client sent after the command that asked for a file are that file's data, as
      // the server would read them, even those that came before the request and wait in the queue.
      if (e === "infile_requested") this.queuedToInfile();
      return;
    }
    this.log.warn(
      { phase: this.phase, event: e },
      "session phase: impossible transition; closing the session",
    );
    this.handler?.close(`impossible phase transition ${this.phase.tag} + ${e}`);
  }

  get closed(): boolean {
    return this.phase.tag === "closed";
  }

  /**
   * Write framed bytes to the client (the buffer must not be changed afterwards: a write the kernel
   * did not take whole is finished later). False: wait for the client's 'drain'.
   */
  write(framed: Buffer): boolean {
    this.moved += framed.length;
    const out = this.out;
    return out !== null && out.socket === this.client ? out.write(framed) : this.client.write(framed);
  }

  /**
   * An ERR of pairgate's own, its errno and SQLSTATE from the error table. `seq` is the sequence id
   * the reply would carry after a one-packet command (1 for the first reply); a command the client
   * split into several packets (over 16 MiB) moves it on by as many (see `replyShift`).
   */
  refuse(seq: number, code: ErrorCode, message: string): void {
    const e = ERROR_CODES[code];
    this.writeErr((seq + this.replyShift) & 0xff, e.errno, e.sqlState, message);
  }

  /** As `refuse`, at a sequence id taken from the server's own reply (already counted after the whole command). */
  refuseAt(seq: number, code: ErrorCode, message: string): void {
    const e = ERROR_CODES[code];
    this.writeErr(seq, e.errno, e.sqlState, message);
  }

  /** An ERR for an error thrown below (a server's, pairgate's, or anything else as 2003); `seq` as in `refuse`. */
  sendError(seq: number, e: unknown): void {
    const p = errPacketOf(e);
    this.writeErr((seq + this.replyShift) & 0xff, p.code, p.sqlState, p.message);
  }

  private writeErr(seq: number, code: number, sqlState: string, message: string): void {
    if (this.client.destroyed) return;
    this.write(framePayload(encodeErr({ code, sqlState, message }), seq));
  }

  /** The next packet from the client, taken out of the command flow (auth switch answers). */
  nextPacket(): Promise<Packet> {
    if (this.queue.length > 0) {
      const p = this.queue.shift()!;
      if (this.queue.length < QUEUE_RESUME && this.client.isPaused()) this.client.resume();
      return Promise.resolve(p);
    }
    if (this.closed) return Promise.reject(new Error("client left during COM_CHANGE_USER"));
    // onClientData queues packets (the phase holds the pump) and hands the first one here.
    return new Promise((resolve, reject) => {
      this.packetWaiter = { resolve, reject };
    });
  }

  /** Graceful shutdown: let the command in flight finish, then close; later commands get ER_SERVER_SHUTDOWN. */
  drain(): void {
    this.draining = true;
    const t = this.phase.tag;
    if (t === "idle" || t === "login") this.handler?.close("shutdown");
  }

  /** End the client connection (the phase is already `closed`). */
  end(): void {
    if (this.readTimer) this.clearReadTimer();
    this.client.end();
    setTimeout(() => this.client.destroy(), 2000).unref();
  }

  /** Hand queued commands on while the session is idle. */
  pump(): void {
    if (this.queue.length === 0 && !this.draining) return; // the common case, after each response
    if (this.draining && this.phase.tag === "idle") {
      if (this.queue.length > 0)
        this.refuseAt(1, "PAIRGATE_SHUTDOWN", "pairgate is shutting down; reconnect to continue");
      this.handler!.close("shutdown");
      return;
    }
    while (this.phase.tag === "idle" && this.queue.length > 0) this.command(this.queue.shift()!);
    if (this.queue.length < QUEUE_RESUME && this.client.isPaused()) this.client.resume();
  }

  private command(p: Packet): void {
    this.replyShift = 0;
    if (p.seq !== 0) {
      this.refuse(
        p.lastSeq + 1,
        "PAIRGATE_OUT_OF_ORDER",
        "Got packets out of order (pairgate expected a new command with sequence id 0)",
      );
      this.handler!.close("packets out of order");
      return;
    }
    if (p.length === 0) {
      this.refuse(1, "PAIRGATE_UNKNOWN_COMMAND", "Unknown command: empty packet");
      return;
    }
    this.replyShift = (p.lastSeq - p.seq) & 0xff;
    this.handler!.command(p);
  }

  private queuedToInfile(): void {
    while (this.phase.tag === "infile" && this.queue.length > 0)
      this.handler!.infileData(this.queue.shift()!);
  }

  private onClientData = (chunk: Buffer): void => {
    this.moved += chunk.length;
    let packets: Packet[];
    try {
      packets = this.framer.push(chunk);
    } catch (e) {
      // Not a reply to a command (none was read): sequence id 0, as before.
      const err = errPacketOf(e);
      this.writeErr(0, err.code, err.sqlState, err.message);
      this.handler!.close("packet too large");
      return;
    }
    // Rarely true (a packet split across reads): only then is the stall timer touched.
    if (this.framer.buffered() > 0) this.awaitRestOfPacket();
    else if (this.readTimer) this.clearReadTimer();
    // The common case — one command while idle, nothing queued or awaited — goes straight to the
    // handler: what the queue and `pump` would do, without the queue. (An empty queue means any
    // pause for a long queue was lifted when it was emptied.)
    if (
      packets.length === 1 &&
      this.queue.length === 0 &&
      this.phase.tag === "idle" &&
      this.packetWaiter === null &&
      !this.draining
    ) {
      this.command(packets[0]!);
      return;
    }
    for (const p of packets) {
      if (this.phase.tag === "infile") this.handler!.infileData(p);
      else this.queue.push(p);
    }
    const waiter = this.packetWaiter;
    if (waiter && this.queue.length > 0) {
      this.packetWaiter = null;
      waiter.resolve(this.queue.shift()!);
    }
    if (this.queue.length > QUEUE_PAUSE && !this.client.isPaused()) this.client.pause();
    this.pump();
  };

  private awaitRestOfPacket(): void {
    if (this.readTimer) {
      this.readTimer.refresh();
      return;
    }
    const ms = this.limits.netReadTimeoutMs;
    this.readTimer = setTimeout(() => {
      this.readTimer = null;
      if (this.closed || this.framer.buffered() === 0) return;
      this.refuseAt(
        1,
        "PAIRGATE_READ_TIMEOUT",
        `Got timeout reading communication packets: pairgate waited ${ms} ms for the rest of a packet (netReadTimeoutMs)`,
      );
      this.handler!.close("client stalled in the middle of a packet");
    }, ms);
    this.readTimer.unref();
  }

  private clearReadTimer(): void {
    clearTimeout(this.readTimer!);
    this.readTimer = null;
  }

  private onClientError = (e: Error): void => {
    this.log.debug({ err: e.message }, "client socket error");
  };

  private onClientClose = (): void => {
    if (this.readTimer) this.clearReadTimer();
    // The session moved a lot of bytes: their buffers are garbage now, have them collected soon.
    if (this.moved >= COLLECT_AFTER_BYTES) collectSoon();
    this.packetWaiter?.reject(new Error("client left during COM_CHANGE_USER"));
    this.packetWaiter = null;
    this.handler!.clientClosed();
  };
}
