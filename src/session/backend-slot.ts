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
import { BackendConnection, BackendError, type Role } from "../backend/connection.js";
import type { Logger } from "../observability/logger.js";
import {
  CLIENT_SESSION_TRACK,
  COM_QUERY,
  COM_RESET_CONNECTION,
  SERVER_SESSION_STATE_CHANGED,
  SERVER_STATUS_AUTOCOMMIT,
  SERVER_STATUS_IN_TRANS,
} from "../protocol/constants.js";
import { PairgateError, ServerError } from "../protocol/errors.js";
import type { Packet } from "../protocol/framer.js";
import { framePayload } from "../protocol/packet.js";
import { ResponseScanner } from "../protocol/response-scanner.js";
import { DOWN_MESSAGE, retryTarget, routeLogin, TRANSACTION_LOST_MESSAGE } from "../routing/router.js";
import { DEFAULT_REPLAY_LIMITS, NotALiteral, type PreparedStatement } from "../routing/session-state.js";
import { type Classification, DEFAULT_DIALECT, type SqlDialect } from "../sql/index.js";
import { quoteString } from "../sql/quote.js";
import type { Mode } from "../topology/types.js";
import { readChangedVariables } from "./changed-variables.js";
import { stateChanged, type TrackSink, trackingStatement } from "./gtid-tracking.js";
import {
  guardRefusalSeq,
  isGuardLifted,
  isGuardRefusal,
  withGuardRefusalReplaced,
} from "./secondary-guard.js";
import { dialectOf, type Probed, probeDialect } from "./session-dialect.js";
import type { Inflight, SlotContext, SlotEvents, SlotIdentity } from "./slot-types.js";
import { frameForBackend } from "./statements.js";
import { readUserVariables } from "./user-variables.js";

const EMPTY_OK_STATUS = SERVER_STATUS_AUTOCOMMIT;

/**
 * How much of an audited result is held while its event becomes durable (usually a few ms, long
 * before a result is this large); then the backend is paused, so no result is ever held whole.
 */
export const AUDIT_HOLD_BYTES = 1024 * 1024;

