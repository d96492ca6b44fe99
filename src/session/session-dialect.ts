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
import { makeDialect, type SqlDialect, unsureDialect } from "../sql/index.js";

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
