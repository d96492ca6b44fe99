/**
 * Carrying a session to a backend connection: logged in as its user, its state replayed as literals, and a prepared
 * statement prepared again under the sql_mode and client character set it was first prepared
 * under (issue 19). Used by BackendSlot when it opens a connection for a session that had one.
 */
import { BackendConnection, BackendError, type Role } from "../backend/connection.js";
import { CLIENT_SESSION_TRACK } from "../protocol/constants.js";
import { PairgateError, ServerError } from "../protocol/errors.js";
import { quoteString } from "../sql/quote.js";
import { NotALiteral, type PreparedStatement, type SessionState } from "./replay-state.js";
import type { SlotContext, SlotIdentity } from "./slot-types.js";

/**
 * A connection to `role` as the session's user, tracking session state. A failure to reach the
 * server is reported to the topology; a refused login (the server's ERR) is not a failover matter.
 */
export async function connectAs(ctx: SlotContext, who: SlotIdentity, role: Role): Promise<BackendConnection> {
  try {
    return await BackendConnection.open(
      ctx.target(role),
      {
        username: who.username,
        password: who.password,
        database: who.state.schema,
        collation: who.state.collation,
        // Session state tracking on every hop: each OK then names what the statement changed.
        capabilities: who.capabilities | CLIENT_SESSION_TRACK,
        connectAttrs: who.connectAttrs,
        mariadbCapabilities: who.mariadbCapabilities,
      },
      ctx.connectTimeoutMs,
    );
  } catch (e) {
    if (e instanceof ServerError) throw e; // the server refused the login: no failover matter
    ctx.reportBackendError(role, e as Error);
    throw e instanceof BackendError
      ? e
      : new BackendError(`${role}: ${(e as Error).message}`, "PAIRGATE_BACKEND_ERROR", role);
  }
}

/**
 * Recreate the session's state on `conn` from what the server reported (replay-state.ts): every
 * name and value a literal. Anything that cannot be carried fails the move for this session.
 */
export async function replayState(
  conn: BackendConnection,
  state: SessionState,
  autocommit: boolean,
): Promise<void> {
  try {
    const statements = state.replayStatements(autocommit, conn.role === "secondary");
    let baseline: Record<string, string | null> | null = null;
    if (state.userVariables.size > 0) {
      // Identifiers go out under SET NAMES utf8mb4: the handshake's character sets come back after.
      const row = await conn.queryRow(
        "SELECT @@session.character_set_client, @@session.character_set_connection, @@session.collation_connection, @@session.character_set_results",
      );
      baseline = {
        character_set_client: row?.[0] ?? null,
        character_set_connection: row?.[1] ?? null,
        collation_connection: row?.[2] ?? null,
        character_set_results: row?.[3] ?? null,
      };
    }
    const charset = state.charsetStatement(baseline);
    if (charset) statements.push(charset);
    for (const sql of statements) await conn.runQuery(sql);
  } catch (e) {
    if (!(e instanceof ServerError) && !(e instanceof NotALiteral)) throw e;
    throw new PairgateError(
      "PAIRGATE_SESSION_PINNED",
      `pairgate must move this session to the ${conn.role} database, but could not carry its session state there (${(e as Error).message}); the session is closed. Reconnect to continue.`,
    );
  }
}

/**
 * Prepare `stmt` on `c` under the sql_mode and client character set it was first
 * prepared under (issue 19): set as literals around the prepare, restored after. Refused when
 * either is not known — never prepared under another dialect, where its text may read as another
 * statement.
 */
export async function prepareAgain(
  c: BackendConnection,
  stmt: PreparedStatement,
  sqlMode: string | null,
  charsetClient: string | null,
  /** The restore failed: the connection must not serve again. */
  dropConnection: () => void,
): Promise<number> {
  const same = stmt.sqlMode === sqlMode && stmt.charsetClient === charsetClient;
  if (
    stmt.sqlMode === null ||
    stmt.charsetClient === null ||
    (!same && (sqlMode === null || charsetClient === null))
  )
    throw new PairgateError(
      "PAIRGATE_STATEMENT_DIALECT",
      "pairgate must prepare this statement again on another database connection but does not know the sql_mode and character set it was prepared under; prepare it again",
    );
  const set = (mode: string, cs: string) =>
    `SET SESSION sql_mode = ${quoteString(mode)}, SESSION character_set_client = ${quoteString(cs)}`;
  if (!same) await c.runQuery(set(stmt.sqlMode, stmt.charsetClient));
  let r: { statementId: number };
  try {
    r = await c.prepare(stmt.sqlBytes);
  } finally {
    if (!same) {
      try {
        await c.runQuery(set(sqlMode!, charsetClient!));
      } catch (e) {
        // A connection left in another dialect must not serve: the next command opens a new one.
        dropConnection();
        // biome-ignore lint/correctness/noUnsafeFinally: the restore's failure is the one to report
        throw e;
      }
    }
  }
  return r.statementId;
}
