/**
 * One client session, assembled (the shape of Vitess `go/mysql`: a connection, a handler, and
 * pairgate's parts behind the handler):
 *
 *   CommandLoop    (command-loop.ts)  client socket → packets → sequence check → queue → one command at a time
 *   SessionHandler (handler.ts)       command → decode → classify → route (routing/router.ts) → refuse | send
 *     Exchange     (exchange.ts)      the command in flight: its phase and its one end (complete | fail)
 *     (statement-context.ts: dialect, handles, schema; refusals.ts; responses.ts: a response's end)
 *   BackendSlot    (backend-slot.ts)  the backend connection behind SessionSlot (slot-types.ts):
 *     ensure/replay/retry/move (backend-replay.ts, backend-reroute.ts), relays the response,
 *     acts on what the server reports (server-reports.ts, backend-follow-up.ts, gtid-tracking.ts)
 *   SessionIdentity (identity.ts)     who the session is and its replayable state (replay-state.ts)
 *   StatementMap   (prepared-statements.ts)  prepared-statement ids, pairgate's ↔ the backend's
 *   AuditGate      (audit-gate.ts)    which results wait for a durable audit event
 *   Phase          (phase.ts)         login | idle | relaying | infile | waiting | closed, one transition function
 *
 * The data flow of one COM_QUERY, top-down: CommandLoop.onClientData → CommandLoop.command →
 * SessionHandler.command (a new Exchange) → run (decodeCommand, classify) → dispatch → decide
 * (route) → send → BackendSlot.send; the response: BackendSlot.onData (scan, forward) →
 * Responses.completed → finish (applySessionState, BackendSlot.finish) → Exchange.complete →
 * CommandLoop.pump → the next command.
 *
 * Hot-path rules (see DESIGN.md "Speed"): response bytes are forwarded in the chunks the backend
 * socket delivered; only headers and the packets that end a response are looked at; nothing per
 * packet is allocated; backpressure pauses the backend while the client is slow.
 */
import type { Socket } from "node:net";
import { BackendError, type Role } from "../backend/connection.js";
import { PairgateError, ServerError } from "../protocol/errors.js";
import { encodeOk } from "../protocol/messages.js";
import { framePayload } from "../protocol/packet.js";
import type { Mode } from "../topology/types.js";
import { AuditGate, type AuditSubject } from "./audit-gate.js";
import { BackendSlot } from "./backend-slot.js";
import { CommandLoop } from "./command-loop.js";
import type { SessionContext } from "./context.js";
import { SessionHandler } from "./handler.js";
import { SessionIdentity, type SessionLogin } from "./identity.js";
import type { Killable } from "./kill.js";
import { StatementMap } from "./prepared-statements.js";

export type { AuditInput, SessionAudit } from "./audit-gate.js";
export type { SessionContext, SessionHooks } from "./context.js";
export type { SessionLogin } from "./identity.js";

export class ClientSession implements AuditSubject, Killable {
  readonly id: number;
  readonly remoteAddress: string;
  private readonly loop: CommandLoop;
  private readonly slot: BackendSlot;
  private readonly handler: SessionHandler;
  private readonly who: SessionIdentity;
  private readonly audit: AuditGate;
  private clientTls = false;

  constructor(id: number, client: Socket, ctx: SessionContext) {
    this.id = id;
    this.remoteAddress = client.remoteAddress?.replace(/^::ffff:/, "") ?? "unknown";
    // One logger for every part of the session, its bindings set here once.
    const log = ctx.logger.child({ session: id, client: this.remoteAddress });
    this.who = new SessionIdentity(id, this.remoteAddress);
    this.loop = new CommandLoop(client, ctx, log);
    const statements = new StatementMap(this.who);
    this.audit = new AuditGate(ctx.audit, this);
    this.slot = new BackendSlot(ctx, this.who, this.loop, log);
    this.handler = new SessionHandler(
      ctx,
      this.loop,
      this.slot,
      this.who,
      statements,
      this.audit,
      () => this.clientTls,
      log,
    );
    this.slot.events = this.handler;
    this.loop.bind(this.handler);
  }

  get startedAt(): number {
    return this.handler.startedAt;
  }

  get client(): Socket {
    return this.loop.client;
  }

  get username(): string {
    return this.who.username;
  }

  get schema(): string | null {
    return this.who.state.schema;
  }

  get inTransaction(): boolean {
    return this.slot.inTransaction;
  }

  get backendRole(): Role | null {
    return this.slot.role;
  }

  /**
   * Start the command phase after a successful login: open the backend, answer the client.
   * `client` may be the TLS socket that replaced the plain one during login.
   *
   * Logins during failure detection: proxy.ts holds a login while the primary is suspect; one
   * that still fails on the primary waits for the verdict and routes again (`BackendSlot.login`).
   */
  async begin(client: Socket, login: SessionLogin, okSeq: number): Promise<boolean> {
    const loop = this.loop;
    loop.client = client;
    this.clientTls = "encrypted" in client && (client as { encrypted?: boolean }).encrypted === true;
    this.who.loggedIn(login);
    try {
      // A primary that cannot be reached is retried once after the topology's verdict (slot.login).
      await this.slot.login().catch((e: Error) => {
        if (e instanceof ServerError) throw e; // the server refused this user: say what it said
        if (e instanceof PairgateError && e.code === "PAIRGATE_DOWN") throw e;
        const role = e instanceof BackendError ? e.role : "backend";
        throw new PairgateError(
          "PAIRGATE_BACKEND_UNREACHABLE",
          `pairgate could not reach the ${role} database: ${e.message}`,
        );
      });
    } catch (e) {
      loop.sendError(okSeq, e);
      this.handler.close("backend login failed");
      return false;
    }
    loop.to("logged_in");
    loop.write(framePayload(encodeOk({ statusFlags: this.slot.loginStatus }), okSeq));
    // Only now read commands (a command sent early waits in the socket until after the OK).
    loop.start(client, this.clientTls);
    this.audit.post({ operation: "login", outcome: "ok", backend: this.slot.role });
    return true;
  }

  /** The backend connection serving this session now (KILL maps to it). */
  backendConnection(): { role: Role; connectionId: number } | null {
    const role = this.slot.role;
    const connectionId = this.slot.connectionId;
    return role && connectionId !== null ? { role, connectionId } : null;
  }

  /** The pair changed mode: a statement in flight on a backend that left service is answered now. */
  onModeChange(mode: Mode): void {
    this.slot.modeChanged(mode);
  }

  /** The config moved this backend: leave it at the next statement boundary (never mid-transaction). */
  backendMoved(role: Role): void {
    this.slot.moved(role);
  }

  /** A reload changed maxAllowedPacket: this session's next packets are held to it. */
  setMaxAllowedPacket(n: number): void {
    this.loop.setMaxAllowedPacket(n);
  }

  /**
   * Graceful shutdown: let the statement in flight finish, then close. Commands the client sends
   * meanwhile get ER_SERVER_SHUTDOWN.
   */
  drain(): void {
    this.loop.drain();
  }

  close(reason?: string): void {
    this.handler.close(reason);
  }
}
