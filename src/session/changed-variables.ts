/**
 * The session's system variables that differ from the server's global values, read back when the
 * server's session-tracking reports cannot be trusted to be complete: a multi-statement's earlier
 * results, and every statement that ran a stored routine (MariaDB 10.11 reports no `SET @@x = …`
 * without a scope keyword, in a routine or not). What `SessionState.resync` takes.
 *
 * From information_schema.SYSTEM_VARIABLES, which holds both values in one row: on the loaded test
 * machine about 4 ms a read, where a join of SESSION_VARIABLES with GLOBAL_VARIABLES on the name
 * (no index: about 650 × 650 string comparisons) took 100–180 ms and the two lists as one UNION ALL
 * about 25 ms — a cost every routine-calling statement pays. An explicit LIMIT: the session's own
 * `sql_select_limit` would otherwise cut the list (a LIMIT in the statement overrides it).
 */
import type { BackendConnection } from "../backend/connection.js";

export const CHANGED_VARIABLES =
  "SELECT LOWER(VARIABLE_NAME), SESSION_VALUE FROM information_schema.SYSTEM_VARIABLES WHERE VARIABLE_SCOPE = 'SESSION' AND NOT (SESSION_VALUE <=> GLOBAL_VALUE) LIMIT 100000";

/** [lower-case name, session value ("" for NULL)] of each variable whose session value differs. */
export async function readChangedVariables(conn: BackendConnection): Promise<[string, string][]> {
  const rows = await conn.queryRows(CHANGED_VARIABLES);
  return rows.map((r) => [r[0] ?? "", r[1] ?? ""]);
}
