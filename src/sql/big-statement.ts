/**
 * A statement text longer than `maxLexedStatement` is not lexed at all (issue 19: one 40 MB
 * statement held every session for 29 s): it is classified without being read, as the classifier's
 * rule for doubt says — a write, perhaps several statements, perhaps changing the dialect (so the
 * session reads sql_mode and the character set back before its next statement). Its audit is a
 * byte search (src/audit/byte-search.ts); its digest names its size only.
 */
import type { Classification } from "./classify.js";

/** The classification of every statement over the limit (frozen: shared by every session). */
export const BIG_STATEMENT: Classification = Object.freeze({
  kind: "write",
  verb: "",
  lockingRead: false,
  multi: true,
  uncertain: true,
  mayChangeDialect: true,
}) as Classification;

/** The digest of a statement that was not read. */
export function bigStatementDigest(bytes: number): string {
  return `/* statement of ${bytes} bytes, over maxLexedStatement: not lexed */`;
}
