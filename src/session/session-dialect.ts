/**
 * The session's SQL dialect (issue 11): how its backend reads SQL — server version (executable
 * comments), `@@session.sql_mode` (ANSI_QUOTES, NO_BACKSLASH_ESCAPES) and
 * `@@session.character_set_client` (multi-byte sets whose trail byte can be 0x5C). Read on every new
 * backend connection right after the secondary's guard (`BackendSlot.setUp`), again after a replay,
 * and then followed from the server's own reports: the session tracking data of each OK names a new
 * sql_mode or client character set (issue 19); read back only when a report could not be read.
 * On the secondary the same round trip confirms the server-side read-only guard.
 */
import type { BackendConnection, Role } from "../backend/connection.js";
import { BackendError } from "../backend/connection.js";
import { DEFAULT_DIALECT, makeDialect, type SqlDialect, unsureDialect } from "../sql/index.js";

const PROBE = "SELECT @@session.sql_mode, @@session.character_set_client, @@session.tx_read_only";

/** What a probe read: the dialect, and the server's own sql_mode and client charset (null: unknown). */
export interface Probed {
  dialect: SqlDialect;
  sqlMode: string | null;
  charsetClient: string | null;
}

/** Read the dialect of `conn`'s session; on the secondary also check that its guard holds. */
export async function probeDialect(conn: BackendConnection, role: Role): Promise<Probed> {
  const row = await conn.queryRow(PROBE);
  if (role === "secondary" && row?.[2] !== "1")
    throw new BackendError(
      "secondary: the session did not become read-only (SET SESSION TRANSACTION READ ONLY); pairgate does not serve from it",
      "PAIRGATE_BACKEND_ERROR",
      role,
    );
  const sqlMode = row?.[0] ?? null;
  const charsetClient = row?.[1] ?? null;
  return { dialect: dialectOf(conn.serverVersion, sqlMode, charsetClient), sqlMode, charsetClient };
}

/** The dialect of a session whose server reported this sql_mode and client charset. */
export function dialectOf(
  serverVersion: string,
  sqlMode: string | null,
  charsetClient: string | null,
): SqlDialect {
  const d = makeDialect({
    serverVersion,
    sqlMode: sqlMode ?? undefined,
    charset: charsetClient ?? undefined,
  });
  return sqlMode === null || charsetClient === null ? unsureDialect(d) : d;
}

/**
 * The dialect of one backend connection — its one owner: a new connection brings a new one (so a
 * reader sees a new connection by identity, nothing to poll), the server's word (a probe, an OK's
 * tracked sql_mode or client charset) replaces it, and pairgate's own reading after a statement on
 * a connection that does not report (`followed`) stands until the server is asked (`relearn`).
 */
export class ConnectionDialect {
  #dialect: SqlDialect = DEFAULT_DIALECT;
  #sqlMode: string | null = null;
  #charsetClient: string | null = null;
  #fromServer = false;

  constructor(private readonly serverVersion = "") {}

  /** How statements on this connection are read now. */
  get dialect(): SqlDialect {
    return this.#dialect;
  }
  /** The server's session sql_mode and character_set_client as last read or reported (null: unknown). */
  get sqlMode(): string | null {
    return this.#sqlMode;
  }
  get charsetClient(): string | null {
    return this.#charsetClient;
  }
  /**
   * `dialect` is what the server reported, not pairgate's guess after a statement. Such a dialect
   * may still be unsure — MariaDB's ORACLE and MSSQL modes change the grammar beyond what pairgate
   * reads — but reading it back again cannot make it surer: relearning it before every statement
   * looped forever (each probe answered "unsure" again).
   */
  get fromServer(): boolean {
    return this.#fromServer;
  }

  /** What a probe read. */
  adopt(p: Probed): void {
    this.#dialect = p.dialect;
    this.#sqlMode = p.sqlMode;
    this.#charsetClient = p.charsetClient;
    this.#fromServer = p.sqlMode !== null && p.charsetClient !== null;
  }

  /** The server reported a new sql_mode and/or client character set (undefined: not reported). */
  reported(sqlMode: string | undefined, charsetClient: string | undefined): void {
    if (sqlMode !== undefined) this.#sqlMode = sqlMode;
    if (charsetClient !== undefined) this.#charsetClient = charsetClient;
    this.#dialect = dialectOf(this.serverVersion, this.#sqlMode, this.#charsetClient);
    this.#fromServer = this.#sqlMode !== null && this.#charsetClient !== null;
  }

  /** pairgate's own reading after a statement the server did not report on (statement-context.ts). */
  followed(d: SqlDialect): void {
    this.#dialect = d;
    this.#fromServer = false;
  }

  /** Read back from the server (`relearn`): asking again would give the same answer. */
  asked(): void {
    this.#fromServer = true;
  }
}
