/**
 * The session's handler (Vitess's `mysql.Handler`): turns each client command into an Exchange
 * (exchange.ts) and a decision — classify, route, refuse or send. It reads no socket: commands come
 * from the CommandLoop, responses and losses from the slot (a SessionSlot: BackendSlot, or a fake).
 *
 * A COM_QUERY, top-down: `command` → `run` (decodeCommand; the text in the session's dialect;
 * `classify`, the one classifier call) → `dispatch` → `decide` (`route`, the one routing function;
 * a refusal ends the exchange) → `send` when the backend serves, else `runSlow` (catch-up, connect
 * or move, one verdict wait, decide again) → the slot relays → `completed` (responses.ts) → the next.
 */

import type { Role } from "../backend/connection.js";
import type { Logger } from "../observability/logger.js";
import { decodeCommand, executeStatementId } from "../protocol/command.js";
import { COM_FIELD_LIST, COM_PING, COM_STATISTICS } from "../protocol/constants.js";
import { PairgateError } from "../protocol/errors.js";
import type { Packet } from "../protocol/framer.js";
import { ResponseKind } from "../protocol/response-scanner.js";
import {
  type Decision,
  type RouteInput,
  route,
  statementClassOf,
  TRANSACTION_LOST_MESSAGE,
} from "../routing/router.js";
import { BIG_STATEMENT } from "../sql/big-statement.js";
import { type Classification, classify } from "../sql/index.js";
import type { Mode } from "../topology/types.js";
import { AUDIT_UNRESOLVED_MESSAGE, type AuditGate, auditGateFor, REFUSED_UNRESOLVED } from "./audit-gate.js";
import { changeUser } from "./change-user.js";
import type { CommandHandler, CommandLoop } from "./command-loop.js";
import type { SessionContext } from "./context.js";
import { Exchange, type ExchangeEnd } from "./exchange.js";
import type { SessionIdentity } from "./identity.js";
import {
  answerKill,
  type KillRequest,
  mightBeKill,
  parseKill,
  sideConnectionAs,
  withOwnConnectionId,
} from "./kill.js";
import { frameForBackend, type StatementMap } from "./prepared-statements.js";
import { commandLost, refuseRouted } from "./refusals.js";
import { Responses, setsUserVariable } from "./responses.js";
import { type Inflight, type SessionSlot, type SlotEvents, worthAnotherTry } from "./slot-types.js";
import { readStatementCommand, type StatementCommandParts } from "./statement-commands.js";
import { StatementContext } from "./statement-context.js";

/** Inflight.payload of a command whose payload is not kept. */
const NOT_KEPT = Buffer.alloc(0);

/** The routing decision that sends (`route` refused nothing). */
type RouteTo = Extract<Decision, { to: Role }>;

export class SessionHandler implements CommandHandler, SlotEvents, ExchangeEnd {
  readonly startedAt = Date.now();
  /** The command in flight (one at a time per session), or null between commands. */
  private x: Exchange | null = null;
  /** A transaction was lost while no command ran: the next command is told so. */
  private transactionLost = false;
  /** How statements are read: dialect, HANDLER handles, default schema (statement-context.ts). */
  private readonly reading: StatementContext;
  /** The response side: holds, PREPARE_OK, the end of a response (responses.ts). */
  private readonly responses: Responses;
  /** What a COM_STMT_* command is read against (statement-commands.ts). */
  private readonly statementParts: StatementCommandParts;
  /** Filled per command and passed to `route` (reused: routing allocates nothing). */
  private readonly routeInput: RouteInput = {
    mode: "read_write",
    readRole: "secondary",
    current: null,
    inTransaction: false,
    statement: "none",
  };
  /**
   * The catch-up the command being decided must wait for before the secondary serves it, set by
   * `decide` and taken at once by its caller (`takeCatchUp`): a field of the session, not of each
   * Exchange — one command is decided at a time, and the common command never has one.
   */
  private catchUp: Promise<void> | null = null;