export class BackendSlot implements TrackSink {
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
  /** How the current connection's session reads SQL (read at connect, then as the server reports it). */
  dialect: SqlDialect = DEFAULT_DIALECT;
  /** Bumped whenever `dialect` is set from the server (a probe or a tracked sql_mode/charset). */
  dialectVersion = 0;
  /** The server's session sql_mode and character_set_client as last read or reported (null: unknown). */
  sqlMode: string | null = null;
  charsetClient: string | null = null;
  /** The connection reports session state (CLIENT_SESSION_TRACK and the tracking variables set). */
  tracking = false;
  /** What the response in flight reported, handled once it is complete (`finish`). */
  private guardLifted = false;
  private stateUnseen = false;
  private stateChangeReported = false;
  /** The first bytes of a secondary's packet that may be an ERR, held back until it is whole (onData). */
  private held: Buffer | null = null;
  private varsReported = false;
  private collationUnknown = false;
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
  send(f: Inflight, framed: Buffer | readonly Buffer[]): void {
    const conn = this.conn!;
    this.inflight = f;
    this.held = null;
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

  /** What the response just finished asks of the connection; null when nothing. */
  private followUp(f: Inflight, failed: boolean): Promise<void> | null {
    const guardLifted = this.guardLifted;
    // A SET of system variables the server did not report: MariaDB 10.11 reports nothing for
    // `SET @@sql_mode = …` (no scope keyword), not even the state-changed flag. Read back as if
    // unseen, else the session is read (and audited, and carried) in its old dialect.
    const unseen =
      this.stateUnseen || (!failed && this.tracking && !this.varsReported && setsSystemVariable(f));
    // A routine may do the same inside, and more: `SET @@tx_read_only = 0` (or SET TRANSACTION READ
    // WRITE) in a function makes the next transaction read-write, unreported and invisible in
    // @@session.tx_read_only — the next statement wrote on the secondary. After a routine ran,
    // ended well or not, the secondary's guard is set again (it resets that) and the dialect read.
    const routine = runsRoutine(f.classification ?? f.stmt?.classification);
    const collation = this.collationUnknown;
    // A state change the tracked variables and schema do not explain: a user variable (or a
    // prepared statement, a temporary table) — the user variables are read back.
    const stateChange = this.stateChangeReported && !this.varsReported;
    this.guardLifted = this.stateUnseen = this.collationUnknown = false;
    this.stateChangeReported = this.varsReported = false;
    const reset = f.command === COM_RESET_CONNECTION && !failed;
    const userVars =
      !reset && (unseen || stateChange || mayChangeUserVariables(f.classification ?? f.stmt?.classification));
    const conn = this.conn;
    if (!conn || conn.closed) {
      // The backend is gone before its state could be read back: what was kept may be stale.
      if (userVars) this.who.state.setUserVariables(null, LOST_USER_VARIABLES);
      if (unseen) this.who.state.notCarried ??= UNSEEN;
      return null;
    }
    const guard = !reset && conn.role === "secondary" && (guardLifted || unseen || routine);
    if (!reset && !guard && !userVars && !unseen && !collation && !routine) return null;
    return this.afterResponse(conn, { reset, guard, guardLifted, userVars, unseen, collation, routine });
  }

  /** `followUp`'s work, in order: the guard first, then what the session state needs. Never rejects. */
  private async afterResponse(
    conn: BackendConnection,
    w: {
      reset: boolean;
      guard: boolean;
      guardLifted: boolean;
      userVars: boolean;
      unseen: boolean;
      collation: boolean;
      routine: boolean;
    },
  ): Promise<void> {
    const state = this.who.state;
    let resync = w.unseen;
    try {
      if (w.reset || w.guard) {
        // The server says the guard was lifted (or may have been, or was reset): set it again and
        // confirm it before anything else runs here. The statement that lifted it wrote nothing yet.
        if (w.guardLifted)
          this.log.warn(
            { backend: "secondary" },
            "a statement lifted the secondary's read-only guard: restored",
          );
        await this.setUp(conn);
      } else if (w.unseen || w.routine) this.adopt(await probeDialect(conn, conn.role));
      // A routine may change any session variable unreported (MariaDB 10.11 reports no `SET @@x = …`
      // without a scope keyword, in a routine or not): read them all back, or a move carries stale ones.
      if (w.routine) resync = true;
    } catch (e) {
      // Never serve from a connection whose guard is not confirmed: the next command opens a new one.
      this.log.warn(
        { err: (e as Error).message },
        "could not set the backend session up again: connection dropped",
      );
      this.drop(false);
      return;
    }
    try {
      if (resync) {
        // A multi-statement's earlier results reported state that went out unread, or a routine ran:
        // read it all back. Until that succeeds the session cannot move.
        state.notCarried ??= UNSEEN;
        state.resync(await readChangedVariables(conn));
        if (state.notCarried === UNSEEN) state.notCarried = null;
      }
      if (w.collation) {
        const row = await conn.queryRow("SELECT @@session.collation_connection");
        if (row?.[0]) state.track("collation_connection", row[0]);
      }
      if (w.userVars) {
        const r = await readUserVariables(conn, this.ctx.replayLimits ?? DEFAULT_REPLAY_LIMITS);
        state.setUserVariables(r.vars, r.problem);
      }
    } catch (e) {
      // Not read back (a refusal, a name that is not a literal, the backend lost meanwhile): what
      // was kept may be stale, so the session cannot move. A lost connection is handled by its close.
      if (w.userVars)
        state.setUserVariables(null, `user variables pairgate could not read back (${(e as Error).message})`);
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

  /**
   * Prepare `stmt` on this connection under the sql_mode and client character set it was first
   * prepared under (issue 19): set as literals around the prepare, restored after. Refused when
   * either is not known — never prepared under another dialect, where its text may read as another
   * statement.
   */
  private async reprepare(c: BackendConnection, stmt: PreparedStatement): Promise<void> {
    const same = stmt.sqlMode === this.sqlMode && stmt.charsetClient === this.charsetClient;
    if (
      stmt.sqlMode === null ||
      stmt.charsetClient === null ||
      (!same && (this.sqlMode === null || this.charsetClient === null))
    )
      throw new PairgateError(
        "PAIRGATE_STATEMENT_DIALECT",
        "pairgate must prepare this statement again on another database connection but does not know the sql_mode and character set it was prepared under; prepare it again",
      );
    const set = (mode: string, cs: string) =>
      `SET SESSION sql_mode = ${quoteString(mode)}, SESSION character_set_client = ${quoteString(cs)}`;
    if (!same) await c.runQuery(set(stmt.sqlMode, stmt.charsetClient));
    let r: { statementId: number };
    try {
      r = await c.prepare(stmt.sqlBytes);
    } finally {
      if (!same) {
        try {
          await c.runQuery(set(this.sqlMode!, this.charsetClient!));
        } catch (e) {
          // A connection left in another dialect must not serve: the next command opens a new one.
          this.drop(false);
          // biome-ignore lint/correctness/noUnsafeFinally: the restore's failure is the one to report
          throw e;
        }
      }
    }
    stmt.backendId = r.statementId;
    stmt.backendGeneration = this.generation;
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
    if (f.collect) {
      f.collect = [];
      f.held = 0;
    }
    this.send(f, frameForBackend({ payload: f.payload, raw: null, rawParts: null }, f.stmt));
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

  /**
   * Open a connection to `role` as the session's user; `replay` the session state on it. Order
   * (issue 19): the secondary's guard is set and confirmed before anything else, then session
   * tracking, then the replay (literals only, never a guard variable on the secondary), then the
   * dialect (and the guard) read again.
   */
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
          // Session state tracking on every hop: each OK then names what the statement changed.
          capabilities: who.capabilities | CLIENT_SESSION_TRACK,
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
    try {
      await this.setUp(conn);
      if (replay) {
        await this.replay(conn);
        this.adopt(await probeDialect(conn, role));
      }
    } catch (e) {
      conn.destroy();
      throw e;
    }
    this.conn = conn;
    this.generation++;
    // Reports of a response on the previous connection that never finished are not about this one.
    this.guardLifted = this.stateUnseen = this.collationUnknown = false;
    this.stateChangeReported = this.varsReported = false;
    this.ctx.hooks.backendConnections(role, 1);
    conn.attach(this.onData, this.onClose, this.onError);
    this.status =
      (this.status & ~SERVER_STATUS_IN_TRANS) |
      (conn.status & SERVER_STATUS_AUTOCOMMIT ? SERVER_STATUS_AUTOCOMMIT : 0);
    if (replay) this.log.info({ to: role }, "session moved to another backend, state replayed");
  }

  /**
   * Recreate the session's state on `conn` from what the server reported (session-state.ts): every
   * name and value a literal. Anything that cannot be carried fails the move for this session.
   */
  private async replay(conn: BackendConnection): Promise<void> {
    const state = this.who.state;
    const autocommit = (this.status & SERVER_STATUS_AUTOCOMMIT) !== 0;
    try {
      const statements = state.replayStatements(autocommit, conn.role === "secondary");
      let baseline: Record<string, string | null> | null = null;
      if (state.userVariables.size > 0) {
        // Identifiers go out under SET NAMES utf8mb4: the handshake's character sets come back after.
        const row = await conn.queryRow(
          "SELECT @@session.character_set_client, @@session.character_set_connection, @@session.collation_connection, @@session.character_set_results",
        );
        baseline = {
          character_set_client: row?.[0] ?? null,
          character_set_connection: row?.[1] ?? null,
          collation_connection: row?.[2] ?? null,
          character_set_results: row?.[3] ?? null,
        };
      }
      const charset = state.charsetStatement(baseline);
      if (charset) statements.push(charset);
      for (const sql of statements) await conn.runQuery(sql);
    } catch (e) {
      if (!(e instanceof ServerError) && !(e instanceof NotALiteral)) throw e;
      throw new PairgateError(
        "PAIRGATE_SESSION_PINNED",
        `pairgate must move this session to the ${conn.role} database, but could not carry its session state there (${(e as Error).message}); the session is closed. Reconnect to continue.`,
      );
    }
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
      return this.dialect;
    }
    if (this.inflight) throw new Error("no idle backend connection to read the dialect from");
    if (this.needsSetup) await this.setUp(c);
    else this.adopt(await probeDialect(c, c.role));
    return this.dialect;
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
  private async setUp(c: BackendConnection): Promise<void> {
    const setup = this.ctx.sessionSetup?.(c.role);
    if (setup) for (const sql of setup) await c.runQuery(sql);
    this.adopt(await probeDialect(c, c.role));
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

  /** Take what a probe read as the connection's dialect. */
  private adopt(p: Probed): void {
    this.dialect = p.dialect;
    this.sqlMode = p.sqlMode;
    this.charsetClient = p.charsetClient;
    this.dialectVersion++;
  }

  // ---------------------------------------------------------------- session tracking (TrackSink)

  /** An OK reported session state: keep it (the server's word), watch the guard and the dialect. */
  tracked(vars: readonly string[], schema: string | null, stateChange: boolean): void {
    const state = this.who.state;
    const secondary = this.conn?.role === "secondary";
    let dialect = false;
    for (let i = 0; i + 1 < vars.length; i += 2) {
      const name = vars[i];
      const value = vars[i + 1];
      state.track(name, value);
      if (secondary && isGuardLifted(name, value)) this.guardLifted = true;
      else if (name === "sql_mode") {
        this.sqlMode = value;
        dialect = true;
      } else if (name === "character_set_client") {
        this.charsetClient = value;
        dialect = true;
      } else if (name === "character_set_connection") this.collationUnknown = true;
    }
    if (vars.length > 0) this.varsReported = true;
    if (schema !== null) {
      state.trackSchema(schema);
      this.varsReported = true; // a USE: the state change is explained
    }
    if (stateChange) this.stateChangeReported = true;
    if (dialect) {
      this.dialect = dialectOf(this.conn?.serverVersion ?? "", this.sqlMode, this.charsetClient);
      this.dialectVersion++;
    }
  }

  /** Session state was reported where pairgate could not read it. */
  unseen(): void {
    this.stateUnseen = true;
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
    if (this.held !== null) {
      chunk = Buffer.concat([this.held, chunk]);
      this.held = null;
    }
    if (!done && f.role === "secondary") {
      // A packet cut by the end of this read that may be the secondary's refusal: hold its first
      // bytes back, so that the whole ERR can still become pairgate's 1290 (secondary-guard.ts).
      const k = this.scanner.pendingErrBytes(ERR_PAYLOAD_MAX);
      if (k > 0 && k <= chunk.length) {
        this.held = Buffer.from(chunk.subarray(chunk.length - k));
        chunk = chunk.subarray(0, chunk.length - k);
        if (chunk.length === 0) return;
      }
    }
    // A response that ends with session state (SET, USE, commits): learn what the server reports
    // (GTID, variables, schema) and strip the state the client did not ask for. One flag test otherwise.
    if (done) {
      if (this.scanner.status & SERVER_SESSION_STATE_CHANGED) {
        chunk = stateChanged(f.role, chunk, this.scanner, this.ctx, this, this.log);
        this.scanner.status &= ~SERVER_SESSION_STATE_CHANGED; // handled: never seen by the next response
      }
      if (this.scanner.earlierStateChange) this.stateUnseen = true;
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
      // After earlier results: the trailing ERR alone becomes pairgate's 1290 (secondary-guard.ts);
      // whole in this chunk, its first bytes having been held back if an earlier read cut it.
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

/**
 * May the statement have set a user variable (`SET @x`, `SELECT … INTO @x`, `@x :=`, a routine,
 * dynamic SQL)? Then the session's user variables are read back from the server after it.
 */
/** An ERR packet's payload is at most 1 + 2 + 6 + 512 bytes (MariaDB's messages: MYSQL_ERRMSG_SIZE). */
const ERR_PAYLOAD_MAX = 1024;
const UNSEEN = "session state changed where pairgate could not read it (a multi-statement or a routine)";
const LOST_USER_VARIABLES = "user variables pairgate could not read back (the backend was lost)";

/** Did the statement run a stored routine (or SQL pairgate cannot see: CALL, EXECUTE)? */
function runsRoutine(c: Classification | null | undefined): boolean {
  return c != null && (c.routines !== undefined || c.dynamic !== undefined || c.mayChangeDialect === true);
}

/** Did the statement set a system variable (the server's report should name it)? */
function setsSystemVariable(f: Inflight): boolean {
  if (f.command !== COM_QUERY) return false;
  const changes = f.classification?.session;
  if (changes)
    for (const ch of changes) if (ch.type !== "user_variable" && ch.type !== "use" && !ch.global) return true;
  return false;
}

function mayChangeUserVariables(c: Classification | null | undefined): boolean {
  if (!c) return false;
  if (c.pinning === "user_variable_select" || c.routines || c.dynamic || c.mayChangeDialect) return true;
  if (c.session) for (const ch of c.session) if (ch.type === "user_variable") return true;
  return false;
}
