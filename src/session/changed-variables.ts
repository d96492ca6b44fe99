/**
 * The session's system variables that differ from the server's global values, read back when the
 * server's session-tracking reports cannot be trusted to be complete: a multi-statement's earlier
 * results, and every statement that ran a stored routine (MariaDB 10.11 reports no `SET @@x = …`
 * without a scope keyword, in a routine or not). What `SessionState.resync` takes.
 *
 * One query, both lists, compared here: a join of information_schema.SESSION_VARIABLES with
 * GLOBAL_VARIABLES on the name has no index to use (about 650 × 650 string comparisons: ~100 ms on
 * a loaded test machine), the two lists as one UNION ALL cost about as much as two `SELECT 1`s.
 */
import type { BackendConnection } from "../backend/connection.js";

export const SESSION_AND_GLOBAL_VARIABLES =
  "SELECT 1, VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.SESSION_VARIABLES UNION ALL SELECT 0, VARIABLE_NAME, VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES";

/** [lower-case name, session value] of each variable both lists hold with different values. */
export function changedVariables(rows: ReadonlyArray<ReadonlyArray<string | null>>): [string, string][] {
  const global = new Map<string, string | null>();
  for (const r of rows)
    if (r[0] === "0" && r[1] !== null && r[1] !== undefined) global.set(r[1], r[2] ?? null);
  const out: [string, string][] = [];
  for (const r of rows) {
    if (r[0] !== "1" || r[1] === null || r[1] === undefined || !global.has(r[1])) continue;
    const value = r[2] ?? null;
    if (value !== global.get(r[1])) out.push([r[1].toLowerCase(), value ?? ""]);
  }
  return out;
}

/** Read them from `conn`'s session. */
export async function readChangedVariables(conn: BackendConnection): Promise<[string, string][]> {
  return changedVariables(await conn.queryRows(SESSION_AND_GLOBAL_VARIABLES));
}
