/**
 * How the session reads its statements (issue 11), owned by the SessionHandler: the SQL dialect of
 * the backend connection serving it, the HANDLER handles open on it, whether its default schema is
 * known, and the audit context built from them. Changed only after a response (`follow`) or when
 * the server reports a new dialect (a new connection's probe, an OK's tracked sql_mode or client
 * character set: issue 19); read per statement by plain field and method access.
 */
import type { AuditContext } from "../audit/rules.js";
import { COM_INIT_DB, COM_RESET_CONNECTION } from "../protocol/constants.js";
import type { ReadProofOptions } from "../routing/router.js";
import {
  type Classification,
  decodeSql,
  dialectAfter,
  type SqlDialect,
  unsureDialect,
} from "../sql/index.js";
import type { SessionContext } from "./context.js";
import { GUARDED } from "./secondary-guard.js";
import type { ConnectionDialect } from "./session-dialect.js";
import type { Inflight, SessionSlot, SlotIdentity } from "./slot-types.js";

export class StatementContext {
  /**
   * The connection dialect last looked at (slot.connectionDialect): another object is another
   * connection — its handles are not open there. The dialect itself is the connection's (one owner).
   */
  private seen: ConnectionDialect | null = null;
  private relearnFailed = false;
  /** Open HANDLER handles → `schema.table` (after the server's OK); dropped on reset or a new connection. */
  private readonly handles = new Map<string, string>();
  /** A failed multi-statement with a USE: the server's default schema is not known for sure. */
  private schemaUncertain = false;
  private readonly auditCtx: AuditContext = {};

  constructor(
    private readonly ctx: SessionContext,
    private readonly slot: SessionSlot,
    private readonly who: SlotIdentity,
  ) {}

  /** The dialect of the backend connection serving the session (a new connection brings its own). */
  current(): SqlDialect {
    const cd = this.slot.connectionDialect;
    if (this.seen !== cd) {
      this.seen = cd;
      if (this.handles.size) this.handles.clear(); // a new connection has no handles open
    }
    return cd.dialect;
  }

  /** The dialect as it stands, without looking for a new connection (a refusal's audit event). */
  get dialect(): SqlDialect {
    return this.slot.connectionDialect.dialect;
  }

  /** The dialect may have changed unseen on this connection and was not read back yet (`relearn`). */
  needsRelearn(): boolean {
    const cd = this.slot.connectionDialect;
    return cd === this.seen && cd.dialect.unsure && !cd.fromServer && !this.relearnFailed;
  }

  /** The text of a COM_QUERY / COM_STMT_PREPARE, decoded in the session's dialect. */
  decode(payload: Buffer): string {
    const sql = decodeSql(payload, 1, this.current());
    this.relearnFailed = false;
    return sql;
  }

  /**
   * A statement may have changed sql_mode or the client charset in a way pairgate could not follow
   * (`dialectAfter` said unsure): read them back before the next statement is read. Until then (or
   * if that fails) statements are uncertain, hence writes. Never rejects.
   */
  relearn(): Promise<void> {
    return this.slot.readDialect().then(
      () => {
        const cd = this.slot.connectionDialect;
        this.seen = cd;
        cd.asked(); // asked once: asking again gives the same answer
      },
      () => {
        this.relearnFailed = true; // classify with the unsure dialect (uncertain: a write) this time
      },
    );
  }

  /**
   * Statements that reach the secondary run under its server-side read-only guard (every
   * connection there runs `SECONDARY_SETUP` first or fails): `serverReadOnly` when reads go there.
   * Not when the read role is a read-only primary (its `read_only` does not stop SUPER users).
   */
  readProof(): ReadProofOptions | undefined {
    // Where a read goes: the read role, or the secondary holding the session's transaction (route rule 1).
    const inSecondaryTx = this.slot.role === "secondary" && this.slot.inTransaction;
    return inSecondaryTx || this.ctx.readRole() === "secondary" ? GUARDED : undefined;
  }

  /**
   * What audit resolution needs of the session (one object, refilled per audited command). A
   * prepared statement's EXECUTE passes the dialect it was prepared under (issue 19).
   */
  auditContext(c: Classification | null, dialect: SqlDialect = this.current()): AuditContext {
    const a = this.auditCtx;
    a.classification = c ?? undefined;
    a.dialect = dialect;
    a.handles = this.handles;
    a.schemaUncertain = this.schemaUncertain;
    return a;
  }

  /** After a statement that may have changed them: follow the dialect, handles and default schema. */
  follow(f: Inflight, failed: boolean): void {
    this.followDialect(f, failed);
    this.followHandlesAndSchema(f, failed);
  }

  /** After a statement: follow SET sql_mode / SET NAMES; a failed statement that changed session state may have applied part of it. */
  private followDialect(f: Inflight, failed: boolean): void {
    const c = f.classification;
    const d = this.current();
    // A connection that tracks session state: the server's reports decide (taken in `current`),
    // read back only when a report could not be read (`finish` probes it then) — not the text.
    if (this.slot.tracking && f.command !== COM_RESET_CONNECTION) return;
    // pairgate's own reading now (`followed`): an unsure one is read back (`relearn`).
    const cd = this.slot.connectionDialect;
    if (f.command === COM_RESET_CONNECTION) cd.followed(unsureDialect(d));
    else if (!c) return;
    else if (!failed) cd.followed(dialectAfter(d, c));
    else if (c.session !== undefined || c.mayChangeDialect) cd.followed(unsureDialect(d));
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
}
