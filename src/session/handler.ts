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

import type { AuditContext } from "../audit/rules.js";
import type { Role } from "../backend/connection.js";
import type { Logger } from "../observability/logger.js";
import {
  COM_CHANGE_USER,
  COM_FIELD_LIST,
  COM_INIT_DB,
  COM_PING,
  COM_QUERY,
  COM_QUIT,
  COM_RESET_CONNECTION,
  COM_SET_OPTION,
  COM_STATISTICS,
  COM_STMT_CLOSE,
  COM_STMT_EXECUTE,
  COM_STMT_FETCH,
  COM_STMT_PREPARE,
  COM_STMT_RESET,
  COM_STMT_SEND_LONG_DATA,
} from "../protocol/constants.js";
import { PairgateError } from "../protocol/errors.js";
import type { Packet } from "../protocol/framer.js";
import { encodeOk } from "../protocol/messages.js";
import { framePayload } from "../protocol/packet.js";
import { ResponseKind } from "../protocol/response-scanner.js";
import {
  DOWN_MESSAGE,
  preparedClassOf,
  READ_ONLY_MESSAGE,
  type ReadProofOptions,
  type RouteInput,
  route,
  type StatementClass,
  statementClassOf,
  TRANSACTION_LOST_MESSAGE,
} from "../routing/router.js";
import type { PreparedStatement } from "../routing/session-state.js";
import {
  type Classification,
  classify,
  DEFAULT_DIALECT,
  decodeSql,
  dialectAfter,
  digest,
  type SqlDialect,
  unsureDialect,
} from "../sql/index.js";
import type { Mode } from "../topology/types.js";
import {
  AUDIT_REFUSED_MESSAGE,
  AUDIT_UNRESOLVED_MESSAGE,
  type AuditGate,
  REFUSED_UNRESOLVED,
} from "./audit-gate.js";
import {
  type BackendSlot,
  type Inflight,
  type SlotEvents,
  type SlotIdentity,
  worthAnotherTry,
} from "./backend-slot.js";
import { changeUser } from "./change-user.js";
import type { CommandHandler, CommandLoop } from "./command-loop.js";
import type { SessionContext } from "./context.js";
import { GUARDED } from "./secondary-guard.js";
import { frameForBackend, type StatementMap, statementResponseKind } from "./statements.js";

