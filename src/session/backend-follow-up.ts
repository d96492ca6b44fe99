/**
 * What a finished response asks of the backend connection before the next command is relayed
 * (issue 19), run by BackendSlot.finish: the secondary's guard set again when a statement lifted it
 * (or may have: a routine, a reset), the dialect read back when the server's report could not be
 * read, the session's variables read back after a multi-statement or a routine, the collation after a charset
 * change, the user variables after a statement that may have set one.
 */
import type { BackendConnection } from "../backend/connection.js";
import type { Logger } from "../observability/logger.js";
import { COM_QUERY } from "../protocol/constants.js";
import type { Classification } from "../sql/index.js";
import { readChangedVariables } from "./changed-variables.js";
import type { ReplayLimits, SessionState } from "./replay-state.js";
import type { Inflight } from "./slot-types.js";
import { readUserVariables } from "./user-variables.js";

/** Which work a response left (BackendSlot.followUp decides from what the server reported). */
export interface FollowUpWork {
  reset: boolean;
  guard: boolean;
  guardLifted: boolean;
  userVars: boolean;
  unseen: boolean;
  collation: boolean;
  routine: boolean;
}

/** What the follow-up may do to the slot whose connection it works on. */
export interface FollowUpHost {
  readonly log: Logger;
  replayLimits(): ReplayLimits;
  /** `sessionSetup` (the guard), confirmed, then tracking (BackendSlot.setUp). */
  setUp(conn: BackendConnection): Promise<void>;
  /** Read the connection's dialect again and take it. */
  reprobe(conn: BackendConnection): Promise<void>;
  drop(polite: boolean): void;
}

/** The work, in order: the guard first, then what the session state needs. Never rejects. */
export async function afterResponse(
  host: FollowUpHost,
  conn: BackendConnection,
  state: SessionState,
  w: FollowUpWork,
): Promise<void> {
  let resync = w.unseen;
  try {
    if (w.reset || w.guard) {
      // The server says the guard was lifted (or may have been, or was reset): set it again and
      // confirm it before anything else runs here. The statement that lifted it wrote nothing yet.
      if (w.guardLifted)
        host.log.warn(
          { backend: "secondary" },
          "a statement lifted the secondary's read-only guard: restored",
        );
      await host.setUp(conn);
    } else if (w.unseen || w.routine) await host.reprobe(conn);
    // A routine may change any session variable unreported (MariaDB 10.11 reports no `SET @@x = …`
    // without a scope keyword, in a routine or not): read them all back, or a move carries stale ones.
    if (w.routine) resync = true;
  } catch (e) {
    // Never serve from a connection whose guard is not confirmed: the next command opens a new one.
    host.log.warn(
      { err: (e as Error).message },
      "could not set the backend session up again: connection dropped",
    );
    host.drop(false);
    return;
  }
  try {
    if (resync) {
      // A multi-statement's earlier results reported state that went out unread, or a routine ran:
      // read it all back. Until that succeeds the session cannot move.
      state.notCarried ??= UNSEEN;
      state.resync(await readChangedVariables(conn));
      if (state.notCarried === UNSEEN) state.notCarried = null;
    }
    if (w.collation) {
      const row = await conn.queryRow("SELECT @@session.collation_connection");
      if (row?.[0]) state.track("collation_connection", row[0]);
    }
    if (w.userVars) {
      const r = await readUserVariables(conn, host.replayLimits());
      state.setUserVariables(r.vars, r.problem);
    }
  } catch (e) {
    // Not read back (a refusal, a name that is not a literal, the backend lost meanwhile): what
    // was kept may be stale, so the session cannot move. A lost connection is handled by its close.
    if (w.userVars)
      state.setUserVariables(null, `user variables pairgate could not read back (${(e as Error).message})`);
  }
}

export const UNSEEN =
  "session state changed where pairgate could not read it (a multi-statement or a routine)";
export const LOST_USER_VARIABLES = "user variables pairgate could not read back (the backend was lost)";

/** Did the statement run a stored routine (or SQL pairgate cannot see: CALL, EXECUTE)? */
export function runsRoutine(c: Classification | null | undefined): boolean {
  return c != null && (c.routines !== undefined || c.dynamic !== undefined || c.mayChangeDialect === true);
}

/** Did the statement set a system variable (the server's report should name it)? */
export function setsSystemVariable(f: Inflight): boolean {
  if (f.command !== COM_QUERY) return false;
  const changes = f.classification?.session;
  if (changes)
    for (const ch of changes) if (ch.type !== "user_variable" && ch.type !== "use" && !ch.global) return true;
  return false;
}

/**
 * May the statement have set a user variable (`SET @x`, `SELECT … INTO @x`, `@x :=`, a routine,
 * dynamic SQL)? Then the session's user variables are read back from the server after it.
 */
export function mayChangeUserVariables(c: Classification | null | undefined): boolean {
  if (!c) return false;
  if (c.pinning === "user_variable_select" || c.routines || c.dynamic || c.mayChangeDialect) return true;
  if (c.session) for (const ch of c.session) if (ch.type === "user_variable") return true;
  return false;
}
