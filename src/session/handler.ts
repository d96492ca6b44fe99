/**
 * The session's handler (Vitess's `mysql.Handler`, with pairgate as the one implementation): turns
 * each client command into an Exchange (exchange.ts) and a decision — classify, route, refuse or
 * send — and each finished response into session state. It reads no socket: commands come from the
 * CommandLoop, responses and backend losses from the slot (a SessionSlot: BackendSlot in the proxy,
 * a fake in the unit tests).
 *
 * A COM_QUERY, top-down: `command` (decodeCommand, then the text in the session's dialect) →
 * `classify` (the one classifier call) → `dispatch` → `decide` (`route`, the one routing function;
 * a refusal ends the exchange here) → `send` (audit gate, Inflight) when the backend serves, else
 * `runSlow` (catch-up, connect or move, one verdict wait) → the slot relays the response →
 * `completed` → `finish` (`applySessionState`: the one place SET/USE/INIT_DB/RESET take effect,
 * after the server's OK) → `Exchange.complete` → the next command.
 */

import { mayChangeAccounts } from "../accounts/statements.js";
import { BackendConnection, type Role } from "../backend/connection.js";
import type { Logger } from "../observability/logger.js";
import { decodeCommand } from "../protocol/command.js";
import {
  COM_FIELD_LIST,
  COM_INIT_DB,
  COM_PING,
  COM_QUERY,
  COM_RESET_CONNECTION,
  COM_STATISTICS,
  COM_STMT_BULK_EXECUTE,
  COM_STMT_CLOSE,
  COM_STMT_EXECUTE,
  COM_STMT_SEND_LONG_DATA,
} from "../protocol/constants.js";
import { PairgateError } from "../protocol/errors.js";
import type { Packet } from "../protocol/framer.js";
import { ResponseKind } from "../protocol/response-scanner.js";
import {
  type Decision,
  preparedClassOf,
  type RouteInput,
  route,
  statementClassOf,
  TRANSACTION_LOST_MESSAGE,
} from "../routing/router.js";
import { BIG_STATEMENT } from "../sql/big-statement.js";
import { type Classification, classify } from "../sql/index.js";
import type { Mode } from "../topology/types.js";
import {
  AUDIT_REFUSED_MESSAGE,
  AUDIT_UNRESOLVED_MESSAGE,
  type AuditGate,
  auditGateFor,
  REFUSED_UNRESOLVED,
} from "./audit-gate.js";
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
  queryPayload,
  rewriteConnectionId,
} from "./kill.js";
import { commandLost, refuseGuarded, refuseRouted } from "./refusals.js";
import type { Inflight, SessionSlot, SlotEvents } from "./slot-types.js";
import { worthAnotherTry } from "./slot-types.js";
import { StatementContext } from "./statement-context.js";
import { frameForBackend, type StatementMap, statementResponseKind } from "./prepared-statements.js";

/** Inflight.payload of a command whose payload is not kept. */
const NOT_KEPT = Buffer.alloc(0);

