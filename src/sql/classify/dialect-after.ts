/**
 * The session's lexing rules after a statement: which `SqlDialect` the server reads the next
 * statement with, from the SET forms that change sql_mode or character_set_client. Separate from
 * the statement families because it reads a finished `Classification` (the session calls it after
 * a statement succeeded) as well as the changes of a multi-statement text as it is classified.
 */
import { parseSqlMode, type SqlDialect, unsureDialect, withCharset, withSqlMode } from "../dialect.js";
import type { Classification, SessionChange } from "./types.js";

/**
 * The session's dialect after a statement that succeeded: follows `SET sql_mode`, `SET NAMES`,
 * `SET CHARACTER SET` / `CHARSET` and `SET character_set_client` (session scope, any spelling:
 * `SET @@session.sql_mode := ...`, `SET LOCAL ...`). A value pairgate cannot evaluate (an expression
 * such as `CONCAT(@@sql_mode, ',ANSI_QUOTES')`, a variable, DEFAULT, a `?`), or a statement that may
 * change them unseen (CALL, EXECUTE, a routine call: `mayChangeDialect`), gives an unsure dialect:
 * the session should then read `@@session.sql_mode` and `@@session.character_set_client` back from
 * the server and `makeDialect` from them. `SET STATEMENT ... FOR` changes nothing after it.
 */
export function dialectAfter(d: SqlDialect, c: Classification): SqlDialect {
  if (c.mayChangeDialect) return unsureDialect(d);
  if (c.session === undefined) return d;
  return dialectAfterChanges(d, c.session, 0);
}

export function dialectAfterChanges(
  d: SqlDialect,
  changes: readonly SessionChange[],
  from: number,
): SqlDialect {
  let out = d;
  for (let i = from; i < changes.length; i++) {
    const ch = changes[i];
    if (ch.global) continue;
    if (ch.type === "variable") {
      if (ch.name === "sql_mode") {
        const v = literalValue(ch.value);
        out = v === null ? unsureDialect(out) : withSqlMode(out, v);
        if (v !== null && parseSqlMode(v).unsure) out = unsureDialect(out);
      } else if (ch.name === "character_set_client") {
        const v = literalValue(ch.value);
        out = v === null ? unsureDialect(out) : withCharset(out, v);
      }
    } else if (ch.type === "names" || ch.type === "charset") {
      const v = literalValue(ch.value);
      out = v === null ? unsureDialect(out) : withCharset(out, v);
    }
  }
  return out;
}

/**
 * The value of a SET assignment when it is a constant: a quoted string (no escapes needed for mode or
 * character set names) or a bare word other than DEFAULT; null for anything else.
 */
function literalValue(v: string | undefined): string | null {
  if (v === undefined) return null;
  const t = v.trim();
  const q = t.charCodeAt(0);
  if ((q === 39 || q === 34) && t.length >= 2 && t.charCodeAt(t.length - 1) === q) {
    const inner = t.slice(1, -1);
    if (inner.includes("\\") || inner.includes(String.fromCharCode(q))) return null;
    return inner;
  }
  if (/^[A-Za-z0-9_]+$/.test(t) && t.toLowerCase() !== "default") return t;
  if (q === 96 && /^`[A-Za-z0-9_]+`$/.test(t)) return t.slice(1, -1);
  return null;
}
