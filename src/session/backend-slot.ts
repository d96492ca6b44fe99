/**
 * The session's backend slot: the one owner of the backend connection. It connects (the
 * secondary's read-only guard set and confirmed first), replays the session state on a new
 * connection, re-prepares statements under the dialect they were prepared in, moves the session
 * when the config moved a backend, retries a lost read, and relays the response of the command in
 * flight to the client. Nobody else writes to, pauses or reads the backend socket.
 *
 * The server's word over ours (issue 19): every connection tracks session state; what an OK
 * reports (system variables, schema) is the state a move carries, the dialect the next statement is
 * read in, and — on the secondary — whether the guard still holds: a report that it was lifted has
 * it restored (or the connection dropped) before the next statement is relayed.
 *
 * Hot path (`onData`): scan the chunk (ResponseScanner looks at headers and response ends only),
 * forward the same chunk to the client, pause the backend when the client cannot keep up. No
 * allocation per chunk.
 */
import type { BackendConnection, Role } from "../backend/connection.js";
import type { Logger } from "../observability/logger.js";
import {
  CLIENT_SESSION_TRACK,
  SERVER_SESSION_STATE_CHANGED,
  SERVER_STATUS_AUTOCOMMIT,
  SERVER_STATUS_IN_TRANS,
} from "../protocol/constants.js";
import { PairgateError, ServerError } from "../protocol/errors.js";
import type { Packet } from "../protocol/framer.js";
import { framePayload } from "../protocol/packet.js";
import { ResponseScanner } from "../protocol/response-scanner.js";
import { DOWN_MESSAGE, routeLogin, TRANSACTION_LOST_MESSAGE } from "../routing/router.js";
import type { SqlDialect } from "../sql/index.js";
import type { Mode } from "../topology/types.js";
import { AUDIT_HOLD_BYTES } from "./audit-gate.js";
import { afterResponse, type FollowUpHost } from "./backend-follow-up.js";
import { connectAs, prepareAgain, replayState } from "./backend-replay.js";
import { loginSomewhere, type RerouteSlot, retryElsewhere } from "./backend-reroute.js";
import { stateChanged, trackingStatement } from "./gtid-tracking.js";
import { DEFAULT_REPLAY_LIMITS, type PreparedStatement } from "./replay-state.js";
import { CutErrHold, guardRefusalSeq, isGuardRefusal, withGuardRefusalReplaced } from "./secondary-guard.js";
import { ServerReports } from "./server-reports.js";
import { ConnectionDialect, probeDialect } from "./session-dialect.js";
import type { Inflight, SessionSlot, SlotContext, SlotEvents, SlotIdentity } from "./slot-types.js";

const EMPTY_OK_STATUS = SERVER_STATUS_AUTOCOMMIT;

export class BackendSlot implements SessionSlot {
  /** Status flags of the last response: whether a transaction is open, autocommit. */
  status = EMPTY_OK_STATUS;
  /** Bumped on each new connection: a prepared statement knows on which one its backend id is valid. */
  generation = 0;
  readonly scanner = new ResponseScanner();
  /** When the command in flight was last sent (SessionSlot.sentAt); a double from the start, so stores go in place. */
  sentAt = performance.now();
  private conn: BackendConnection | null = null;
  private inflight: Inflight | null = null;
  private infile = false;
  /** A backend to leave once the current statement/transaction ends (config reload moved it). */
  private moveWhenIdle: Role | null = null;
  /** `sessionSetup` must run (again) before the connection serves: after COM_RESET_CONNECTION. */
  private needsSetup = false;
  /** The dialect of the connection serving the session (a new connection brings its own). */
  connectionDialect = new ConnectionDialect();
  /** The connection reports session state (CLIENT_SESSION_TRACK and the tracking variables set). */
  tracking = false;
  /** What the response in flight reported, handled once it is complete (`finish`). */
  private readonly reports: ServerReports;
  /** What a retry or a login's second try needs of the slot (backend-reroute.ts). */
  private readonly reroute: RerouteSlot;
  /** The first bytes of a secondary's packet that may be an ERR, held back until it is whole (onData). */
  private readonly cutErr = new CutErrHold();
  /** Where the slot reports; set once, right after the owner is built. */
  events!: SlotEvents;
  /** What `afterResponse` (backend-follow-up.ts) may do to this slot. */
  private readonly followUpHost: FollowUpHost;

