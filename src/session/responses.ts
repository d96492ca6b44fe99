/**
 * The response side of a command (the slot reports, these act): an audited result held until its
 * event is durable, a PREPARE_OK given pairgate's statement id, the secondary's own read-only
 * refusal turned into 1290, and the end of every response — the session state it set applied
 * (`applySessionState`: the one place SET/USE/INIT_DB/RESET take effect, after the server's OK),
 * how statements are read followed, the slot's follow-up work awaited — then `Exchange.complete`.
 */
import { mayChangeAccounts } from "../accounts/statements.js";
import { COM_INIT_DB, COM_QUERY, COM_RESET_CONNECTION } from "../protocol/constants.js";
import { ResponseKind } from "../protocol/response-scanner.js";
import type { Classification } from "../sql/index.js";
import { AUDIT_REFUSED_MESSAGE, type AuditGate } from "./audit-gate.js";
import type { SessionHooks } from "./context.js";
import type { Exchange } from "./exchange.js";
import type { SessionIdentity } from "./identity.js";
import type { StatementMap } from "./prepared-statements.js";
import { refuseGuarded } from "./refusals.js";
import type { Inflight, SessionSlot } from "./slot-types.js";
import type { StatementContext } from "./statement-context.js";

/** What the response side works with (the session's parts, as the handler holds them). */
export interface ResponseParts {
  slot: SessionSlot;
  statements: StatementMap;
  reading: StatementContext;
  who: SessionIdentity;
  audit: AuditGate;
  hooks: SessionHooks;
  /** The session's one classifier call (SessionHandler.classify). */
  classify(sql: string): Classification;
  /** The session is closed. */
  closed(): boolean;
  /** Write to the client (false: wait for its drain). */
  write(framed: Buffer): boolean;
}

export class Responses {
  constructor(private readonly parts: ResponseParts) {}

  /**
   * The audit event of a statement still running became durable (or cannot be): release what was
   * held and stream the rest, or drop it all and answer with an ERR at the end (`completed`). When
   * the response completed first, `completed` owns the gate (f.gate is null) and this does nothing.
   */
  gateSettled(f: Inflight, durable: boolean): void {
    if (this.parts.closed() || f.gate === null) return;
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
      more = this.parts.write(held.length === 1 ? held[0]! : Buffer.concat(held));
    }
    // The backend may have been paused at the hold limit; a client that cannot take more resumes it on 'drain'.
    if (more) this.parts.slot.clientDrained();
  }

  /**
   * The response is complete. Seam (server-enforced read-only sessions): a refusal the secondary
   * sends itself (`slot.scanner.errno` 1792) is turned into pairgate's 1290 in `guardRefused`.
   */
  completed(x: Exchange, f: Inflight): void {
    const s = this.parts.slot.scanner;
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
      this.prepared(x, f, Buffer.concat(f.collect));
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
  guardRefused(x: Exchange, f: Inflight, seq: number): void {
    refuseGuarded(
      x,
      f,
      seq,
      this.parts.audit,
      this.parts.hooks,
      this.parts.slot.scanner.errno,
      this.parts.reading.dialect,
    );
    this.finish(x, f, 0, true);
  }

  /** Give the client a stable statement id of pairgate's, not the backend's. */
  private prepared(x: Exchange, f: Inflight, reply: Buffer): void {
    const s = this.parts.slot.scanner;
    const sql = f.prepareSql ?? "";
    if (s.prepared && !s.failed) {
      // Decided once, under the dialect it was prepared in (the session's until this response).
      const slot = this.parts.slot;
      this.parts.statements.prepared(reply, sql, this.parts.classify(sql), s.prepared, slot.generation, {
        sqlBytes: Buffer.from(f.payload.subarray(1)), // a copy: the client's read chunk is not kept
        dialect: this.parts.reading.current(),
        sqlMode: slot.connectionDialect.sqlMode,
        charsetClient: slot.connectionDialect.charsetClient,
      });
    } else this.parts.statements.prepareFailed();
    f.forwarded = true;
    x.write(reply);
  }

  private finish(x: Exchange, f: Inflight, status: number, failed: boolean): void {
    if (!failed) this.applySessionState(f);
    const c = f.classification;
    // A plain statement that succeeded changes neither dialect, schema nor handles: nothing to do.
    if (failed || f.command !== COM_QUERY || c?.session || c?.handler || c?.mayChangeDialect) {
      this.parts.reading.follow(f, failed);
    }
    // What the server reported is acted on before the next command (a lifted guard restored, user
    // variables read back, tracking and the guard after a reset): slot.finish says when it is done.
    const again = this.parts.slot.finish(status, f, failed);
    // ALTER USER, GRANT, ...: the accounts pairgate authenticates against are read again now.
    if (c && f.command === COM_QUERY && mayChangeAccounts(c, f.payload))
      this.parts.hooks.accountsMayHaveChanged?.();
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
      x.write(Buffer.concat(f.collect));
      f.collect = null;
    }
    x.complete();
  }

  /** The one place session state changes, after the server said OK (SET, USE, COM_INIT_DB, COM_RESET_CONNECTION). */
  private applySessionState(f: Inflight): void {
    const state = this.parts.who.state;
    if (f.classification) state.apply(f.classification);
    else if (f.command === COM_INIT_DB) state.schema = f.payload.toString("utf8", 1);
    if (f.command === COM_RESET_CONNECTION) {
      state.reset();
      // The reset also cleared the secondary's read-only guard: it is set again before the next command.
      if (f.role === "secondary") this.parts.slot.guardLost();
    }
  }
}

/**
 * `SET @x = …`: its OK is held until the user variable was read back from the server (BackendSlot
 * `finish`), so a client that saw the OK has its variable carried by a failover right after it.
 * Only SET (an OK, never rows): other ways to set one are read back after the response went out.
 */
export function setsUserVariable(c: Classification | null): boolean {
  if (!c?.session || c.verb !== "SET") return false;
  for (const ch of c.session) if (ch.type === "user_variable") return true;
  return false;
}
