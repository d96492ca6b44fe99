/**
 * Statement understanding for routing, metrics and audit: classify (read / write / transaction /
 * session / unknown), tablesOf (tables read and written) and digest (the statement's shape).
 * All three lex the text with `Lexer`; none of them parses SQL into a tree.
 */
export type { Classification, SessionChange, StatementKind, TxnAction } from "./classify.js";
export { classify } from "./classify.js";
export { digest } from "./digest.js";
export { Lexer } from "./lexer.js";
export type { TableRefs } from "./tables.js";
export { tablesOf } from "./tables.js";
