/**
 * One client command in flight (undici's per-request handler; one at a time per session): what the
 * command is, as routing and the audit need it, and its phase from the moment the handler took it
 * until it is answered. It ends exactly once — `complete()` (answered: the backend's response, or an
 * OK of pairgate's) or `fail()` (an ERR of pairgate's) — and that end is the only place the session
 * returns to `idle`, records the query's timing and hands the next queued command on. A second
 * end is a bug: logged, and the session is closed rather than left answering the wrong command.
 *
 * Fast path: a command answered without leaving `idle` (a refusal, a statement with no reply)
 * ends without a phase change or a pump — the loop hands the next command on itself, as it always
 * did; only a command that left `idle` (sent, or waiting) goes back through `done`.
 */
import type { ErrorCode } from "../protocol/errors.js";
import type { Packet } from "../protocol/framer.js";
import type { ResponseKind } from "../protocol/response-scanner.js";
import type { StatementClass } from "../routing/router.js";
import type { Classification } from "../sql/index.js";
import type { Phase, PhaseEvent, WaitReason } from "./phase.js";
import type { PreparedStatement } from "./replay-state.js";
import type { Inflight } from "./slot-types.js";

/** What an exchange needs of the client side (the CommandLoop). */
export interface ExchangeLoop {
  readonly phase: Phase;
  readonly closed: boolean;
  to(e: PhaseEvent): void;
  pump(): void;
  write(framed: Buffer): boolean;
  refuse(seq: number, code: ErrorCode, message: string): void;
  refuseAt(seq: number, code: ErrorCode, message: string): void;
  sendError(seq: number, e: unknown): void;
  nextPacket(): Promise<Packet>;
}

/** Where an exchange reports its end. */
export interface ExchangeEnd {
  /**
   * The exchange ended (once): `answered` when by `complete` — a command the backend answered has
   * its timing recorded then (`x.inflight`). The owner lets go of it here: nothing of a finished
   * command (its packet points into a read chunk) is kept while the session is idle.
   */
  ended(x: Exchange, answered: boolean): void;
  /** Close the session. */
  close(reason: string): void;
  /** A second end of one exchange: a bug, logged; the session closes rather than answer the wrong command. */
  bug(reason: string): void;
}

const WAIT_EVENT: Record<WaitReason, PhaseEvent> = {
  backend: "wait_backend",
  audit: "wait_audit",
  change_user: "wait_change_user",
};

export class Exchange {
  // ------------------------------------------------------------ the command, as routed and audited
  /** How the response is shaped; null when the command has none (COM_STMT_SEND_LONG_DATA). */
  kind: ResponseKind | null = null;
  /** The statement's class, for COM_QUERY. */
  c: Classification | null = null;
  /** The prepared statement a COM_STMT_* command names. */
  stmt: PreparedStatement | null = null;
  /**
   * The statement text of a COM_QUERY or of a COM_STMT_PREPARE (one field for both: one object per
   * command, its size is allocation per query; `command` tells which).
   */
  sql: string | null = null;
  /** What routing needs to know of it. */
  statement: StatementClass = "none";
  /** The packet as it goes to the backend (CONNECTION_ID() rewritten: another payload). */
  sent: Packet;

  /** What the backend is relaying for it (set when it was sent). */
  inflight: Inflight | null = null;
  private ended = false;

  constructor(
    private readonly loop: ExchangeLoop,
    private readonly end: ExchangeEnd,
    /** The client's command packet. */
    readonly p: Packet,
  ) {
    this.sent = p;
  }

  /** The command byte. */
  get command(): number {
    return this.p.first;
  }

  /** The session closed under the command: every continuation stops here. */
  get closed(): boolean {
    return this.loop.closed;
  }

  get phase(): Phase {
    return this.loop.phase;
  }

  /** Off-socket work for this command begins (connecting, an audit event, COM_CHANGE_USER). */
  wait(on: WaitReason): void {
    this.loop.to(WAIT_EVENT[on]);
  }

  /** The command went to the backend: its response streams back. */
  relaying(): void {
    this.loop.to("sent");
  }

  /** The server asked for the client's LOCAL INFILE data, and got the last of it. */
  infileRequested(): void {
    this.loop.to("infile_requested");
  }

  infileSent(): void {
    this.loop.to("infile_sent");
  }

  write(framed: Buffer): boolean {
    return this.loop.write(framed);
  }

  /**
   * An ERR of pairgate's in place of the backend's answer (an audit refusal, the secondary's own
   * read-only refusal): the exchange still ends when the response is finished with (`complete`).
   */
  refuse(code: ErrorCode, message: string, seq = 1): void {
    this.loop.refuse(seq, code, message);
  }

  /** As `refuse`, at a sequence id taken from the server's own reply. */
  refuseAt(seq: number, code: ErrorCode, message: string): void {
    this.loop.refuseAt(seq, code, message);
  }

  /** The client's next packet, out of the command flow (COM_CHANGE_USER's auth exchange). */
  nextPacket(): Promise<Packet> {
    return this.loop.nextPacket();
  }

  /** Answered: the backend's response (its timing recorded) or an OK of pairgate's went out. */
  complete(): void {
    if (!this.finish(true)) return;
    this.next();
  }

  /** Answered with pairgate's ERR (`seq` as in CommandLoop.refuse); `close`: then the session closes. */
  fail(code: ErrorCode, message: string, seq = 1, close?: string): void {
    if (!this.finish(false)) return;
    this.loop.refuse(seq, code, message);
    if (close) this.end.close(close);
    this.next();
  }

  /** Answered with pairgate's ERR at a sequence id taken from the server's own reply. */
  failAt(seq: number, code: ErrorCode, message: string): void {
    if (!this.finish(false)) return;
    this.loop.refuseAt(seq, code, message);
    this.next();
  }

  /** Answered with an ERR for an error thrown below (a server's, pairgate's, or any other as 2003). */
  failWith(e: unknown, seq = 1, close?: string): void {
    if (!this.finish(false)) return;
    this.loop.sendError(seq, e);
    if (close) this.end.close(close);
    this.next();
  }

  /** Nothing more can be said to the client about this command (part of its answer went out): close. */
  abandon(reason: string): void {
    if (!this.finish(false)) return;
    this.end.close(reason);
  }

  /** True the first time; a second end is reported and refused. */
  private finish(answered: boolean): boolean {
    if (this.ended) {
      this.end.bug(`command 0x${this.command.toString(16)} ended twice`);
      return false;
    }
    this.ended = true;
    this.end.ended(this, answered);
    return !this.loop.closed;
  }

  /** Back to idle and on to the next command — unless it never left idle (the loop goes on itself). */
  private next(): void {
    const loop = this.loop;
    if (loop.closed || loop.phase.tag === "idle") return;
    loop.to("done");
    loop.pump();
  }
}
