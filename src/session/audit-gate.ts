/**
 * The session's audit gate: which statements the audit trail must see, and the promises that hold a
 * result back until its event is durable. Fire-and-forget events (login, logout, refusals) go out
 * through `post`; nothing here is on the path of a statement no audit rule matches.
 */

import type { AuditContext } from "../audit/rules.js";
import type { Role } from "../backend/connection.js";
import { COM_QUERY, COM_STMT_BULK_EXECUTE, COM_STMT_EXECUTE } from "../protocol/constants.js";
import type { Packet } from "../protocol/framer.js";
import { BIG_STATEMENT, bigStatementDigest } from "../sql/big-statement.js";
import { type Classification, digest, type SqlDialect } from "../sql/index.js";
import type { PreparedStatement } from "./replay-state.js";

/** What a session asks of the audit trail (src/audit's Audit fits). */
export interface SessionAudit {
  matchStatement(
    sql: string,
    context: string | null | AuditContext,
  ): {
    operation: string;
    object: string;
    key?: string;
    appUser?: string;
    unresolved?: string[];
    refuse?: boolean;
    /** How the object reaches audited data (a view, a copy, the server's own copy). */
    via?: string;
  } | null;
  captureTable(sql: string, defaultSchema: string | null): string | null;
  /** A statement too long to lex: a byte search for the audited names (src/audit/byte-search.ts). */
  searchBytes?(dbUser: string | null): {
    feed(bytes: Uint8Array, start: number, end: number): boolean;
    result(): { operation: string; object: string; unresolved?: string[] } | null;
  } | null;
  /** Resolves once the event is durable; rejects when it cannot be. */
  record(event: AuditInput): Promise<unknown>;
  /** Fire and forget (events that hold no result back). */
  post(event: AuditInput): void;
  readonly refuseOnJournalFailure: boolean;
}

export interface AuditInput {
  operation: string;
  outcome?: "ok" | "error" | "refused";
  clientAddr?: string | null;
  dbUser?: string | null;
  sessionId?: string | null;
  backend?: Role | null;
  object?: string | null;
  objectKey?: string | null;
  appUser?: string | null;
  digest?: string | null;
  durationMs?: number;
  sql?: string;
  schema?: string | null;
  detail?: Record<string, unknown>;
}

/** Bytes of a long statement searched per turn of the event loop (`gateBytes`): a few ms each. */
export const BYTE_SEARCH_SLICE = 256 * 1024;

/**
 * How much of an audited result is held while its event becomes durable (usually a few ms, long
 * before a result is this large); then the backend is paused, so no result is ever held whole.
 */
export const AUDIT_HOLD_BYTES = 1024 * 1024;

/** `gate` said: audit.unresolved = refuse, the statement must not run. */
export const REFUSED_UNRESOLVED = "refused";

export const AUDIT_UNRESOLVED_MESSAGE =
  "pairgate cannot tell which tables this statement reads (a routine, a view, dynamic SQL, a HANDLER or text it " +
  "cannot read as the server does) and one of them may be audited; with audit.unresolved = refuse it was not run. " +
  "Name the audited tables directly, or ask the operators to list the routine in audit.safeRoutines.";

export const AUDIT_REFUSED_MESSAGE =
  "pairgate could not record this statement's audit event on local disk (journal unwritable: disk full or permissions), " +
  "so it was refused rather than served unaudited (audit.onJournalFailure = refuse). Operators: free space in audit.journalDir.";

/** Who the events are about, read when each event is made (COM_CHANGE_USER changes the user). */
export interface AuditSubject {
  readonly id: number;
  readonly remoteAddress: string;
  readonly username: string;
  readonly schema: string | null;
}

export class AuditGate {
  constructor(
    private audit: SessionAudit | null,
    private subject: AuditSubject,
  ) {}

  get enabled(): boolean {
    return this.audit !== null;
  }

  /** The fields every audit event of this session carries. */
  private base(): AuditInput {
    const s = this.subject;
    return {
      operation: "",
      clientAddr: s.remoteAddress,
      dbUser: s.username,
      sessionId: String(s.id),
      schema: s.schema,
    };
  }

  post(event: Partial<AuditInput> & { operation: string }): void {
    this.audit?.post({ ...this.base(), ...event });
  }

  /**
   * Start recording an audited statement's event (a password retrieval, per the config's rules)
   * alongside running it. Resolves true when the event is durable, false when the result must be
   * refused; null when no rule matches `sql`.
   */
  gate(
    sql: string | null,
    role: Role,
    context: AuditContext,
  ): Promise<boolean> | typeof REFUSED_UNRESOLVED | null {
    const audit = this.audit;
    if (!audit || sql === null) return null;
    context.defaultSchema = this.subject.schema;
    context.dbUser = this.subject.username;
    const m = audit.matchStatement(sql, context);
    if (!m) return null;
    const event = {
      operation: m.operation,
      backend: role,
      object: m.object,
      objectKey: m.key ?? null,
      appUser: m.appUser ?? null,
      digest: digest(sql),
      detail:
        m.unresolved || m.via
          ? { ...(m.unresolved && { unresolved: m.unresolved }), ...(m.via && { via: m.via }) }
          : undefined,
    };
    if (m.refuse) {
      // Not run: the event says so (outcome refused), fire and forget like other refusals.
      this.post({ ...event, outcome: "refused" });
      return REFUSED_UNRESOLVED;
    }
    return this.durable(audit, event, !audit.refuseOnJournalFailure);
  }