/** One client command, as decoded for routing. */
interface Command {
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
  /** A transaction was lost while no command ran: the next command is told so. */
  private transactionLost = false;
  /** The session's SQL dialect, and the backend connection generation it was read on. */
  private dialect: SqlDialect = DEFAULT_DIALECT;
  private dialectGeneration = -1;
  private relearnFailed = false;
  /** Open HANDLER handles → `schema.table` (after the server's OK); dropped on reset or a new connection. */
  private readonly handles = new Map<string, string>();
  /** A failed multi-statement with a USE: the server's default schema is not known for sure. */
  private schemaUncertain = false;
  private readonly auditCtx: AuditContext = {};
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
    readonly slot: BackendSlot,
    readonly who: SlotIdentity,
    readonly statements: StatementMap,
    readonly audit: AuditGate,
    readonly remoteAddress: string,
    /** The client talks TLS (COM_CHANGE_USER's caching_sha2 full authentication needs it). */
    readonly tls: () => boolean,
    public log: Logger,
  ) {}

  // ---------------------------------------------------------------- commands (from the loop)

  command(p: Packet): void {
    const payload = p.payload;
    const command = payload[0];
    switch (command) {
      case COM_QUIT:
        this.close();
        return;
      case COM_QUERY: {
        if (this.dialect.unsure && !this.relearnFailed && this.dialectGeneration === this.slot.generation) {
          this.relearnDialect(p);
          return;
        }
        const sql = decodeSql(payload, 1, this.sessionDialect());
        this.relearnFailed = false;
        const c = this.classify(sql);
        // A read but for the routines it calls runs on the secondary only under its server-side guard.
        const statement = c.readExceptRoutines ? statementClassOf(c, this.readProof()) : statementClassOf(c);
        this.dispatch({
          p,
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
      case COM_STMT_PREPARE: {
        if (this.dialect.unsure && !this.relearnFailed && this.dialectGeneration === this.slot.generation) {
          this.relearnDialect(p);
          return;
        }
        const prepareSql = decodeSql(payload, 1, this.sessionDialect());
        this.relearnFailed = false;
        const kind = ResponseKind.Prepare;
        this.dispatch({ p, command, kind, c: null, stmt: null, prepareSql, sql: null, statement: "none" });
        return;
      }
      case COM_STMT_EXECUTE:
      case COM_STMT_FETCH:
      case COM_STMT_SEND_LONG_DATA:
      case COM_STMT_RESET:
      case COM_STMT_CLOSE:
        this.statementCommand(p, command);
        return;
      case COM_INIT_DB:
      case COM_PING:
      case COM_FIELD_LIST:
      case COM_STATISTICS:
      case COM_SET_OPTION:
      case COM_RESET_CONNECTION: {
        const kind = command === COM_FIELD_LIST ? ResponseKind.FieldList : ResponseKind.Single;
        const statement = command === COM_PING || command === COM_STATISTICS ? "probe" : "none";
        this.dispatch({ p, command, kind, c: null, stmt: null, prepareSql: null, sql: null, statement });
        return;
      }
      case COM_CHANGE_USER:
        void changeUser(this, p);
        return;
      default:
        this.loop.refuse(
          1,
          "PAIRGATE_UNKNOWN_COMMAND",
          `Unknown command 0x${command.toString(16).padStart(2, "0")}: pairgate does not relay this command`,
        );
    }
  }

  /**
   * The one place the session asks the classifier about a statement (COM_QUERY, COM_STMT_PREPARE).
   * Seam: a per-session SQL dialect (sql_mode, client charset, backend version) is passed from here.
   */
  classify(sql: string): Classification {
    return classify(sql, this.sessionDialect());
  }

  /** The dialect of the backend connection serving the session (a new connection brings its own). */
  private sessionDialect(): SqlDialect {
    if (this.dialectGeneration !== this.slot.generation) {
      this.dialect = this.slot.dialect;
      this.dialectGeneration = this.slot.generation;
      if (this.handles.size) this.handles.clear(); // a new connection has no handles open
    }
    return this.dialect;
  }

  /**
   * A statement may have changed sql_mode or the client charset in a way pairgate could not follow
   * (`dialectAfter` said unsure): read them back before the next statement is read. Until then (or
   * if that fails) statements are uncertain, hence writes.
   */
  private relearnDialect(p: Packet): void {
    const loop = this.loop;
    loop.to("wait_backend");
    const again = () => {
      if (loop.closed) return;
      loop.to("done");
      this.command(p);
      loop.pump();
    };
    this.slot.readDialect().then(
      (d) => {
        this.dialect = d;
        again();
      },
      () => {
        this.relearnFailed = true; // classify with the unsure dialect (uncertain: a write) this time
        again();
      },
    );
  }

  /** After a statement: follow SET sql_mode / SET NAMES; a failed statement that changed session state may have applied part of it. */
  private followDialect(f: Inflight, failed: boolean): void {
    const c = f.classification;
    const d = this.sessionDialect();
    if (f.command === COM_RESET_CONNECTION) this.dialect = unsureDialect(d);
    else if (!c) return;
    else if (!failed) this.dialect = dialectAfter(d, c);
    else if (c.session !== undefined || c.mayChangeDialect) this.dialect = unsureDialect(d);
  }

  /**
   * Statements that reach the secondary run under its server-side read-only guard (every
   * connection there runs `SECONDARY_SETUP` first or fails): `serverReadOnly` when reads go there.
   * Not when the read role is a read-only primary (its `read_only` does not stop SUPER users).
   */
  private readProof(): ReadProofOptions | undefined {
    // Where a read goes: the read role, or the secondary holding the session's transaction (route rule 1).
    const inSecondaryTx = this.slot.role === "secondary" && this.slot.inTransaction;
    return inSecondaryTx || this.ctx.readRole() === "secondary" ? GUARDED : undefined;
  }

  private statementCommand(p: Packet, command: number): void {
    const payload = p.payload;
    const noReply = command === COM_STMT_CLOSE || command === COM_STMT_SEND_LONG_DATA;
    if (payload.length < 5) {
      if (!noReply)
        this.loop.refuse(1, "PAIRGATE_PROTOCOL", "Malformed communication packet: statement id missing");
      return;
    }
    const stmt = this.statements.lookup(payload);
    if (!stmt) {
      if (!noReply)
        this.loop.refuse(1, "PAIRGATE_UNKNOWN_STATEMENT", this.statements.unknown(payload, command));
      return;
    }
    if (command === COM_STMT_CLOSE) {
      this.statements.forget(stmt);
      this.slot.closeStatement(stmt);
      return;
    }
    const kind = statementResponseKind(command);
    const statement = command === COM_STMT_EXECUTE ? preparedClassOf(stmt.kind, stmt.lockingRead) : "none";
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
  private dispatch(cmd: Command, retried = false): void {
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
      this.refuse(cmd, d.refuse);
      return;
    }
    const role = d.to;
    if (role === "secondary" && this.waitForCatchUp(cmd, retried)) return;
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

  /**
   * The secondary has not applied yet all it received (or all pairgate acknowledged) at this
   * failover: hold the command until it has, or the topology's catch-up timeout passed (the promise
   * never rejects), then decide again. The statement waits; it is never failed for it. Returns
   * false — serve now — in the common case, after one call that reads a field.
   */
  private waitForCatchUp(cmd: Command, retried: boolean): boolean {
    const readable = this.ctx.secondaryReadable?.();
    if (readable === undefined || readable === true) return false;
    this.loop.to("wait_backend");
    void readable.then(() => {
      if (this.loop.closed) return;
      this.loop.to("done");
      this.dispatch(cmd, retried);
      this.loop.pump();
    });
    return true;
  }

  private send(cmd: Command, role: Role, retryable: boolean): void {
    const { p, command, kind, stmt } = cmd;
    const framed = frameForBackend(p.payload, p.raw, stmt);
    if (kind === null) {
      this.slot.sendOnly(framed); // COM_STMT_SEND_LONG_DATA: no response
      return;
    }
    const audit = this.audit;
    const gate = audit.enabled
      ? audit.gate(
          command === COM_QUERY ? cmd.sql : command === COM_STMT_EXECUTE ? stmt!.sql : null,
          role,
          this.auditContext(cmd.c),
        )
      : null;
    if (gate === REFUSED_UNRESOLVED) {
      this.loop.refuse(1, "PAIRGATE_AUDIT_UNRESOLVED", AUDIT_UNRESOLVED_MESSAGE);
      return;
    }
    const f: Inflight = {
      command,
      kind,
      role,
      payload: p.payload,
      stmt,
      classification: cmd.c,
      startedAt: performance.now(),
      forwarded: false,
      collect: kind === ResponseKind.Prepare || gate ? [] : null,
      gate,
      prepareSql: cmd.prepareSql,
      retryable,
      retried: false,
    };
    this.loop.to("sent");
    this.slot.send(f, framed);
  }

  /** What audit resolution needs of the session (one object, refilled per audited command). */
  private auditContext(c: Classification | null): AuditContext {
    const a = this.auditCtx;
    a.classification = c ?? undefined;
    a.dialect = this.sessionDialect();
    a.handles = this.handles;
    a.schemaUncertain = this.schemaUncertain;
    return a;
  }

  /**
   * HANDLER handles the server accepted (OPEN's OK), so that `HANDLER h READ` resolves to its table;
   * default schema certainty after a failed multi-statement that had a USE.
   */
  private followHandlesAndSchema(f: Inflight, failed: boolean): void {
    if (f.command === COM_RESET_CONNECTION) {
      this.handles.clear();
      this.schemaUncertain = false;
      return;
    }
    if (f.command === COM_INIT_DB && !failed) {
      this.schemaUncertain = false;
      return;
    }
    const c = f.classification;
    if (!c) return;
    if (c.session)
      for (const ch of c.session) {
        if (ch.type !== "use") continue;
        // A failed single USE changed nothing; a failed multi-statement ran the USE if the ERR came
        // after it: pairgate does not count results, so the schema is uncertain until the next USE.
        if (!failed) this.schemaUncertain = false;
        else if (c.multi) this.schemaUncertain = true;
      }
    const h = c.handler;
    if (!h || failed) return;
    if (h.op === "open" && h.table) {
      const schema = this.who.state.schema;
      const table = h.table.includes(".") || !schema ? h.table : `${schema.toLowerCase()}.${h.table}`;
      this.handles.set(h.name, table);
    } else if (h.op === "close") this.handles.delete(h.name);
  }

  /**
   * The router refused. In read_only mode an INSERT into one of `audit.captureTables` is journaled
   * and answered OK instead, to be replayed on the primary when it returns.
   */
  private refuse(cmd: Command, why: "read_only" | "down"): void {
    const loop = this.loop;
    if (why === "down") {
      loop.refuse(1, "PAIRGATE_DOWN", DOWN_MESSAGE);
      return;
    }
    const sql = cmd.sql ?? cmd.stmt?.sql ?? null;
    const captured = cmd.command === COM_QUERY ? this.audit.capture(sql) : null;
    if (captured) {
      loop.to("wait_audit");
      void captured.then((durable) => {
        if (loop.closed) return;
        if (durable)
          loop.write(framePayload(encodeOk({ affectedRows: 1, statusFlags: this.slot.status }), 1));
        else loop.refuse(1, "PAIRGATE_AUDIT_REFUSED", AUDIT_REFUSED_MESSAGE);
        loop.to("done");
        loop.pump();
      });
      return;
    }
    this.ctx.hooks.writeRejected();
    loop.refuse(1, "PAIRGATE_READ_ONLY", READ_ONLY_MESSAGE);
    if (this.audit.enabled)
      this.audit.post({ operation: "write_rejected", outcome: "refused", digest: sql ? digest(sql) : null });
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
    if (f.collect) this.prepared(f, Buffer.concat(f.collect));
    this.finish(f, s.status, s.failed);
  }

  /**
   * The secondary refused the command with a read-only error of its own (its server-side guard, or
   * its `read_only`): the client gets pairgate's 1290, as for a write pairgate refuses itself.
   */
  guardRefused(f: Inflight, seq: number): void {
    f.gate = null;
    f.collect = null;
    this.ctx.hooks.writeRejected();
    this.loop.refuse(seq, "PAIRGATE_READ_ONLY", READ_ONLY_MESSAGE);
    if (this.audit.enabled) {
      const sql = f.command === COM_QUERY ? decodeSql(f.payload, 1, this.dialect) : (f.stmt?.sql ?? null);
      this.audit.post({
        operation: "write_rejected",
        outcome: "refused",
        backend: "secondary",
        digest: sql ? digest(sql) : null,
        detail: { refusedBy: "secondary", serverErrno: this.slot.scanner.errno },
      });
    }
    this.finish(f, 0, true);
  }

  /** Give the client a stable statement id of pairgate's, not the backend's. */
  private prepared(f: Inflight, reply: Buffer): void {
    const s = this.slot.scanner;
    const sql = f.prepareSql ?? "";
    if (s.prepared && !s.failed)
      this.statements.prepared(reply, sql, this.classify(sql), s.prepared, this.slot.generation);
    else this.statements.prepareFailed();
    f.forwarded = true;
    this.loop.write(reply);
  }

  private finish(f: Inflight, status: number, failed: boolean): void {
    if (!failed) this.applySessionState(f);
    const c = f.classification;
    // A plain statement that succeeded changes neither dialect, schema nor handles: nothing to do.
    if (failed || f.command !== COM_QUERY || c?.session || c?.handler || c?.mayChangeDialect) {
      this.followDialect(f, failed);
      this.followHandlesAndSchema(f, failed);
    }
    this.slot.finish(status);
    const again = f.command === COM_RESET_CONNECTION && !failed ? this.slot.trackAgain() : null;
    if (again) {
      // The reset also reset GTID tracking on the primary: restore it before the next command.
      this.loop.to("wait_backend");
      void again.then(() => {
        if (!this.loop.closed) this.finished(f);
      });
      return;
    }
    this.finished(f);
  }

  private finished(f: Inflight): void {
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
    const loop = this.loop;
    if (loop.closed) return;
    if (wasInTransaction && !f) this.transactionLost = true;
    if (!f) return;
    // The response was complete and waits for its audit event: the gate releases it; nothing is lost.
    if (loop.phase.tag === "waiting" && loop.phase.on === "audit") return;
    if (f.forwarded) {
      // Part of the response already reached the client: it cannot be completed or retried.
      this.close("backend lost in the middle of a response");
      return;
    }
    if (f.retryable && !f.retried) {
      // An autocommit read that failed before any byte reached the client: retry once, where the
      // topology now sends reads.
      loop.to("wait_backend");
      this.slot.retry(f, role, modeSeen).then(
        () => {
          if (!loop.closed) loop.to("sent");
        },
        (e: Error) => {
          if (loop.closed) return;
          loop.to("done");
          loop.sendError(1, e);
          loop.pump();
        },
      );
      return;
    }
    const what =
      f.classification && f.classification.kind !== "read"
        ? "this statement may or may not have been applied"
        : "the statement did not complete";
    const message = `pairgate lost the connection to the ${role} database (${err.message}); ${what}`;
    loop.refuse(1, "PAIRGATE_STATEMENT_LOST", message);
    loop.to("done");
    loop.pump();
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