  constructor(
    private readonly ctx: SessionContext,
    private readonly loop: CommandLoop,
    private readonly slot: SessionSlot,
    private readonly who: SessionIdentity,
    private readonly statements: StatementMap,
    private readonly audit: AuditGate,
    /** The client talks TLS (COM_CHANGE_USER's caching_sha2 full authentication needs it). */
    private readonly tls: () => boolean,
    private readonly log: Logger,
  ) {
    this.reading = new StatementContext(ctx, slot, who);
    this.statementParts = { statements, slot, reading: this.reading };
    this.responses = new Responses({
      slot,
      statements,
      reading: this.reading,
      who,
      audit,
      hooks: ctx.hooks,
      classify: (sql) => this.classify(sql),
      closed: () => loop.closed,
      write: (framed) => loop.write(framed),
    });
  }

  // ---------------------------------------------------------------- commands (from the loop)

  command(p: Packet): void {
    const x = new Exchange(this.loop, this, p);
    this.x = x;
    this.run(x);
  }

  /** Decode `x`'s command and act on it (again after the dialect was read back: `relearnDialect`). */
  private run(x: Exchange): void {
    const p = x.p;
    const executes = executeStatementId(p.payload);
    if (executes >= 0) {
      this.statementCommand(x, executes); // decodeCommand's "stmt_execute", with no object per execute
      return;
    }
    const cmd = decodeCommand(p.payload, this.who);
    switch (cmd.type) {
      case "quit":
        this.close();
        return;
      case "query": {
        if (this.reading.needsRelearn()) {
          void this.relearnDialect(x);
          return;
        }
        x.kind = ResponseKind.Query;
        if (p.length - 1 > this.ctx.maxLexedStatement) {
          // Too long to lex: never decoded, routed as a write, audited by a byte search (`send`).
          x.c = BIG_STATEMENT;
          x.statement = "write";
          this.dispatch(x);
          return;
        }
        const payload = p.payload;
        const sql = this.reading.decode(payload);
        if (mightBeKill(sql)) {
          const k = parseKill(sql, this.reading.current());
          if (k) {
            this.kill(x, k);
            return;
          }
        }
        const c = this.classify(sql);
        // The session's id is pairgate's, not the backend connection's (kill.ts).
        x.sent = withOwnConnectionId(p, sql, this.who.sessionId, this.reading.current());
        x.c = c;
        x.sql = sql;
        // A read but for the routines it calls runs on the secondary only under its server-side guard.
        x.statement = c.readExceptRoutines
          ? statementClassOf(c, this.reading.readProof())
          : statementClassOf(c);
        this.dispatch(x);
        return;
      }
      case "stmt_prepare": {
        if (this.reading.needsRelearn()) {
          void this.relearnDialect(x);
          return;
        }
        const full = this.statements.refusePrepare(this.ctx.maxPreparedStatements ?? 1024);
        if (full !== null) {
          // A pipelined EXECUTE of "the statement prepared last" must not run the one before it.
          this.statements.prepareFailed();
          x.fail("PAIRGATE_TOO_MANY_STATEMENTS", full);
          return;
        }
        x.sql = this.reading.decode(p.payload);
        x.kind = ResponseKind.Prepare;
        // A prepare changes no data: routed as a probe, so one lost with the primary is retried
        // where reads go now, like an autocommit read (issue 20: a prepared read at a kill got 1927).
        x.statement = "probe";
        this.dispatch(x);
        return;
      }
      case "stmt_execute":
      case "stmt_bulk_execute":
      case "stmt_fetch":
      case "stmt_reset":
      case "stmt_send_long_data":
      case "stmt_close":
        this.statementCommand(x, cmd.statementId);
        return;
      case "init_db":
      case "ping":
      case "field_list":
      case "statistics":
      case "set_option":
      case "reset_connection": {
        const command = x.command;
        x.kind = command === COM_FIELD_LIST ? ResponseKind.FieldList : ResponseKind.Single;
        x.statement = command === COM_PING || command === COM_STATISTICS ? "probe" : "none";
        this.dispatch(x);
        return;
      }
      case "change_user":
        void changeUser(x, cmd.request, {
          ctx: this.ctx,
          who: this.who,
          slot: this.slot,
          statements: this.statements,
          tls: this.tls,
        });
        return;
      case "process_kill":
        this.kill(x, { what: "CONNECTION", mode: "", id: cmd.connectionId });
        return;
      case "malformed":
        if (cmd.answer) x.fail("PAIRGATE_PROTOCOL", cmd.message);
        else x.complete(); // never answered (STMT_CLOSE, SEND_LONG_DATA)
        return;
      case "unknown":
        x.fail("PAIRGATE_UNKNOWN_COMMAND", cmd.message);
        return;
    }
  }