  constructor(
    private ctx: SlotContext,
    private who: SlotIdentity,
    /** The client side: relayed chunks go out through `write` (false: pause the backend until 'drain'). */
    private out: { write(chunk: Buffer): boolean; readonly closed: boolean },
    private log: Logger,
  ) {
    this.reroute = {
      ctx,
      log,
      closed: () => out.closed,
      open: (role, replay) => this.open(role, replay),
      ensure: (role, stmt) => this.ensure(role, stmt),
      send: (f, framed) => this.send(f, framed),
    };
    this.reports = new ServerReports(who, {
      onSecondary: () => this.conn?.role === "secondary",
      dialectReported: (m, c) => this.connectionDialect.reported(m, c),
      dialect: () => this.connectionDialect.dialect,
      reach: ctx.routineReach,
    });
    this.followUpHost = {
      log: this.log,
      replayLimits: () => this.ctx.replayLimits ?? DEFAULT_REPLAY_LIMITS,
      setUp: (c) => this.setUp(c),
      reprobe: async (c) => this.connectionDialect.adopt(await probeDialect(c, c.role)),
      drop: (polite) => this.drop(polite),
    };
  }

  get role(): Role | null {
    return this.conn && !this.conn.closed ? this.conn.role : null;
  }

  /** The id of the backend connection serving the session now (KILL maps to it), or null. */
  get connectionId(): number | null {
    return this.conn && !this.conn.closed ? this.conn.connectionId : null;
  }

  get inTransaction(): boolean {
    return (this.status & SERVER_STATUS_IN_TRANS) !== 0;
  }

  /** The last status the backend reported at login or replay (the OK pairgate sends after login). */
  get loginStatus(): number {
    return (this.conn?.status || EMPTY_OK_STATUS) & ~SERVER_SESSION_STATE_CHANGED;
  }

  /** The fast path's test: connected to `role`, with `stmt` (if any) prepared on this connection. */
  serves(role: Role, stmt: PreparedStatement | null): boolean {
    const c = this.conn;
    return (
      c !== null &&
      !c.closed &&
      c.role === role &&
      !this.needsSetup &&
      (!stmt || stmt.backendGeneration === this.generation)
    );
  }

  /** Send a command whose response the slot relays. */
  send(f: Inflight, framed: Buffer | readonly Buffer[]): void {
    const conn = this.conn!;
    this.inflight = f;
    this.sentAt = performance.now();
    this.cutErr.clear();
    this.scanner.begin(f.kind, conn.capabilities);
    if (Buffer.isBuffer(framed)) conn.write(framed);
    else for (const part of framed) conn.write(part);
  }

  /** Send a command that has no response (COM_STMT_SEND_LONG_DATA). */
  sendOnly(framed: Buffer | readonly Buffer[]): void {
    if (Buffer.isBuffer(framed)) this.conn!.write(framed);
    else for (const part of framed) this.conn!.write(part);
  }

  /** One packet of the client's LOCAL INFILE data; the empty one ends it. */
  relayInfile(p: Packet): boolean {
    this.conn?.write(p.raw ?? framePayload(p.payload, p.seq));
    if (p.payload.length > 0) return false;
    this.infile = false;
    this.scanner.clientDataSent();
    return true;
  }

