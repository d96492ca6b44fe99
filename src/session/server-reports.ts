/**
 * What the server reported about the session during one response (session tracking, issue 19)
 * and the work it leaves before the next command: the TrackSink of the backend slot. The reports
 * are kept in the session state at once (the server's word); the flags here say what could not be
 * read from them — a lifted guard, state reported where pairgate could not read it, a change no
 * report explains — and `work` turns them into a FollowUpWork once the response is finished.
 */

import { MAX_REACH_SCAN, type RoutineReach } from "../audit/routine-reach.js";
import type { Role } from "../backend/connection.js";
import { COM_QUERY, COM_RESET_CONNECTION, COM_STMT_EXECUTE } from "../protocol/constants.js";
import { type Classification, decodeSql, type SqlDialect } from "../sql/index.js";
import {
  type FollowUpWork,
  LOST_USER_VARIABLES,
  mayChangeUserVariables,
  runsRoutine,
  setsSystemVariable,
  UNSEEN,
} from "./backend-follow-up.js";
import type { TrackSink } from "./gtid-tracking.js";
import type { SessionState } from "./replay-state.js";
import { isGuardLifted } from "./secondary-guard.js";
import type { Inflight } from "./slot-types.js";

/** What the reports need of the slot. */
export interface ReportsHost {
  /** The connection the reports come from is the secondary's (its guard is watched). */
  onSecondary(): boolean;
  /** The server reported a new sql_mode and/or client character set (undefined: not reported). */
  dialectReported(sqlMode: string | undefined, charsetClient: string | undefined): void;
  /** The connection's dialect (how a COM_QUERY's text is read). */
  dialect(): SqlDialect;
  /** Tables with triggers and views that reach a routine (the catalog's); absent: not looked for. */
  readonly reach?: RoutineReach;
}

export class ServerReports implements TrackSink {
  private guardLifted = false;
  private stateUnseen = false;
  private stateChangeReported = false;
  private varsReported = false;
  private collationUnknown = false;
  /** Any of the flags above is set (`work`'s first test: the common response reported nothing). */
  private reported = false;

  constructor(
    private readonly session: { readonly state: SessionState },
    private readonly host: ReportsHost,
  ) {}

  /** An OK reported session state: keep it (the server's word), watch the guard and the dialect. */
  tracked(vars: readonly string[], schema: string | null, stateChange: boolean): void {
    const state = this.session.state;
    const secondary = this.host.onSecondary();
    this.reported = true;
    let sqlMode: string | undefined;
    let charset: string | undefined;
    for (let i = 0; i + 1 < vars.length; i += 2) {
      const name = vars[i];
      const value = vars[i + 1];
      state.track(name, value);
      if (secondary && isGuardLifted(name, value)) this.guardLifted = true;
      else if (name === "sql_mode") sqlMode = value;
      else if (name === "character_set_client") charset = value;
      else if (name === "character_set_connection") this.collationUnknown = true;
    }
    if (vars.length > 0) this.varsReported = true;
    if (schema !== null) {
      state.trackSchema(schema);
      this.varsReported = true; // a USE: the state change is explained
    }
    if (stateChange) this.stateChangeReported = true;
    if (sqlMode !== undefined || charset !== undefined) this.host.dialectReported(sqlMode, charset);
  }

  /** Session state was reported where pairgate could not read it. */
  unseen(): void {
    this.reported = true;
    this.stateUnseen = true;
  }

  /** A new connection: reports of a response on the previous one that never finished are not about it. */
  clear(): void {
    this.guardLifted = this.stateUnseen = this.collationUnknown = false;
    this.stateChangeReported = this.varsReported = this.reported = false;
  }