  /** KILL and COM_PROCESS_KILL name pairgate's session ids: mapped or refused in kill.ts. */
  private kill(x: Exchange, k: KillRequest): void {
    const { ctx, who, slot } = this;
    const caller = { id: who.sessionId, username: who.username, status: () => slot.status };
    void answerKill(x, k, caller, ctx.sessions, sideConnectionAs(ctx, who));
  }

  /**
   * The one place the session asks the classifier about a statement (COM_QUERY, COM_STMT_PREPARE).
   * Seam: a per-session SQL dialect (sql_mode, client charset, backend version) is passed from here.
   */
  private classify(sql: string): Classification {
    // A prepared text too long to lex (a COM_QUERY that long is not even decoded).
    if (sql.length > this.ctx.maxLexedStatement) return BIG_STATEMENT;
    return classify(sql, this.reading.current());
  }

  /** The dialect may have changed unseen: read it back (`StatementContext.relearn`), then read the command. */
  private async relearnDialect(x: Exchange): Promise<void> {
    x.wait("backend");
    await this.reading.relearn(); // never rejects
    if (!x.closed) this.run(x);
  }

  /** A COM_STMT_* command: read against the prepared statements (statement-commands.ts), then routed. */
  private statementCommand(x: Exchange, statementId: number): void {
    if (readStatementCommand(x, statementId, this.statementParts)) this.dispatch(x);
  }

  /** Send `x` where the router says: at once when that backend serves it (the fast path), else `runSlow`. */
  private dispatch(x: Exchange): void {
    const d = this.decide(x);
    if (d === null) return;
    if (this.catchUp === null && this.slot.serves(d.to, x.stmt)) this.send(x, d);
    else void this.runSlow(x, d, this.takeCatchUp());
  }

  private takeCatchUp(): Promise<void> | null {
    const c = this.catchUp;
    this.catchUp = null;
    return c;
  }

  /**
   * Route `x` (refused: answered here, null). Catch-up before serving (issue 12): a statement bound
   * for the secondary while the topology holds reads for its catch-up gets the promise to wait for
   * in `this.catchUp` (taken by the caller); otherwise one field read.
   */
  private decide(x: Exchange): RouteTo | null {
    if (this.transactionLost) {
      this.transactionLost = false;
      x.fail("PAIRGATE_TRANSACTION_LOST", TRANSACTION_LOST_MESSAGE);
      return null;
    }
    const r = this.routeInput;
    r.mode = this.ctx.mode();
    r.readRole = this.ctx.readRole();
    r.current = this.slot.role;
    r.inTransaction = this.slot.inTransaction;
    r.statement = x.statement;
    const d = route(r);
    if ("refuse" in d) {
      void refuseRouted(x, d.refuse, this.audit, this.ctx.hooks, this.slot);
      return null;
    }
    if (d.to === "secondary") {
      const readable = this.ctx.secondaryReadable?.();
      if (readable !== undefined && readable !== true) this.catchUp = readable;
    }
    return d;
  }

  /**
   * The slow path of one command, top to bottom: wait for the secondary's catch-up, connect or move
   * the session (state replayed, the statement re-prepared), and when the backend cannot be reached
   * wait once for the topology's verdict and decide again — a read then goes to the secondary, a
   * write gets 1290, not a connection error. Every wait ends in a fresh decision.
   */
  private async runSlow(x: Exchange, d: RouteTo, catchUp: Promise<void> | null): Promise<void> {
    // The mode routing saw (a verdict wait asks the topology about this mode): `decide` just ran.
    let modeSeen = this.routeInput.mode;
    // The backend could not be reached once: the topology's verdict was waited for (only once).
    let retried = false;
    x.wait("backend");
    for (;;) {
      if (catchUp) {
        const caughtUp = catchUp;
        catchUp = null;
        await caughtUp; // never rejects: caught up, or the topology's catch-up timeout passed
      } else {
        try {
          await this.slot.ensure(d.to, x.stmt);
          if (x.closed) return;
          this.send(x, d);
          return;
        } catch (e) {
          if (x.closed) return;
          if (retried || !worthAnotherTry(e as Error)) {
            const pinned = e instanceof PairgateError && e.code === "PAIRGATE_SESSION_PINNED";
            x.failWith(e, 1, pinned ? (e as Error).message : undefined);
            return;
          }
          retried = true;
          await this.ctx.settle(this.ctx.connectTimeoutMs * 2, d.to, modeSeen);
        }
      }
      if (x.closed) return;
      const again = this.decide(x);
      if (again === null) return;
      modeSeen = this.routeInput.mode;
      catchUp = this.takeCatchUp();
      d = again;
    }
  }