  /**
   * The command in flight is finished with (its response handled): take the status it ended with,
   * and act on what the server reported before the next command is relayed (issue 19): a lifted
   * guard restored, user variables read back, the guard and tracking set again after a reset.
   * Returns a promise (never rejects) when there is such work, else null.
   */
  finish(status: number, f: Inflight | null = null, failed = false): Promise<void> | null {
    if (status !== 0) this.status = status & ~SERVER_SESSION_STATE_CHANGED;
    this.inflight = null;
    const work = f ? this.followUp(f, failed) : null;
    if (!work) {
      this.leaveIfMoved();
      return null;
    }
    return work.then(() => this.leaveIfMoved());
  }

  private leaveIfMoved(): void {
    if (this.moveWhenIdle && !this.inTransaction) {
      this.moveWhenIdle = null;
      this.drop(true);
    }
  }

  /** What the response just finished asks of the connection (server-reports.ts); null when nothing. */
  private followUp(f: Inflight, failed: boolean): Promise<void> | null {
    const conn = this.conn;
    const w = this.reports.work(f, failed, this.tracking, conn && !conn.closed ? conn.role : null);
    return w && conn ? afterResponse(this.followUpHost, conn, this.who.state, w) : null;
  }

  closeStatement(stmt: PreparedStatement): void {
    if (this.conn && stmt.backendGeneration === this.generation) this.conn.closeStatement(stmt.backendId);
  }

  /** The client can take more: resume reading the backend. */
  clientDrained(): void {
    this.conn?.resume();
  }

  /** The pair changed mode: a statement in flight on a backend that left service is answered now. */
  modeChanged(mode: Mode): void {
    const f = this.inflight;
    // Planned maintenance leaves the primary up: what runs there may finish.
    if (!f || !this.conn || f.role === "secondary" || mode === "read_write" || this.ctx.isUp("primary"))
      return;
    this.log.debug({ mode }, "primary left service with a statement in flight");
    this.lost(new Error(`the primary left service (mode ${mode})`));
  }

  /** The config moved this backend: leave it at the next statement boundary (never mid-transaction). */
  moved(role: Role): void {
    if (this.role !== role) return;
    if (!this.inflight && !this.inTransaction) this.drop(true);
    else this.moveWhenIdle = role;
  }

  /** Make `role` the session's backend: connect (or move), replay the session state, re-prepare `stmt`. */
  async ensure(role: Role, stmt: PreparedStatement | null): Promise<void> {
    if (!this.conn || this.conn.closed || this.conn.role !== role) {
      if (this.conn && !this.conn.closed && this.inTransaction) {
        // Never move a transaction; the router only asks when the old backend left service.
        this.drop(true);
        this.status &= ~SERVER_STATUS_IN_TRANS;
        throw new PairgateError("PAIRGATE_TRANSACTION_LOST", TRANSACTION_LOST_MESSAGE);
      }
      const unmovable = this.who.state.unmovable;
      if (unmovable && this.generation > 0) {
        throw new PairgateError(
          "PAIRGATE_SESSION_PINNED",
          `pairgate must move this session to the ${role} database, but it holds ${unmovable}, which cannot be moved; the session is closed. Reconnect to continue.`,
        );
      }
      await this.open(role, this.generation > 0);
    } else if (this.needsSetup) {
      try {
        await this.setUp(this.conn);
      } catch (e) {
        this.drop(false);
        throw e;
      }
    }
    if (stmt && stmt.backendGeneration !== this.generation) await this.reprepare(this.conn!, stmt);
  }

  /** Prepare `stmt` again on `c`, under the dialect it was first prepared in (backend-replay.ts). */
  private async reprepare(c: BackendConnection, stmt: PreparedStatement): Promise<void> {
    const d = this.connectionDialect;
    stmt.backendId = await prepareAgain(c, stmt, d.sqlMode, d.charsetClient, () => this.drop(false));
    stmt.backendGeneration = this.generation;
  }

  /** After the backend was lost under a retryable command: the command again where reads go now (backend-reroute.ts). */
  retry(f: Inflight, lost: Role, modeSeen: Mode): Promise<void> {
    return retryElsewhere(this.reroute, f, lost, modeSeen);
  }

