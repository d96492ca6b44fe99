/**
 * The numbers every statement family returns and sets: a statement's rank (its kind, ordered so
 * that the kinds of a multi-statement text combine by `max`) and the `Run.f` bits. A module of its
 * own because the families and `run.ts` all read them at run time, and `run.ts` imports the
 * families (through `dispatch.ts`): constants kept there would make an import circle.
 */
import type { StatementKind } from "./types.js";

/** Ranks: read < session < transaction < unknown < write (`SELECT 1; UPDATE t ...` is a write). */
export const R_READ = 0;
export const R_SESSION = 1;
export const R_TXN = 2;
export const R_UNKNOWN = 3;
export const R_WRITE = 4;
export const KIND_OF_RANK: readonly StatementKind[] = ["read", "session", "transaction", "unknown", "write"];

/** Statements inside statements (EXPLAIN ANALYZE WITH ... SELECT) deeper than this are "unknown". */
export const MAX_NESTING = 16;

/** Run.f bits. */
export const F_LIFTED = 1; // some statement was "unknown" only because of its routine calls
export const F_OTHER_UNKNOWN = 2; // some statement was "unknown" for another reason
export const F_NEVER_SECONDARY = 4;
export const F_DYNAMIC = 8;
export const F_MAY_CHANGE_DIALECT = 16;
export const F_DETECT = 32; // collect routine calls in the current statement
export const F_STMT_ROUTINE = 64; // the current statement calls a routine