  /**
   * The response to `f` is finished: the work its reports leave on the connection (of `role`;
   * null when it is gone), or null when there is none. Clears the reports.
   */
  work(f: Inflight, failed: boolean, tracking: boolean, role: Role | null): FollowUpWork | null {
    // The common response: nothing reported, a statement that can change no session state, no
    // reset — every test below would say "nothing" (`plain` implies each of them false).
    // The catalog's reach must have nothing to look for: a plain `SELECT * FROM v` may run a routine
    // through the view, and a plain-looking CREATE may add such a view or a trigger.
    const c = f.classification ?? f.stmt?.classification;
    if (
      !this.reported &&
      f.command !== COM_RESET_CONNECTION &&
      plain(c) &&
      (this.host.reach === undefined || this.host.reach.empty) &&
      c?.verb !== "CREATE" &&
      c?.verb !== "ALTER"
    )
      return null;
    const guardLifted = this.guardLifted;
    // A SET of system variables the server did not report: MariaDB 10.11 reports nothing for
    // `SET @@sql_mode = …` (no scope keyword), not even the state-changed flag. Read back as if
    // unseen, else the session is read (and audited, and carried) in its old dialect.
    const unseen = this.stateUnseen || (!failed && tracking && !this.varsReported && setsSystemVariable(f));
    // A routine may do the same inside, and more: `SET @@tx_read_only = 0` (or SET TRANSACTION READ
    // WRITE) in a function makes the next transaction read-write, unreported and invisible in
    // @@session.tx_read_only — the next statement wrote on the secondary. After a routine ran,
    // ended well or not, the secondary's guard is set again (it resets that) and the dialect read.
    // Or ran one the text does not name: a trigger on a table it writes, a view calling a function.
    const routine = runsRoutine(c) || this.runsThrough(f);
    if (!failed) this.ddlRelayed(f, c);
    const collation = this.collationUnknown;
    // A state change the tracked variables and schema do not explain: a user variable (or a
    // prepared statement, a temporary table) — the user variables are read back.
    const stateChange = this.stateChangeReported && !this.varsReported;
    this.clear();
    const reset = f.command === COM_RESET_CONNECTION && !failed;
    const userVars = !reset && (unseen || stateChange || routine || mayChangeUserVariables(c));
    if (role === null) {
      // The backend is gone before its state could be read back: what was kept may be stale.
      const state = this.session.state;
      if (userVars) state.setUserVariables(null, LOST_USER_VARIABLES);
      if (unseen) state.notCarried ??= UNSEEN;
      return null;
    }
    const guard = !reset && role === "secondary" && (guardLifted || unseen || routine);
    if (!reset && !guard && !userVars && !unseen && !collation && !routine) return null;
    return { reset, guard, guardLifted, userVars, unseen, collation, routine };
  }

  /** Did the statement name a table with a trigger or a view that reaches a routine (catalog)? */
  private runsThrough(f: Inflight): boolean {
    const reach = this.host.reach;
    if (reach === undefined) return false;
    if (f.command === COM_STMT_EXECUTE && f.stmt) return reach.runsThrough(f.stmt.sql, f.stmt.dialect);
    if (f.command !== COM_QUERY) return false;
    if (reach.empty) return false; // the hot path: nothing to look for
    // Past the scan limit the text is not even decoded (a 32 MiB statement): it counts.
    if (f.payload.length > MAX_REACH_SCAN) return true;
    return reach.runsThrough(decodeSql(f.payload, 1, this.host.dialect()), this.host.dialect());
  }

  /** A CREATE / ALTER that may add a trigger or a view: the reach counts it until the catalog is read. */
  private ddlRelayed(f: Inflight, c: Classification | null | undefined): void {
    const reach = this.host.reach;
    if (reach === undefined || f.command !== COM_QUERY || !c || (c.verb !== "CREATE" && c.verb !== "ALTER"))
      return;
    reach.relayed(decodeSql(f.payload, 1, this.host.dialect()), this.host.dialect());
  }
}

/**
 * A statement that changes no session state pairgate follows: none named (`session`), no routine,
 * no dynamic SQL, nothing that may change the dialect, no `SELECT … INTO @x`. Stricter than each of
 * `runsRoutine`, `mayChangeUserVariables` and `setsSystemVariable` (true here: all three false).
 */
function plain(c: Classification | null | undefined): boolean {
  return (
    !c ||
    (!c.session &&
      c.routines === undefined &&
      c.dynamic === undefined &&
      !c.mayChangeDialect &&
      c.pinning !== "user_variable_select")
  );
}