  /** Open the session's first connection (login, COM_CHANGE_USER): see `loginSomewhere` (backend-reroute.ts). */
  login(): Promise<Role> {
    return loginSomewhere(this.reroute);
  }

  /**
   * Open a connection to `role` as the session's user; `replay` the session state on it. Order
   * (issue 19): the secondary's guard is set and confirmed before anything else, then session
   * tracking, then the replay (literals only, never a guard variable on the secondary), then the
   * dialect (and the guard) read again.
   */
  async open(role: Role, replay: boolean): Promise<void> {
    this.drop(true);
    const conn = await connectAs(this.ctx, this.who, role);
    if (this.out.closed) {
      conn.destroy();
      throw new Error("session closed");
    }
    const dialect = new ConnectionDialect(conn.serverVersion);
    try {
      await this.setUp(conn, dialect);
      if (replay) {
        await replayState(conn, this.who.state, (this.status & SERVER_STATUS_AUTOCOMMIT) !== 0);
        dialect.adopt(await probeDialect(conn, role));
      }
    } catch (e) {
      conn.destroy();
      throw e;
    }
    this.conn = conn;
    this.connectionDialect = dialect;
    this.generation++;
    // Reports of a response on the previous connection that never finished are not about this one.
    this.reports.clear();
    this.ctx.hooks.backendConnections(role, 1);
    conn.attach(this.onData, this.onClose, this.onError);
    this.status =
      (this.status & ~SERVER_STATUS_IN_TRANS) |
      (conn.status & SERVER_STATUS_AUTOCOMMIT ? SERVER_STATUS_AUTOCOMMIT : 0);
    if (replay) this.log.info({ to: role }, "session moved to another backend, state replayed");
  }

  /**
   * Read the session's dialect back from the backend (between commands only). With no connection
   * (its backend was lost, e.g. a failover), the dialect is the one of the connection that serves
   * the session now: it is opened (state replayed) and read there — never waited for on the old one.
   */
  async readDialect(): Promise<SqlDialect> {
    const c = this.conn;
    if (!c || c.closed) {
      const d = routeLogin(this.ctx.mode(), this.ctx.readRole());
      if ("refuse" in d) throw new PairgateError("PAIRGATE_DOWN", DOWN_MESSAGE);
      if (d.to === "secondary") await this.ctx.secondaryReadable?.();
      await this.ensure(d.to, null);
      return this.connectionDialect.dialect;
    }
    if (this.inflight) throw new Error("no idle backend connection to read the dialect from");
    if (this.needsSetup) await this.setUp(c);
    else this.connectionDialect.adopt(await probeDialect(c, c.role));
    return this.connectionDialect.dialect;
  }

  /**
   * The server reset the session (COM_RESET_CONNECTION): `sessionSetup` (the secondary's guard) and
   * session tracking are gone. Nothing runs on this connection before they are set again (`finish`
   * does so at once; `serves` is false until then).
   */
  guardLost(): void {
    this.needsSetup = true;
  }

  /**
   * Make `c` serve: `sessionSetup` (the secondary's guard) first, confirmed by the probe that also
   * reads the dialect — before anything else runs there; then session tracking (issue 19).
   */
  private async setUp(c: BackendConnection, dialect = this.connectionDialect): Promise<void> {
    const setup = this.ctx.sessionSetup?.(c.role);
    if (setup) for (const sql of setup) await c.runQuery(sql);
    dialect.adopt(await probeDialect(c, c.role));
    this.tracking = false;
    if (c.capabilities & CLIENT_SESSION_TRACK) {
      try {
        await c.runQuery(trackingStatement(c.serverVersion));
        this.tracking = true;
      } catch (e) {
        // A server without these variables: the session works, but its state cannot be carried.
        if (!(e instanceof ServerError)) throw e;
        this.log.debug({ err: e.message }, "the backend does not track session state for this session");
      }
    }
    if (!this.tracking) this.who.state.notCarried ??= "session state the server does not report";
    this.needsSetup = false;
  }