  private send(x: Exchange, d: RouteTo): void {
    const { sent: p, command, kind, stmt } = x;
    const role = d.to;
    const framed = frameForBackend(p, stmt);
    if (kind === null) {
      this.slot.sendOnly(framed); // COM_STMT_SEND_LONG_DATA: no response
      x.complete();
      return;
    }
    const gate = auditGateFor(this.audit, x, role, this.ctx.maxLexedStatement, this.reading);
    if (gate === REFUSED_UNRESOLVED) {
      x.fail("PAIRGATE_AUDIT_UNRESOLVED", AUDIT_UNRESOLVED_MESSAGE);
      return;
    }
    const f: Inflight = {
      command,
      kind,
      role,
      // A long statement the client split is never retried (a write): its payload is not joined.
      payload: p.rawParts && x.c === BIG_STATEMENT ? NOT_KEPT : p.payload,
      stmt,
      classification: x.c,
      forwarded: false,
      collect: kind === ResponseKind.Prepare || gate || setsUserVariable(x.c) ? [] : null,
      gate,
      held: 0,
      discard: false,
      prepareSql: kind === ResponseKind.Prepare ? x.sql : null,
      retryable: d.retryable,
      retried: false,
    };
    x.inflight = f;
    x.relaying();
    this.slot.send(f, framed);
    if (gate) void gate.then((durable) => this.responses.gateSettled(f, durable));
  }

  // ---------------------------------------------------------------- responses (from the slot)

  /** The response is complete (responses.ts). */
  completed(f: Inflight): void {
    this.responses.completed(this.x!, f);
  }

  /** The secondary refused the command with a read-only error of its own (responses.ts). */
  guardRefused(f: Inflight, seq: number): void {
    this.responses.guardRefused(this.x!, f, seq);
  }

  infileRequested(): void {
    this.x!.infileRequested();
  }

  infileData(p: Packet): void {
    if (this.slot.relayInfile(p)) this.x!.infileSent();
  }

  /** The backend is gone. A command in flight is retried, answered with an error, or the session closes. */
  lost(f: Inflight | null, role: Role, err: Error, wasInTransaction: boolean, modeSeen: Mode): void {
    if (this.loop.closed) return;
    if (wasInTransaction && !f) this.transactionLost = true;
    if (f) void commandLost(this.x!, f, role, err, modeSeen, this.slot);
  }

  // ---------------------------------------------------------------- exchange ends (ExchangeEnd)

  ended(x: Exchange, answered: boolean): void {
    if (this.x === x) this.x = null;
    const f = x.inflight;
    if (!answered || !f) return;
    const seconds = (performance.now() - this.slot.sentAt) / 1000;
    this.ctx.hooks.query(f.role, f.classification?.kind ?? "read", seconds);
  }

  bug(reason: string): void {
    this.log.warn({ reason }, "session: a command ended twice; closing the session");
    this.close(reason);
  }

  // ---------------------------------------------------------------- client socket (from the loop)

  readonly clientDrained = (): void => {
    this.slot.clientDrained();
  };

  clientClosed(): void {
    this.audit.post({
      operation: "logout",
      outcome: "ok",
      backend: this.slot.role,
      durationMs: Date.now() - this.startedAt,
    });
    this.loop.to("closed");
    this.slot.drop(true);
  }

  close(reason?: string): void {
    if (this.loop.closed) return;
    this.loop.to("closed");
    if (reason) this.log.debug({ reason }, "session closing");
    this.slot.drop(true);
    this.loop.end();
  }
}
