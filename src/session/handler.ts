/**
 * The session's handler (Vitess's `mysql.Handler`, with pairgate as the one implementation): turns
 * each client command into a decision — classify, route, refuse or send — and each finished
 * response into session state. It reads no socket: commands come from the CommandLoop, responses
 * and backend losses from the BackendSlot.
 *
 * A COM_QUERY, top-down: `command` (decode) → `classify` (the one classifier call) → `dispatch`
 * (`route`, the one routing function) → `send` (audit gate, Inflight) → BackendSlot relays the
 * response → `completed` → `finish` → `applySessionState` (the one place SET/USE/INIT_DB/RESET take
 * effect, after the server's OK) → CommandLoop.pump for the next command.
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
  preparedClassOf,
  type RouteInput,
  route,
  type StatementClass,
  statementClassOf,
  TRANSACTION_LOST_MESSAGE,
} from "../routing/router.js";
import type { PreparedStatement } from "../routing/session-state.js";
import { BIG_STATEMENT } from "../sql/big-statement.js";
import { type Classification, classify } from "../sql/index.js";
import type { Mode } from "../topology/types.js";
import {
  AUDIT_REFUSED_MESSAGE,
  AUDIT_UNRESOLVED_MESSAGE,
  type AuditGate,
  REFUSED_UNRESOLVED,
} from "./audit-gate.js";
import { worthAnotherTry } from "./backend-slot.js";
import { waitForCatchUp } from "./catch-up.js";
import { changeUser } from "./change-user.js";
import type { CommandHandler, CommandLoop } from "./command-loop.js";
import type { SessionContext } from "./context.js";
import {
  answerKill,
  type KillRequest,
  mightBeKill,
  parseKill,
  queryPayload,
  rewriteConnectionId,
} from "./kill.js";
import { commandLost, refuseGuarded, refuseRouted } from "./refusals.js";
import type { Inflight, SessionSlot, SlotEvents, SlotIdentity } from "./slot-types.js";
import { StatementContext } from "./statement-context.js";
import { frameForBackend, type StatementMap, statementResponseKind } from "./statements.js";

/** Inflight.payload of a command whose payload is not kept. */
const NOT_KEPT = Buffer.alloc(0);

/** The statement text of a COM_QUERY split over wire packets: each packet past its header, the first past the command byte. */
function textOfParts(parts: readonly Buffer[]): { bytes: Buffer; start: number }[] {
  return parts.map((bytes, i) => ({ bytes, start: i === 0 ? 5 : 4 }));
}

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

/** One client command, as decoded for routing. */
export interface Command {
  p: Packet;
  command: number;
  /** How the response is shaped; null when the command has none (COM_STMT_SEND_LONG_DATA). */
  kind: ResponseKind | null;
  /** The statement's class, for COM_QUERY. */
  c: Classification | null;
  /** The prepared statement a COM_STMT_* command names. */
  stmt: PreparedStatement | null;
  /** The text of a COM_STMT_PREPARE. */
  prepareSql: string | null;
  /** The statement text of a COM_QUERY. */
  sql: string | null;
  /** What routing needs to know of it. */
  statement: StatementClass;
}

export class SessionHandler implements CommandHandler, SlotEvents {
  readonly startedAt = Date.now();
  /** pairgate's id of this session (the greeting's; what KILL and CONNECTION_ID() mean). */
  sessionId = 0;
  /** The scramble of the connection's greeting (change-user.ts); null: a fresh one is sent. */
  scramble: Buffer | null = null;
  /** A transaction was lost while no command ran: the next command is told so. */
  private transactionLost = false;
  /** How statements are read: dialect, HANDLER handles, default schema (statement-context.ts). */
  readonly reading: StatementContext;
  /** Filled per command and passed to `route` (reused: routing allocates nothing). */
  private routeInput: RouteInput = {
    mode: "read_write",
    readRole: "secondary",
    current: null,
    inTransaction: false,
    statement: "none",
  };

  constructor(
    readonly ctx: SessionContext,
    readonly loop: CommandLoop,
    readonly slot: SessionSlot,
    readonly who: SlotIdentity,
    readonly statements: StatementMap,
    readonly audit: AuditGate,
    readonly remoteAddress: string,
    /** The client talks TLS (COM_CHANGE_USER's caching_sha2 full authentication needs it). */
    readonly tls: () => boolean,
    public log: Logger,
  ) {
    this.reading = new StatementContext(ctx, slot, who);
  }

