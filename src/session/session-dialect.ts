/**
 * The session's SQL dialect (issue 11): how its backend reads SQL — server version (executable
 * comments), `@@session.sql_mode` (ANSI_QUOTES, NO_BACKSLASH_ESCAPES) and
 * `@@session.character_set_client` (multi-byte sets whose trail byte can be 0x5C). Read once per
 * backend connection, after the state replay and the guard (`BackendSlot.open`), and again only
 * when the classifier says a statement may have changed it unseen (`dialectAfter` → `unsure`).
 * On the secondary the same round trip confirms the server-side read-only guard.
 */
import type { BackendConnection, Role } from "../backend/connection.js";
import { BackendError } from "../backend/connection.js";
import { makeDialect, type SqlDialect, unsureDialect } from "../sql/index.js";

const PROBE = "SELECT @@session.sql_mode, @@session.character_set_client, @@session.tx_read_only";

/** Read the dialect of `conn`'s session; on the secondary also check that its guard holds. */
export async function probeDialect(conn: BackendConnection, role: Role): Promise<SqlDialect> {
  const row = await conn.queryRow(PROBE);
  if (role === "secondary" && row?.[2] !== "1")
    throw new BackendError(
      "secondary: the session did not become read-only (SET SESSION TRANSACTION READ ONLY); pairgate does not serve from it",
      "PAIRGATE_BACKEND_ERROR",
      role,
    );
  const d = makeDialect({
    serverVersion: conn.serverVersion,
    sqlMode: row?.[0] ?? undefined,
    charset: row?.[1] ?? undefined,
  });
  return row ? d : unsureDialect(d);
}