/** `p` with another payload (CONNECTION_ID() answered as pairgate's id): framed anew when sent. */
function rewritten(p: Packet, payload: Buffer): Packet {
  return {
    seq: p.seq,
    lastSeq: p.lastSeq,
    payload,
    length: payload.length,
    first: payload[0] ?? -1,
    raw: null,
    rawParts: null,
  };
}

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
  /** Filled per command and passed to `route` (reused: routing allocates nothing). */
  private readonly routeInput: RouteInput = {
    mode: "read_write",
    readRole: "secondary",
    current: null,
    inTransaction: false,
    statement: "none",
  };

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
        const ownId = rewriteConnectionId(sql, this.who.sessionId, this.reading.current());
        if (ownId !== null && Buffer.byteLength(sql, "utf8") === payload.length - 1)
          x.sent = rewritten(p, queryPayload(ownId));
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
        x.prepareSql = this.reading.decode(p.payload);
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
    void answerKill(
      x,
      k,
      { id: who.sessionId, username: who.username, status: () => slot.status },
      ctx.sessions,
      (role) =>
        BackendConnection.open(
          ctx.target(role),
          {
            username: who.username,
            password: who.password,
            database: null,
            collation: who.state.collation,
            capabilities: 0,
            connectAttrs: null,
          },
          ctx.connectTimeoutMs,
        ),
    );
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

  private statementCommand(x: Exchange, statementId: number): void {
    const command = x.command;
    const stmt = this.statements.lookup(statementId);
    if (!stmt) {
      // The protocol never answers CLOSE and SEND_LONG_DATA, not even to refuse them.
      if (command !== COM_STMT_CLOSE && command !== COM_STMT_SEND_LONG_DATA)
        x.fail("PAIRGATE_UNKNOWN_STATEMENT", this.statements.unknown(statementId, command));
      else x.complete();
      return;
    }
    if (command === COM_STMT_CLOSE) {
      this.statements.forget(stmt);
      this.slot.closeStatement(stmt);
      x.complete();
      return;
    }
    x.stmt = stmt;
    x.kind = statementResponseKind(command);
    x.statement =
      command !== COM_STMT_EXECUTE && command !== COM_STMT_BULK_EXECUTE // bulk: routed, refused and audited like EXECUTE
        ? "none"
        : stmt.readExceptRoutines
          ? preparedClassOf(stmt.kind, stmt.lockingRead, true, this.reading.readProof())
          : preparedClassOf(stmt.kind, stmt.lockingRead);
    this.dispatch(x);
  }

  /** Send `x` where the router says: at once when that backend serves it (the fast path), else `runSlow`. */
  private dispatch(x: Exchange): void {
    const d = this.decide(x);
    if (d === null) return;
    if (x.catchUp === null && this.slot.serves(d.to, x.stmt)) this.send(x, d);
    else void this.runSlow(x, d);
  }

  /**
   * Route `x` (refused: answered here, null). Catch-up before serving (issue 12): a statement bound
   * for the secondary while the topology holds reads for its catch-up gets the promise to wait for
   * in `x.catchUp`; otherwise one field read.
   */
  private decide(x: Exchange): RouteTo | null {
    if (this.transactionLost) {
      this.transactionLost = false;
      x.fail("PAIRGATE_TRANSACTION_LOST", TRANSACTION_LOST_MESSAGE);
      return null;
    }
    const r = this.routeInput;
    x.modeSeen = r.mode = this.ctx.mode();
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
      if (readable !== undefined && readable !== true) x.catchUp = readable;
    }
    return d;
  }

  /**
   * The slow path of one command, top to bottom: wait for the secondary's catch-up, connect or move
   * the session (state replayed, the statement re-prepared), and when the backend cannot be reached
   * wait once for the topology's verdict and decide again — a read then goes to the secondary, a
   * write gets 1290, not a connection error. Every wait ends in a fresh decision.
   */
  private async runSlow(x: Exchange, d: RouteTo): Promise<void> {
    x.wait("backend");
    for (;;) {
      if (x.catchUp) {
        const caughtUp = x.catchUp;
        x.catchUp = null;
        await caughtUp; // never rejects: caught up, or the topology's catch-up timeout passed
      } else {
        try {
          await this.slot.ensure(d.to, x.stmt);
          if (x.closed) return;
          this.send(x, d);
          return;
        } catch (e) {
          if (x.closed) return;
          if (x.retried || !worthAnotherTry(e as Error)) {
            const pinned = e instanceof PairgateError && e.code === "PAIRGATE_SESSION_PINNED";
            x.failWith(e, 1, pinned ? (e as Error).message : undefined);
            return;
          }
          x.retried = true;
          await this.ctx.settle(this.ctx.connectTimeoutMs * 2, d.to, x.modeSeen);
        }
      }
      if (x.closed) return;
      const again = this.decide(x);
      if (again === null) return;
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
      startedAt: performance.now(),
      forwarded: false,
      collect: kind === ResponseKind.Prepare || gate || setsUserVariable(x.c) ? [] : null,
      gate,
      held: 0,
      discard: false,
      prepareSql: x.prepareSql,
      retryable: d.retryable,
      retried: false,
    };
    x.inflight = f;
    x.relaying();
    this.slot.send(f, framed);
    if (gate) void gate.then((durable) => this.gateSettled(f, durable));
  }

  /**
   * The audit event of a statement still running became durable (or cannot be): release what was
   * held and stream the rest, or drop it all and answer with an ERR at the end (`completed`). When
   * the response completed first, `completed` owns the gate (f.gate is null) and this does nothing.
   */
  private gateSettled(f: Inflight, durable: boolean): void {
    if (this.loop.closed || f.gate === null) return;
    f.gate = null;
    // `SET @x := (SELECT … audited)`: its answer also waits for the user variable's read-back (finished).
    if (durable && setsUserVariable(f.classification)) return;
    const held = f.collect!;
    f.collect = null;
    f.held = 0;
    let more = true;
    if (!durable) f.discard = true;
    else if (held.length > 0) {
      f.forwarded = true;
      more = this.loop.write(held.length === 1 ? held[0]! : Buffer.concat(held));
    }
    // The backend may have been paused at the hold limit; a client that cannot take more resumes it on 'drain'.
    if (more) this.slot.clientDrained();
  }

  // ---------------------------------------------------------------- responses (from the slot)

  /**
   * The response is complete. Seam (server-enforced read-only sessions): a refusal the secondary
   * sends itself (`slot.scanner.errno` 1792) is turned into pairgate's 1290 in `guardRefused`.
   */
  completed(f: Inflight): void {
    const x = this.x!;
    const s = this.slot.scanner;
    if (f.gate) {
      void this.holdForAudit(x, f, f.gate, s.status, s.failed);
      return;
    }
    if (f.discard) {
      x.refuse("PAIRGATE_AUDIT_REFUSED", AUDIT_REFUSED_MESSAGE);
      this.finish(x, f, s.status, true);
      return;
    }
    if (f.collect && f.kind === ResponseKind.Prepare) {
      this.prepared(f, Buffer.concat(f.collect));
      f.collect = null;
    }
    this.finish(x, f, s.status, s.failed);
  }

  /** Hold the result until the audit event is durable; nothing else runs on this session meanwhile. */
  private async holdForAudit(
    x: Exchange,
    f: Inflight,
    gate: Promise<boolean>,
    status: number,
    failed: boolean,
  ): Promise<void> {
    f.gate = null;
    x.wait("audit");
    const durable = await gate;
    if (x.closed) return;
    if (durable) x.write(Buffer.concat(f.collect!));
    else x.refuse("PAIRGATE_AUDIT_REFUSED", AUDIT_REFUSED_MESSAGE);
    f.collect = null;
    this.finish(x, f, status, failed || !durable);
  }

  /** The secondary refused the command with a read-only error of its own (refusals.ts). */
  guardRefused(f: Inflight, seq: number): void {
    const x = this.x!;
    refuseGuarded(x, f, seq, this.audit, this.ctx.hooks, this.slot.scanner.errno, this.reading.dialect);
    this.finish(x, f, 0, true);
  }

  /** Give the client a stable statement id of pairgate's, not the backend's. */
  private prepared(f: Inflight, reply: Buffer): void {
    const s = this.slot.scanner;
    const sql = f.prepareSql ?? "";
    if (s.prepared && !s.failed) {
      // Decided once, under the dialect it was prepared in (the session's until this response).
      const slot = this.slot;
      this.statements.prepared(reply, sql, this.classify(sql), s.prepared, slot.generation, {
        sqlBytes: Buffer.from(f.payload.subarray(1)), // a copy: the client's read chunk is not kept
        dialect: this.reading.current(),
        sqlMode: slot.sqlMode,
        charsetClient: slot.charsetClient,
      });
    } else this.statements.prepareFailed();
    f.forwarded = true;
    this.loop.write(reply);
  }

  private finish(x: Exchange, f: Inflight, status: number, failed: boolean): void {
    if (!failed) this.applySessionState(f);
    const c = f.classification;
    // A plain statement that succeeded changes neither dialect, schema nor handles: nothing to do.
    if (failed || f.command !== COM_QUERY || c?.session || c?.handler || c?.mayChangeDialect) {
      this.reading.follow(f, failed);
    }
    // What the server reported is acted on before the next command (a lifted guard restored, user
    // variables read back, tracking and the guard after a reset): slot.finish says when it is done.
    const again = this.slot.finish(status, f, failed);
    // ALTER USER, GRANT, ...: the accounts pairgate authenticates against are read again now.
    if (c && f.command === COM_QUERY && mayChangeAccounts(c, f.payload))
      this.ctx.hooks.accountsMayHaveChanged?.();
    if (again) void this.finishAfter(x, f, again);
    else this.finished(x, f);
  }

  private async finishAfter(x: Exchange, f: Inflight, work: Promise<void>): Promise<void> {
    x.wait("backend");
    await work; // never rejects
    if (!x.closed) this.finished(x, f);
  }

  private finished(x: Exchange, f: Inflight): void {
    // A response held until the session state it set was read back (`SET @x`): now to the client.
    if (f.collect) {
      f.forwarded = true;
      this.loop.write(Buffer.concat(f.collect));
      f.collect = null;
    }
    x.complete();
  }

  /** The one place session state changes, after the server said OK (SET, USE, COM_INIT_DB, COM_RESET_CONNECTION). */
  private applySessionState(f: Inflight): void {
    const state = this.who.state;
    if (f.classification) state.apply(f.classification);
    else if (f.command === COM_INIT_DB) state.schema = f.payload.toString("utf8", 1);
    if (f.command === COM_RESET_CONNECTION) {
      state.reset();
      // The reset also cleared the secondary's read-only guard: it is set again before the next command.
      if (f.role === "secondary") this.slot.guardLost();
    }
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
    if (answered && f)
      this.ctx.hooks.query(
        f.role,
        f.classification?.kind ?? "read",
        (performance.now() - f.startedAt) / 1000,
      );
  }

  bug(reason: string): void {
    this.log.warn({ reason }, "session: a command ended twice; closing the session");
    this.close(reason);
  }

  // ---------------------------------------------------------------- client socket (from the loop)

  clientDrained = (): void => {
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

/**
 * `SET @x = …`: its OK is held until the user variable was read back from the server (BackendSlot
 * `finish`), so a client that saw the OK has its variable carried by a failover right after it.
 * Only SET (an OK, never rows): other ways to set one are read back after the response went out.
 */
function setsUserVariable(c: Classification | null): boolean {
  if (!c?.session || c.verb !== "SET") return false;
  for (const ch of c.session) if (ch.type === "user_variable") return true;
  return false;
}