  /** Let the backend go: `polite` with COM_QUIT, else at once. */
  drop(polite: boolean): void {
    const c = this.conn;
    if (!c) return;
    this.conn = null;
    c.detach(this.onClose, this.onError);
    this.ctx.hooks.backendConnections(c.role, -1);
    if (polite) c.quit();
    else c.destroy();
  }

  /** A new session identity (COM_CHANGE_USER): the next connection logs in as it. */
  reset(status: number): void {
    this.status = status;
  }

  private onData = (chunk: Buffer): void => {
    const f = this.inflight;
    // Unsolicited (e.g. the server's "connection killed" before it closes): the close handles it.
    if (!f) return;
    const done = this.scanner.feed(chunk);
    chunk = this.cutErr.join(chunk); // a secondary's refusal cut by the network is relayed whole
    if (!done && f.role === "secondary") {
      chunk = this.cutErr.keepTail(chunk, this.scanner);
      if (chunk.length === 0) return;
    }
    // A response that ends with session state (SET, USE, commits): learn what the server reports
    // (GTID, variables, schema) and strip the state the client did not ask for. One flag test otherwise.
    if (done) {
      if (this.scanner.status & SERVER_SESSION_STATE_CHANGED) {
        chunk = stateChanged(f.role, chunk, this.scanner, this.ctx, this.reports, this.log);
        this.scanner.status &= ~SERVER_SESSION_STATE_CHANGED; // handled: never seen by the next response
      }
      if (this.scanner.earlierStateChange) this.reports.unseen();
    }
    // A branch, not activity[f.role]: a keyed store by a variable string goes through a slow IC.
    if (f.role === "primary") this.ctx.activity.primary++;
    else this.ctx.activity.secondary++;
    if (done && this.scanner.failed && f.role === "secondary" && isGuardRefusal(this.scanner.errno)) {
      if (!f.forwarded && !f.collect?.length) {
        const seq = guardRefusalSeq(chunk);
        if (seq >= 0) {
          this.events.guardRefused(f, seq);
          return;
        }
      }
      // After earlier results the trailing ERR alone becomes pairgate's 1290 (secondary-guard.ts).
      const mapped = withGuardRefusalReplaced(chunk, this.scanner.lastPacketLength);
      if (mapped !== null) {
        chunk = mapped;
        this.ctx.hooks.writeRejected();
      }
    }
    if (f.collect) {
      f.collect.push(chunk);
      // An audited result waits for its event: hold its first chunks only, then stop reading the
      // backend until the event is durable (the handler resumes it: `clientDrained`).
      if (f.gate !== null && (f.held += chunk.length) > AUDIT_HOLD_BYTES && !done) this.conn!.pause();
    } else if (f.discard) {
      // dropped: the audit event could not be made durable; the client gets an ERR at the end
    } else {
      f.forwarded = true;
      if (!this.out.write(chunk)) this.conn!.pause();
    }
    if (this.scanner.awaitingClientData) {
      if (!this.infile) {
        this.infile = true;
        this.events.infileRequested();
      }
      return;
    }
    if (done) this.events.completed(f);
  };

  private onClose = (): void => {
    this.lost(new Error("the backend closed the connection"));
  };

  private onError = (e: NodeJS.ErrnoException): void => {
    this.log.debug({ err: e.code ?? e.message }, "backend socket error");
  };

  /** The backend serving this session is gone (crash, reset, or it left service). */
  private lost(err: Error): void {
    const conn = this.conn;
    if (!conn) return;
    const role = conn.role;
    const modeSeen = this.ctx.mode();
    this.drop(false);
    this.ctx.reportBackendError(role, err);
    const wasInTransaction = this.inTransaction;
    this.status &= ~SERVER_STATUS_IN_TRANS;
    const f = this.inflight;
    this.inflight = null;
    this.infile = false;
    this.events.lost(f, role, err, wasInTransaction, modeSeen);
  }
}
