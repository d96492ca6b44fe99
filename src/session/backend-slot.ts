/**
 * The session's backend slot: the one owner of the backend connection. It connects, replays the
 * session state on a new connection, re-prepares statements, moves the session when the config
 * moved a backend, retries a lost read, and relays the response of the command in flight to the
 * client. Nobody else writes to, pauses or reads the backend socket.
 *
 * Hot path (`onData`): scan the chunk (ResponseScanner looks at headers and response ends only),
 * forward the same chunk to the client, pause the backend when the client cannot keep up. No
 * allocation per chunk.
 */
import { BackendConnection, BackendError, type Role } from "../backend/connection.js";
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
import { DOWN_MESSAGE, retryTarget, routeLogin, TRANSACTION_LOST_MESSAGE } from "../routing/router.js";
import type { PreparedStatement } from "../routing/session-state.js";
import { DEFAULT_DIALECT, type SqlDialect } from "../sql/index.js";
import type { Mode } from "../topology/types.js";
import { stateChanged, trackGtidStatement } from "./gtid-tracking.js";
import { guardRefusalSeq } from "./secondary-guard.js";
import { probeDialect } from "./session-dialect.js";
import type { Inflight, SlotContext, SlotEvents, SlotIdentity } from "./slot-types.js";
import { frameForBackend } from "./statements.js";

const EMPTY_OK_STATUS = SERVER_STATUS_AUTOCOMMIT;

export class BackendSlot {
  /** Status flags of the last response: whether a transaction is open, autocommit. */
  status = EMPTY_OK_STATUS;
  /** Bumped on each new connection: a prepared statement knows on which one its backend id is valid. */
  generation = 0;
  readonly scanner = new ResponseScanner();
  private conn: BackendConnection | null = null;
  private inflight: Inflight | null = null;
  private infile = false;
  /** A backend to leave once the current statement/transaction ends (config reload moved it). */
  private moveWhenIdle: Role | null = null;
  /** `sessionSetup` must run (again) before the connection serves: after COM_RESET_CONNECTION. */
  private needsSetup = false;
  /** How the current connection's session reads SQL (read at connect, see session-dialect.ts). */
  dialect: SqlDialect = DEFAULT_DIALECT;
  /** Where the slot reports; set once, right after the owner is built. */
  events!: SlotEvents;

  constructor(
    private ctx: SlotContext,
    private who: SlotIdentity,
    /** The client side: relayed chunks go out through `write` (false: pause the backend until 'drain'). */
    private out: { write(chunk: Buffer): boolean; readonly closed: boolean },
    private log: Logger,
  ) {}

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
  send(f: Inflight, framed: Buffer): void {
    const conn = this.conn!;
    this.inflight = f;
    this.scanner.begin(f.kind, conn.capabilities);
    conn.write(framed);
  }

  /** Send a command that has no response (COM_STMT_SEND_LONG_DATA). */
  sendOnly(framed: Buffer): void {
    this.conn!.write(framed);
  }

  /** One packet of the client's LOCAL INFILE data; the empty one ends it. */
  relayInfile(p: Packet): boolean {
    this.conn?.write(p.raw ?? framePayload(p.payload, p.seq));
    if (p.payload.length > 0) return false;
    this.infile = false;
    this.scanner.clientDataSent();
    return true;
  }

