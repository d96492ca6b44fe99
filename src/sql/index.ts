/**
 * Statement understanding for routing, metrics and audit: classify (read / write / transaction /
 * session / unknown), tablesOf (tables read and written) and digest (the statement's shape).
 * All three lex the text with `Lexer`; none of them parses SQL into a tree. `classify` and
 * `tablesOf` read the text as the session's backend does: pass the session's `SqlDialect`
 * (dialect.ts) and follow it with `dialectAfter`.
 */
export type { Classification, HandlerOp, SessionChange, StatementKind, TxnAction } from "./classify.js";
export { classify, dialectAfter, isGuardVariable } from "./classify.js";
export type { DialectInput, Flavor, SqlDialect } from "./dialect.js";
export {
  charsetOfCollationId,
  DEFAULT_DIALECT,
  decodeSql,
  makeDialect,
  needsByteText,
  parseServerVersion,
  parseSqlMode,
  unsureDialect,
  withCharset,
  withSqlMode,
} from "./dialect.js";
export { digest } from "./digest.js";
export { Lexer } from "./lexer.js";
export type { TableRefs } from "./tables.js";
export { tablesOf } from "./tables.js";