  /**
   * As `gate`, for a statement too long to lex (`maxLexedStatement`), already sent: its text (the
   * slices `bytes[start..]`, in order) is searched for the audited names in slices of BYTE_SEARCH_SLICE, one per turn
   * of the event loop (a search of 32 MiB takes a few hundred ms of CPU; no other session waits for
   * it), while the server runs the statement. Resolves true when the result may go out (no name
   * found, or its event is durable), false when it must be refused; null when no rule binds the user.
   * Never refused for dynamic SQL (audit.unresolved = refuse): the statement was sent before its text
   * was read; such a statement gets its `unresolved_access` event.
   */
  gateBytes(text: readonly { bytes: Uint8Array; start: number }[], role: Role): Promise<boolean> | null {
    const audit = this.audit;
    const search = audit?.searchBytes?.(this.subject.username) ?? null;
    if (!audit || search === null || text.length === 0) return null;
    let size = 0;
    for (const t of text) size += t.bytes.length - t.start;
    return new Promise<boolean>((resolve) => {
      let part = 0;
      let at = text[0]!.start;
      const step = () => {
        let found = false;
        while (part < text.length) {
          const { bytes } = text[part]!;
          const end = Math.min(bytes.length, at + BYTE_SEARCH_SLICE);
          found = search.feed(bytes, at, end);
          at = end;
          if (at >= bytes.length && ++part < text.length) at = text[part]!.start;
          if (found || part >= text.length) break;
          setImmediate(step);
          return;
        }
        const m = search.result();
        if (!m) {
          resolve(true);
          return;
        }
        const event = {
          operation: m.operation,
          backend: role,
          object: m.object,
          objectKey: null,
          appUser: null,
          digest: bigStatementDigest(size),
          detail: m.unresolved ? { unresolved: m.unresolved, notLexedBytes: size } : { notLexedBytes: size },
        };
        resolve(this.durable(audit, event, !audit.refuseOnJournalFailure));
      };
      step();
    });
  }

  /**
   * Read-only mode refused a write. An INSERT into one of `audit.captureTables` is journaled
   * instead, to be replayed on the primary when it returns: resolves true once durable, false when
   * it cannot be; null when `sql` is no such INSERT.
   */
  capture(sql: string | null): Promise<boolean> | null {
    const audit = this.audit;
    if (!audit || sql === null) return null;
    const table = audit.captureTable(sql, this.subject.schema);
    if (!table) return null;
    const event = { operation: "captured_write", backend: null, object: table, sql, digest: digest(sql) };
    return this.durable(audit, event, false);
  }

  /** Record `event` (outcome ok): true once durable, `whenNot` when it cannot be. */
  private durable(
    audit: SessionAudit,
    event: Partial<AuditInput> & { operation: string },
    whenNot: boolean,
  ): Promise<boolean> {
    // One object of one shape (this runs once per audited statement; two spreads cost more than the rest of it).
    const s = this.subject;
    const input: AuditInput = {
      operation: event.operation,
      outcome: "ok",
      clientAddr: s.remoteAddress,
      dbUser: s.username,
      sessionId: String(s.id),
      schema: s.schema,
      backend: event.backend ?? null,
      object: event.object ?? null,
      objectKey: event.objectKey ?? null,
      appUser: event.appUser ?? null,
      digest: event.digest ?? null,
      detail: event.detail,
      sql: event.sql,
    };
    return audit.record(input).then(
      () => true,
      () => whenNot,
    );
  }
}

/** The statement text of a COM_QUERY split over wire packets: each packet past its header, the first past the command byte. */
function textOfParts(parts: readonly Buffer[]): { bytes: Buffer; start: number }[] {
  return parts.map((bytes, i) => ({ bytes, start: i === 0 ? 5 : 4 }));
}

/** What `auditGateFor` reads of a command (an Exchange). */
export interface AuditedCommand {
  readonly sent: Packet;
  readonly command: number;
  readonly c: Classification | null;
  readonly sql: string | null;
  readonly stmt: PreparedStatement | null;
}

/**
 * The gate of one command about to be sent to `role`: a statement too long to lex is searched as
 * bytes; an EXECUTE is judged by the classification and dialect of its prepare, never by its text
 * read again now (issue 19); anything else by its text in the session's dialect.
 */
export function auditGateFor(
  audit: AuditGate,
  x: AuditedCommand,
  role: Role,
  maxLexedStatement: number,
  reading: { auditContext(c: Classification | null, dialect?: SqlDialect): AuditContext },
): Promise<boolean> | typeof REFUSED_UNRESOLVED | null {
  if (!audit.enabled) return null;
  const { sent: p, command, stmt } = x;
  const executes = command === COM_STMT_EXECUTE || command === COM_STMT_BULK_EXECUTE;
  const sql = command === COM_QUERY ? x.sql : executes ? stmt!.sql : null;
  if (x.c === BIG_STATEMENT)
    return audit.gateBytes(p.rawParts ? textOfParts(p.rawParts) : [{ bytes: p.payload, start: 1 }], role);
  if (sql !== null && sql.length > maxLexedStatement)
    return audit.gateBytes([{ bytes: Buffer.from(sql), start: 0 }], role);
  return audit.gate(
    sql,
    role,
    executes ? reading.auditContext(stmt!.classification, stmt!.dialect) : reading.auditContext(x.c),
  );
}