  // ---------------------------------------------------------------- commands (from the loop)

  command(p: Packet): void {
    const cmd = decodeCommand(p.payload, this.who);
    const command = p.first;
    switch (cmd.type) {
      case "quit":
        this.close();
        return;
      case "query": {
        if (this.reading.needsRelearn()) {
          this.relearnDialect(p);
          return;
        }
        if (p.length - 1 > this.ctx.maxLexedStatement) {
          // Too long to lex: never decoded, routed as a write, audited by a byte search (`send`).
          const c = BIG_STATEMENT;
          const kind = ResponseKind.Query;
          this.dispatch({ p, command, kind, c, stmt: null, prepareSql: null, sql: null, statement: "write" });
          return;
        }
        const payload = p.payload;
        const sql = this.reading.decode(payload);
        if (mightBeKill(sql)) {
          const k = parseKill(sql, this.reading.current());
          if (k) {
            this.kill(k);
            return;
          }
        }
        const c = this.classify(sql);
        // The session's id is pairgate's, not the backend connection's (kill.ts).
        const ownId = rewriteConnectionId(sql, this.sessionId, this.reading.current());
        const sent =
          ownId !== null && Buffer.byteLength(sql, "utf8") === payload.length - 1
            ? rewritten(p, queryPayload(ownId))
            : p;
        // A read but for the routines it calls runs on the secondary only under its server-side guard.
        const statement = c.readExceptRoutines
          ? statementClassOf(c, this.reading.readProof())
          : statementClassOf(c);
        this.dispatch({
          p: sent,
          command,
          kind: ResponseKind.Query,
          c,
          stmt: null,
          prepareSql: null,
          sql,
          statement,
        });
        return;
      }
      case "stmt_prepare": {
        if (this.reading.needsRelearn()) {
          this.relearnDialect(p);
          return;
        }
        const full = this.statements.refusePrepare(this.ctx.maxPreparedStatements ?? 1024);
        if (full !== null) {
          // A pipelined EXECUTE of "the statement prepared last" must not run the one before it.
          this.statements.prepareFailed();
          this.loop.refuse(1, "PAIRGATE_TOO_MANY_STATEMENTS", full);
          return;
        }
        const prepareSql = this.reading.decode(p.payload);
        const kind = ResponseKind.Prepare;
        // A prepare changes no data: routed as a probe, so one lost with the primary is retried
        // where reads go now, like an autocommit read (issue 20: a prepared read at a kill got 1927).
        this.dispatch({ p, command, kind, c: null, stmt: null, prepareSql, sql: null, statement: "probe" });
        return;
      }
      case "stmt_execute":
      case "stmt_bulk_execute":
      case "stmt_fetch":
      case "stmt_reset":
      case "stmt_send_long_data":
      case "stmt_close":
        this.statementCommand(p, command, cmd.statementId);
        return;
      case "init_db":
      case "ping":
      case "field_list":
      case "statistics":
      case "set_option":
      case "reset_connection": {
        const kind = command === COM_FIELD_LIST ? ResponseKind.FieldList : ResponseKind.Single;
        const statement = command === COM_PING || command === COM_STATISTICS ? "probe" : "none";
        this.dispatch({ p, command, kind, c: null, stmt: null, prepareSql: null, sql: null, statement });
        return;
      }
      case "change_user":
        void changeUser(this, cmd.request);
        return;
      case "process_kill":
        this.kill({ what: "CONNECTION", mode: "", id: cmd.connectionId });
        return;
      case "malformed":
        if (cmd.answer) this.loop.refuse(1, "PAIRGATE_PROTOCOL", cmd.message);
        return;
      case "unknown":
        this.loop.refuse(1, "PAIRGATE_UNKNOWN_COMMAND", cmd.message);
        return;
    }
  }