  /** The command in flight is finished with (its response handled): take the status it ended with. */
  finish(status: number): void {
    if (status !== 0) this.status = status & ~SERVER_SESSION_STATE_CHANGED;
    this.inflight = null;
    if (this.moveWhenIdle && !this.inTransaction) {
      this.moveWhenIdle = null;
      this.drop(true);
    }
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
      if (this.who.state.pinnedBy && this.generation > 0) {
        throw new PairgateError(
          "PAIRGATE_SESSION_PINNED",
          `pairgate must move this session to the ${role} database, but it holds ${this.who.state.pinnedBy}, which cannot be moved; the session is closed. Reconnect to continue.`,
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
    if (stmt && stmt.backendGeneration !== this.generation) {
      const r = await this.conn!.prepare(stmt.sql);
      stmt.backendId = r.statementId;
      stmt.backendGeneration = this.generation;
    }
  }

  /**
   * After the backend was lost under a retryable command: wait for the topology's verdict, then run
   * the command again where reads go now. Rejects when nothing can run it.
   */
  async retry(f: Inflight, lost: Role, modeSeen: Mode): Promise<void> {
    await this.ctx.settle(this.ctx.connectTimeoutMs * 2, lost, modeSeen);
    if (this.out.closed) throw new Error("session closed");
    const to = retryTarget(this.ctx.mode(), this.ctx.readRole(), lost);
    if (!to)
      throw new PairgateError(
        "PAIRGATE_STATEMENT_LOST",
        `pairgate lost the ${lost} database while running this statement and no other server can run it`,
      );
    if (to === "secondary") await this.ctx.secondaryReadable?.();
    if (this.out.closed) throw new Error("session closed");
    await this.ensure(to, f.stmt);
    f.role = to;
    f.retried = true;
    f.startedAt = performance.now();
    f.forwarded = false;
    if (f.collect) f.collect = [];
    this.send(f, frameForBackend(f.payload, null, f.stmt));
  }

  /**
   * Open the session's first connection (login, COM_CHANGE_USER) where the router sends a session
   * without a statement. When the primary cannot be reached — a crash the monitor has not seen yet
   * (a connection 12 ms after a kill -9 is refused) — the error is reported to the topology, the
   * session waits for its verdict and routes again, once: it lands on the secondary instead of
   * failing. Rejects with PAIRGATE_DOWN when nothing serves, else with the open's error.
   */
  async login(): Promise<Role> {
    for (let attempt = 0; ; attempt++) {
      const modeSeen = this.ctx.mode();
      const d = routeLogin(modeSeen, this.ctx.readRole());
      if ("refuse" in d) throw new PairgateError("PAIRGATE_DOWN", DOWN_MESSAGE);
      try {
        await this.open(d.to, false);
        return d.to;
      } catch (e) {
        // `open` reported the error to the topology already.
        if (attempt > 0 || d.to !== "primary" || !worthAnotherTry(e as Error) || this.out.closed) throw e;
        this.log.debug(
          { err: (e as Error).message },
          "primary unreachable at login: waiting for the verdict",
        );
        if (this.ctx.verdict) await this.ctx.verdict();
        else await this.ctx.settle(this.ctx.connectTimeoutMs * 2, "primary", modeSeen);
        if (this.out.closed) throw e;
      }
    }
  }

  /** Open a connection to `role` as the session's user; `replay` the session state on it. */
  async open(role: Role, replay: boolean): Promise<void> {
    this.drop(true);
    let conn: BackendConnection;
    const who = this.who;
    try {
      conn = await BackendConnection.open(
        this.ctx.target(role),
        {
          username: who.username,
          password: who.password,
          database: who.state.schema,
          collation: who.state.collation,
          // On the primary, ask for session state tracking: each commit's OK then names its GTID.
          capabilities: role === "primary" ? who.capabilities | CLIENT_SESSION_TRACK : who.capabilities,
          connectAttrs: who.connectAttrs,
          mariadbCapabilities: who.mariadbCapabilities,
        },
        this.ctx.connectTimeoutMs,
      );
    } catch (e) {
      if (e instanceof ServerError) throw e; // the server refused the login: no failover matter
      this.ctx.reportBackendError(role, e as Error);
      throw e instanceof BackendError
        ? e
        : new BackendError(`${role}: ${(e as Error).message}`, "PAIRGATE_BACKEND_ERROR", role);
    }
    if (this.out.closed) {
      conn.destroy();
      throw new Error("session closed");
    }
    if (replay) {
      const autocommit = (this.status & SERVER_STATUS_AUTOCOMMIT) !== 0;
      for (const sql of who.state.replayStatements(autocommit, role === "secondary"))
        await conn.runQuery(sql);
    }
    try {
      await this.setUp(conn);
    } catch (e) {
      conn.destroy();
      throw e;
    }
    // After the replay: a replayed SET of a tracked variable must not change what is tracked.
    if (conn.capabilities & CLIENT_SESSION_TRACK) {
      try {
        await conn.runQuery(trackGtidStatement(conn.serverVersion));
      } catch (e) {
        // A server without these variables: the session works, its commits are just not reported.
        if (!(e instanceof ServerError)) throw e;
        this.log.debug({ err: e.message }, "the primary does not track GTIDs for this session");
      }
    }
    this.conn = conn;
    this.generation++;
    this.ctx.hooks.backendConnections(role, 1);
    conn.attach(this.onData, this.onClose, this.onError);
    this.status =
      (this.status & ~SERVER_STATUS_IN_TRANS) |
      (conn.status & SERVER_STATUS_AUTOCOMMIT ? SERVER_STATUS_AUTOCOMMIT : 0);
    if (replay) this.log.info({ to: role }, "session moved to another backend, state replayed");
  }

  /** Read the session's dialect back from the backend (between commands only). */
  async readDialect(): Promise<SqlDialect> {
    const c = this.conn;
    if (!c || c.closed || this.inflight)
      throw new Error("no idle backend connection to read the dialect from");
    if (this.needsSetup) await this.setUp(c);
    else this.dialect = await probeDialect(c, c.role);
    return this.dialect;
  }

  /**
   * The server reset the session (COM_RESET_CONNECTION): `sessionSetup` (the secondary's guard) is
   * gone. Nothing runs on this connection before it is set again (`serves` is false until `ensure`).
   */
  guardLost(): void {
    this.needsSetup = true;
  }

  /** Run `sessionSetup` on `c` and read its dialect (confirming the guard on the secondary). */
  private async setUp(c: BackendConnection): Promise<void> {
    const setup = this.ctx.sessionSetup?.(c.role);
    if (setup) for (const sql of setup) await c.runQuery(sql);
    this.dialect = await probeDialect(c, c.role);
    this.needsSetup = false;
  }

  /**
   * After a COM_RESET_CONNECTION the server's session variables are back to their defaults: a
   * primary connection that tracked commits' GTIDs is told to again. Null when there is nothing
   * to do; never rejects (a backend lost meanwhile is handled by the close).
   */
  trackAgain(): Promise<void> | null {
    const conn = this.conn;
    if (!conn || conn.closed || !(conn.capabilities & CLIENT_SESSION_TRACK)) return null;
    return conn.runQuery(trackGtidStatement(conn.serverVersion)).catch((e: Error) => {
      this.log.debug({ err: e.message }, "could not track GTIDs again after COM_RESET_CONNECTION");
    });
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
    // A response that ends with session state (only commits, on a primary hop that tracks them):
    // learn the GTID, and strip the state the client did not ask for. One flag test otherwise.
    if (done && this.scanner.status & SERVER_SESSION_STATE_CHANGED) {
      chunk = stateChanged(f.role, chunk, this.scanner, this.ctx, this.log);
      this.scanner.status &= ~SERVER_SESSION_STATE_CHANGED; // handled: never seen by the next response
    }
    // A branch, not activity[f.role]: a keyed store by a variable string goes through a slow IC.
    if (f.role === "primary") this.ctx.activity.primary++;
    else this.ctx.activity.secondary++;
    if (done && this.scanner.failed && f.role === "secondary" && !f.forwarded && !f.collect?.length) {
      const seq = guardRefusalSeq(chunk);
      if (seq >= 0) {
        this.events.guardRefused(f, seq);
        return;
      }
    }
    if (f.collect) f.collect.push(chunk);
    else {
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

/**
 * Could `ensure` succeed once the topology has a verdict (the backend could not be reached), or
 * is the answer final (the server refused, the session is pinned, its transaction is lost)?
 */
export function worthAnotherTry(e: Error): boolean {
  if (e instanceof ServerError) return false;
  return !(
    e instanceof PairgateError &&
    (e.code === "PAIRGATE_SESSION_PINNED" || e.code === "PAIRGATE_TRANSACTION_LOST")
  );
}
