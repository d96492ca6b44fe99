/**
 * The numbers every statement family returns and sets: a statement's rank (its kind, ordered so
 * that the kinds of a multi-statement text combine by `max`) and the `Run.f` bits. A module of its
 * own because the families and `run.ts` all read them at run time, and `run.ts` imports the
 * families (through `dispatch.ts`): constants kept there would make an import circle.
 *
 * Each module takes the numbers it uses into module constants of its own (`const { R_WRITE } =
 * RANK`, as with the keyword ids of `K`), not as imported bindings: the classifier reads them on
 * every token, and an imported binding is a load through the module's cell where a constant of the
 * module's own is not (measured: the split with imported bindings ran ~2 % slower).
 */
import type { StatementKind } from "./types.js";

/** Ranks: read < session < transaction < unknown < write (`SELECT 1; UPDATE t ...` is a write). */
export const RANK: Readonly<Record<"R_READ" | "R_SESSION" | "R_TXN" | "R_UNKNOWN" | "R_WRITE", number>> = {
  R_READ: 0,
  R_SESSION: 1,
  R_TXN: 2,
  R_UNKNOWN: 3,
  R_WRITE: 4,
};
export const KIND_OF_RANK: readonly StatementKind[] = ["read", "session", "transaction", "unknown", "write"];

/** Statements inside statements (EXPLAIN ANALYZE WITH ... SELECT) deeper than this are "unknown". */
export const MAX_NESTING = 16;

/** Run.f bits. */
type FlagName =
  | "F_LIFTED"
  | "F_OTHER_UNKNOWN"
  | "F_NEVER_SECONDARY"
  | "F_DYNAMIC"
  | "F_MAY_CHANGE_DIALECT"
  | "F_DETECT"
  | "F_STMT_ROUTINE";
export const FLAG: Readonly<Record<FlagName, number>> = {
  F_LIFTED: 1, // some statement was "unknown" only because of its routine calls
  F_OTHER_UNKNOWN: 2, // some statement was "unknown" for another reason
  F_NEVER_SECONDARY: 4,
  F_DYNAMIC: 8,
  F_MAY_CHANGE_DIALECT: 16,
  F_DETECT: 32, // collect routine calls in the current statement
  F_STMT_ROUTINE: 64, // the current statement calls a routine
};