  /** KILL and COM_PROCESS_KILL name pairgate's session ids: mapped or refused in kill.ts. */
  private kill(k: KillRequest): void {
    const { ctx, who } = this;
    answerKill(this, k, ctx.sessions ?? { find: () => null }, (role) =>
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
  classify(sql: string): Classification {
    // A prepared text too long to lex (a COM_QUERY that long is not even decoded).
    if (sql.length > this.ctx.maxLexedStatement) return BIG_STATEMENT;
    return classify(sql, this.reading.current());
  }

  /** The dialect may have changed unseen: read it back (`StatementContext.relearn`), then read `p`. */
  private relearnDialect(p: Packet): void {
    const loop = this.loop;
    loop.to("wait_backend");
    void this.reading.relearn().then(() => {
      if (loop.closed) return;
      loop.to("done");
      this.command(p);
      loop.pump();
    });
  }

  private statementCommand(p: Packet, command: number, statementId: number): void {
    const stmt = this.statements.lookup(statementId);
    if (!stmt) {
      // The protocol never answers CLOSE and SEND_LONG_DATA, not even to refuse them.
      if (command !== COM_STMT_CLOSE && command !== COM_STMT_SEND_LONG_DATA)
        this.loop.refuse(1, "PAIRGATE_UNKNOWN_STATEMENT", this.statements.unknown(statementId, command));
      return;
    }
    if (command === COM_STMT_CLOSE) {
      this.statements.forget(stmt);
      this.slot.closeStatement(stmt);
      return;
    }
    const kind = statementResponseKind(command);
    const statement =
      command !== COM_STMT_EXECUTE && command !== COM_STMT_BULK_EXECUTE // bulk: routed, refused and audited like EXECUTE
        ? "none"
        : stmt.readExceptRoutines
          ? preparedClassOf(stmt.kind, stmt.lockingRead, true, this.reading.readProof())
          : preparedClassOf(stmt.kind, stmt.lockingRead);
    this.dispatch({ p, command, kind, c: null, stmt, prepareSql: null, sql: null, statement });
  }

  /**
   * Send a command to the backend the router picks, connecting or moving first when needed. When the
   * backend cannot be reached, wait for the topology's verdict once and decide again: a read then
   * goes to the secondary, a write gets 1290 — not a connection error.
   *
   * Catch-up before serving (issue 12): a statement bound for the secondary while the topology
   * holds reads for its catch-up waits for it first (`waitForCatchUp`); a field read otherwise.
   */
  dispatch(cmd: Command, retried = false): void {
    if (this.transactionLost) {
      this.transactionLost = false;
      this.loop.refuse(1, "PAIRGATE_TRANSACTION_LOST", TRANSACTION_LOST_MESSAGE);
      return;
    }
    const r = this.routeInput;
    const modeSeen = this.ctx.mode();
    r.mode = modeSeen;
    r.readRole = this.ctx.readRole();
    r.current = this.slot.role;
    r.inTransaction = this.slot.inTransaction;
    r.statement = cmd.statement;
    const d = route(r);
    if ("refuse" in d) {
      refuseRouted(this, cmd, d.refuse);
      return;
    }
    const role = d.to;
    if (role === "secondary" && waitForCatchUp(this, cmd, retried)) return;
    if (this.slot.serves(role, cmd.stmt)) {
      this.send(cmd, role, d.retryable);
      return;
    }
    // Slow path: connect, move the session, or re-prepare a statement on this backend.
    this.loop.to("wait_backend");
    this.slot.ensure(role, cmd.stmt).then(
      () => {
        if (this.loop.closed) return;
        this.send(cmd, role, d.retryable);
        if (this.loop.phase.tag === "waiting") this.loop.to("done"); // nothing in flight (SEND_LONG_DATA)
        this.loop.pump();
      },
      (e: Error) => {
        if (this.loop.closed) return;
        if (!retried && worthAnotherTry(e)) {
          void this.ctx.settle(this.ctx.connectTimeoutMs * 2, role, modeSeen).then(() => {
            if (this.loop.closed) return;
            this.loop.to("done");
            this.dispatch(cmd, true);
            this.loop.pump();
          });
          return;
        }
        this.loop.to("done");
        this.loop.sendError(1, e);
        if (e instanceof PairgateError && e.code === "PAIRGATE_SESSION_PINNED") this.close(e.message);
        this.loop.pump();
      },
    );
  }

  private send(cmd: Command, role: Role, retryable: boolean): void {
    const { p, command, kind, stmt } = cmd;
    const framed = frameForBackend(p, stmt);
    if (kind === null) {
      this.slot.sendOnly(framed); // COM_STMT_SEND_LONG_DATA: no response
      return;
    }
    const audit = this.audit;
    // EXECUTE: the classification and dialect of the prepare, never the text re-read now (issue 19).
    const executes = command === COM_STMT_EXECUTE || command === COM_STMT_BULK_EXECUTE;
    const sql = command === COM_QUERY ? cmd.sql : executes ? stmt!.sql : null;
    const gate = !audit.enabled
      ? null
      : cmd.c === BIG_STATEMENT
        ? audit.gateBytes(p.rawParts ? textOfParts(p.rawParts) : [{ bytes: p.payload, start: 1 }], role)
        : sql !== null && sql.length > this.ctx.maxLexedStatement
          ? audit.gateBytes([{ bytes: Buffer.from(sql), start: 0 }], role)
          : audit.gate(
              sql,
              role,
              executes
                ? this.reading.auditContext(stmt!.classification, stmt!.dialect)
                : this.reading.auditContext(cmd.c),
            );
    if (gate === REFUSED_UNRESOLVED) {
      this.loop.refuse(1, "PAIRGATE_AUDIT_UNRESOLVED", AUDIT_UNRESOLVED_MESSAGE);
      return;
    }
    const f: Inflight = {
      command,
      kind,
      role,
      // A long statement the client split is never retried (a write): its payload is not joined.
      payload: p.rawParts && cmd.c === BIG_STATEMENT ? NOT_KEPT : p.payload,
      stmt,
      classification: cmd.c,
      startedAt: performance.now(),
      forwarded: false,
      collect: kind === ResponseKind.Prepare || gate || setsUserVariable(cmd.c) ? [] : null,
      gate,
      held: 0,
      discard: false,
      prepareSql: cmd.prepareSql,
      retryable,
      retried: false,
    };
    this.loop.to("sent");
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
   * sends itself (`slot.scanner.errno` 1792) is turned into pairgate's 1290 here, for a response
   * held back in `f.collect`.
   */
  completed(f: Inflight): void {
    const s = this.slot.scanner;
    if (f.gate) {
      // Hold the result until the audit event is durable; nothing else runs on this session meanwhile.
      const status = s.status;
      const failed = s.failed;
      const gate = f.gate;
      f.gate = null;
      this.loop.to("wait_audit");
      void gate.then((durable) => {
        if (this.loop.closed) return;
        if (durable) this.loop.write(Buffer.concat(f.collect!));
        else this.loop.refuse(1, "PAIRGATE_AUDIT_REFUSED", AUDIT_REFUSED_MESSAGE);
        f.collect = null;
        this.finish(f, status, failed || !durable);
      });
      return;
    }
    if (f.discard) {
      this.loop.refuse(1, "PAIRGATE_AUDIT_REFUSED", AUDIT_REFUSED_MESSAGE);
      this.finish(f, s.status, true);
      return;
    }
    if (f.collect && f.kind === ResponseKind.Prepare) {
      this.prepared(f, Buffer.concat(f.collect));
      f.collect = null;
    }
    this.finish(f, s.status, s.failed);
  }

  /** The secondary refused the command with a read-only error of its own (refusals.ts). */
  guardRefused(f: Inflight, seq: number): void {
    refuseGuarded(this, f, seq);
    this.finish(f, 0, true);
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

  private finish(f: Inflight, status: number, failed: boolean): void {
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
    if (again) {
      this.loop.to("wait_backend");
      void again.then(() => {
        if (!this.loop.closed) this.finished(f);
      });
      return;
    }
    this.finished(f);
  }

  /** A response held until the session state it set was read back (`SET @x`): now to the client. */
  private release(f: Inflight): void {
    if (!f.collect) return;
    f.forwarded = true;
    this.loop.write(Buffer.concat(f.collect));
    f.collect = null;
  }

  private finished(f: Inflight): void {
    this.release(f);
    this.loop.to("done");
    this.ctx.hooks.query(f.role, f.classification?.kind ?? "read", (performance.now() - f.startedAt) / 1000);
    this.loop.pump();
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
    this.loop.to("infile_requested");
  }

  infileData(p: Packet): void {
    if (this.slot.relayInfile(p)) this.loop.to("infile_sent");
  }

  /** The backend is gone. A command in flight is retried, answered with an error, or the session closes. */
  lost(f: Inflight | null, role: Role, err: Error, wasInTransaction: boolean, modeSeen: Mode): void {
    if (this.loop.closed) return;
    if (wasInTransaction && !f) this.transactionLost = true;
    if (f) commandLost(this, f, role, err, modeSeen);
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
