/**
 * Audit by presence: does a statement name an audited object anywhere?
 *
 * Not a parse of what the statement reads. One linear pass of pairgate's lexer over the text: every
 * identifier (unquoted word or quoted name, in any clause of any statement kind, inside executable
 * comments the server runs) is looked up among the audited names; a name counts wherever it
 * stands — a FROM list, a subquery in `SHOW … WHERE`, a CTE body, a CTE *name* that shadows the
 * table, `DELETE … RETURNING`, a multi-table `UPDATE`, a trigger or view body in DDL. String
 * literals count when an audited name is one of their words (engine options such as FEDERATED's
 * CONNECTION='…/db/table' reach a table by a string). Variables (`@x`, `@@x`) count once a
 * statement naming an audited object assigned them. Aliases and CTE names cannot hide a name: the
 * name itself is in the text.
 *
 * The same pass finds the copies of data the server keeps itself (AFTER_SHOW, SOURCE_WORDS,
 * SOURCE_SCHEMAS): binlog and
 * relay-log events, other sessions' statement text (PROCESSLIST, INNODB_TRX, SHOW ENGINE … STATUS,
 * performance_schema, sys), the general and slow query logs, engine-independent column statistics
 * (min/max values), warnings and diagnostics, files read by LOAD_FILE() and LOAD DATA INFILE.
 *
 * A name matches an entry when the entry has no schema (a bare rule: any schema), or when its
 * qualifier (`schema.name`) is the entry's schema, or, unqualified, when the schema in force (the
 * last `USE` in the text, else the session's default schema) is; with the default schema unsure,
 * an unqualified name matches in any schema.
 */
import type { SqlDialect } from "../sql/dialect.js";
import { K } from "../sql/keywords.js";
import {
  CH_DOT,
  CH_SEMI,
  identText,
  Lexer,
  TOK_EOF,
  TOK_PUNCT,
  TOK_QIDENT,
  TOK_STRING,
  TOK_VAR,
  TOK_WORD,
} from "../sql/lexer.js";

/** One audited name: a rule's table, view or routine, a name the catalog derived, or a copy made through pairgate. */
export interface AuditedName {
  /** Lower-cased schema; null: the name in any schema. */
  schema: string | null;
  /** Lower-cased bare name. */
  name: string;
  /** Index of the rule whose operation the event takes. */
  rule: number;
  /** How pairgate knows it reaches audited data (detail.via of the event); absent for a rule's own name. */
  via?: string;
}

/** Audited names by bare name, for the token pass. */
export class NameIndex {
  readonly #byName = new Map<string, AuditedName[]>();
  /** Some names are variables (`@x`: user, `@@x`: system). */
  hasVariables = false;

  get size(): number {
    return this.#byName.size;
  }

  /** Bare names, for the raw-text precheck and the byte search. */
  names(): IterableIterator<string> {
    return this.#byName.keys();
  }

  get(name: string): readonly AuditedName[] | undefined {
    return this.#byName.get(name);
  }

  /** Adds `n` unless an entry that covers it is there; true if added. */
  add(n: AuditedName): boolean {
    if (n.name.startsWith("@")) this.hasVariables = true;
    const list = this.#byName.get(n.name);
    if (list === undefined) {
      this.#byName.set(n.name, [n]);
      return true;
    }
    if (list.some((e) => e.schema === null || e.schema === n.schema)) return false;
    list.push(n);
    return true;
  }

  /** Does `schema.name` (schema null: unqualified, resolved as described) match an entry? */
  lookup(
    name: string,
    qualifier: string | null,
    schema: string | null,
    anySchema: boolean,
    ruleOk: (rule: number) => boolean,
  ): AuditedName | null {
    const list = this.#byName.get(name);
    if (list === undefined) return null;
    for (const e of list) {
      if (!ruleOk(e.rule)) continue;
      if (e.schema === null) return e;
      if (qualifier !== null) {
        if (qualifier === e.schema) return e;
      } else if (anySchema || schema === e.schema) return e;
    }
    return null;
  }
}

/**
 * The server's own copies of data, as the words that reach them. Each is an audited source for
 * every rule (the copy may hold any audited row or statement text):
 * - after SHOW: BINLOG / RELAYLOG (EVENTS: statement text, row-event annotations), ENGINE (INNODB
 *   STATUS: other transactions' statements, the last deadlock's), SLAVE / REPLICA / ALL (SLAVES)
 *   STATUS (Last_SQL_Error quotes statements and key values), EXPLAIN / ANALYZE FOR (another
 *   session's plan, with its literals in FORMAT=JSON), WARNINGS / ERRORS (a message may quote a
 *   value), PROFILES / PROFILE (the session's statement texts while `profiling` is on);
 * - EXPLAIN / DESCRIBE / DESC … FOR CONNECTION n (MariaDB 10.9+'s spelling of SHOW EXPLAIN FOR);
 * - anywhere: PROCESSLIST (SHOW [FULL] PROCESSLIST, information_schema and sys: statement text of
 *   other sessions), the tables below, performance_schema and sys (statement history and text),
 *   LOAD_FILE() and INFILE (files of the datadir: binlogs, tablespaces), DIAGNOSTICS (GET
 *   DIAGNOSTICS … MESSAGE_TEXT).
 */
const AFTER_SHOW = new Set([
  "binlog",
  "relaylog",
  "engine",
  "slave",
  "replica",
  "all",
  "explain",
  "analyze",
  "warnings",
  "errors",
  "profiles",
  "profile",
]);
const SOURCE_WORDS = new Set([
  "processlist",
  "performance_schema",
  "load_file",
  "infile",
  "diagnostics",
  // mysql.*: the query logs (log_output=TABLE) and engine-independent statistics (min/max values,
  // histograms) that ANALYZE TABLE … PERSISTENT copies out of a table.
  "general_log",
  "slow_log",
  "column_stats",
  // information_schema.*: running transactions' statements, locked records' key values, the
  // optimizer trace (the statement's text).
  "innodb_trx",
  "innodb_locks",
  "innodb_lock_waits",
  "optimizer_trace",
  // The query cache's statement texts (the QUERY_CACHE_INFO plugin).
  "query_cache_info",
  // The words of a table's FULLTEXT index (innodb_ft_aux_table names the table).
  "innodb_ft_index_cache",
  "innodb_ft_index_table",
]);
/**
 * Sources whose word is also an ordinary name (`SET profiling = 1`): only as a table of their schema,
 * qualified or under that default schema. PROFILING holds the profiled statements' stages and
 * durations (their text is in SHOW PROFILES): listed with SHOW PROFILE, whose rows it is.
 */
const QUALIFIED_SOURCE_WORDS: ReadonlyMap<string, string> = new Map([["profiling", "information_schema"]]);
/** Schemas whose every table is a server copy: a default schema among them makes every statement a source. */
export const SOURCE_SCHEMAS: ReadonlySet<string> = new Set(["performance_schema", "sys"]);

/** Schemas that qualify a server source: `information_schema.PROCESSLIST`, `mysql.general_log`, `sys.session`, … */
const SOURCE_QUALIFIERS = ["information_schema", "performance_schema", "mysql", "sys"];

/**
 * The raw-text precheck for server sources, cheap because it runs on every statement: a `.` after
 * a source schema's name (`information_schema.…`, `performance_schema.…`, `sys.…`, `mysql.…`) or a
 * `(` after LOAD_FILE, found by `indexOf` and a comparison in place of the word before each (a
 * comment end or a quote right before counts as a hit: the token pass decides). Linear, no regex,
 * no allocation. The other sources begin a statement and are found by its verb (SOURCE_VERBS), or
 * sit in a multi-statement (always read token by token), or are unqualified names under a default
 * schema that is itself a source schema (SOURCE_DEFAULT_SCHEMAS).
 */
export function mayReachSource(sql: string): boolean {
  return scanFor(sql, 0x2e, ".") || scanFor(sql, 0x28, "(");
}

/**
 * Each `ch` in `sql` checked by sourceAt: found with indexOf (memchr speed over the rest), or, once
 * more than DENSE hits came up, by one loop over the remaining characters (a text dense with dots
 * would otherwise cost one indexOf call per dot).
 */
function scanFor(sql: string, ch: number, s: string): boolean {
  let hits = 0;
  for (let i = sql.indexOf(s); i >= 0; i = sql.indexOf(s, i + 1)) {
    if (sourceAt(sql, i, ch)) return true;
    if (++hits > DENSE) {
      for (let j = i + 1; j < sql.length; j++)
        if (sql.charCodeAt(j) === ch && sourceAt(sql, j, ch)) return true;
      return false;
    }
  }
  return false;
}

const DENSE = 256;

/** Is the `.` (`ch` 0x2e) or `(` (0x28) at `i` right after a source qualifier / LOAD_FILE? */
function sourceAt(sql: string, i: number, ch: number): boolean {
  if (ch === 0x2e) {
    // Fast reject: the qualifiers end in "ma", "ql" or "ys".
    const c0 = sql.charCodeAt(i - 1);
    const c1 = c0 | 0x20;
    if (c1 === 0x61 /* a */) {
      if ((sql.charCodeAt(i - 2) | 0x20) !== 0x6d /* m */) return false;
    } else if (c1 === 0x6c /* l */) {
      if ((sql.charCodeAt(i - 2) | 0x20) !== 0x71 /* q */) return false;
    } else if (c1 === 0x73 /* s */) {
      if ((sql.charCodeAt(i - 2) | 0x20) !== 0x79 /* y */) return false;
    } else if (isNameCode(c0)) return false;
    const end = wordEnd(sql, i);
    if (end === HIT) return true;
    if (end > 0) for (const q of SOURCE_QUALIFIERS) if (wordEndsAt(sql, end, q)) return true;
    return false;
  }
  const c0 = sql.charCodeAt(i - 1);
  if ((c0 | 0x20) === 0x65 /* e */) {
    if ((sql.charCodeAt(i - 2) | 0x20) !== 0x6c /* l */) return false;
  } else if (isNameCode(c0)) return false;
  const end = wordEnd(sql, i);
  return end === HIT || (end > 0 && wordEndsAt(sql, end, "load_file"));
}

const HIT = -2;

/**
 * Where the word before `at` ends (exclusive), whitespace and backticks skipped; -1 if no word
 * character is there; HIT if a comment end or a quote is (the precheck cannot tell).
 */
function wordEnd(s: string, at: number): number {
  let i = at - 1;
  while (i >= 0) {
    const c = s.charCodeAt(i);
    if (c === 0x20 || c === 0x60 || (c >= 0x09 && c <= 0x0d)) i--;
    else break;
  }
  if (i < 0) return -1;
  const c = s.charCodeAt(i);
  if (c === 0x2f /* / */ || c === 0x27 || c === 0x22) return HIT;
  return isNameCode(c) ? i + 1 : -1;
}

function isNameCode(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) ||
    (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    c === 0x5f ||
    c === 0x24
  );
}

/** Is the whole word ending at `end` equal to `w` (lower case), ASCII case-insensitively? */
function wordEndsAt(s: string, end: number, w: string): boolean {
  const start = end - w.length;
  if (start < 0) return false;
  for (let k = w.length - 1; k >= 0; k--) {
    let c = s.charCodeAt(start + k);
    if (c >= 0x41 && c <= 0x5a) c += 0x20;
    if (c !== w.charCodeAt(k)) return false;
  }
  return start === 0 || !isNameCode(s.charCodeAt(start - 1));
}

/**
 * Statements whose verb alone makes the token pass run: SHOW …, LOAD DATA|XML INFILE, GET DIAGNOSTICS,
 * EXPLAIN|DESCRIBE|DESC … FOR CONNECTION.
 */
export const SOURCE_VERBS: ReadonlySet<string> = new Set([
  "SHOW",
  "LOAD",
  "GET",
  "EXPLAIN",
  "DESCRIBE",
  "DESC",
]);
/** Default schemas under which an unqualified name may be a server source. */
export const SOURCE_DEFAULT_SCHEMAS: ReadonlySet<string> = new Set([
  "performance_schema",
  "sys",
  "information_schema",
  "mysql",
]);

export interface PresenceInput {
  sql: string;
  dialect?: SqlDialect;
  /** The session's default schema (lower-cased by the caller or not: compared lower-cased). */
  defaultSchema: string | null;
  /** The default schema is not known for sure: unqualified names match in any schema. */
  anySchema: boolean;
  /** Rules that bind the session's user. */
  ruleOk: (rule: number) => boolean;
}

export interface Presence {
  /** The first audited name found, and its resolved `schema.name`. */
  name: AuditedName | null;
  object: string;
  /** The first server source found (its label), when no name was. */
  source: string | null;
  /** The lexer could not be sure it read the text as the server does. */
  uncertain: boolean;
}

/**
 * One pass over `sql`: the first audited name present, else the first server source. Linear in the
 * text: one lexer pass, one map lookup per identifier, and for each string literal one substring
 * test per audited bare name.
 */
export function presence(index: NameIndex, input: PresenceInput): Presence {
  const lx = new Lexer(input.sql, input.dialect);
  let schema = input.defaultSchema === null ? null : input.defaultSchema.toLowerCase();
  const anySchema = input.anySchema;
  let source: string | null =
    schema !== null && SOURCE_SCHEMAS.has(schema) ? `server:${schema} (default schema)` : null;
  // The previous token: 0 other, 1 an identifier (prevText), 2 a `.` after one (qualifier = prevText).
  let prev = 0;
  let prevText = "";
  let afterShow = false;
  let statementStart = true;
  let useNext = false;
  lx.next();
  while (lx.type !== TOK_EOF) {
    const t = lx.type;
    if (t === TOK_WORD || t === TOK_QIDENT) {
      const text = identText(lx);
      if (useNext) {
        schema = text;
        useNext = false;
      }
      const qualifier = prev === 2 ? prevText : null;
      const e = index.lookup(text, qualifier, schema, anySchema, input.ruleOk);
      if (e !== null) {
        const s = e.schema ?? qualifier ?? (anySchema ? null : schema);
        return { name: e, object: s === null ? text : `${s}.${text}`, source: null, uncertain: lx.uncertain };
      }
      if (source === null) {
        if (afterShow && AFTER_SHOW.has(text)) source = `server:SHOW ${text.toUpperCase()}`;
        else if (index.hasVariables && text.endsWith("variables"))
          source = `server:${text} (a variable holds audited data)`;
        else if (SOURCE_WORDS.has(text))
          source = `server:${qualifier === null ? text : `${qualifier}.${text}`}`;
        else if (qualifier !== null && SOURCE_SCHEMAS.has(qualifier)) source = `server:${qualifier}.${text}`;
        else if (QUALIFIED_SOURCE_WORDS.has(text)) {
          const home = QUALIFIED_SOURCE_WORDS.get(text)!;
          if (qualifier === home || (qualifier === null && (schema === home || anySchema)))
            source = `server:${home}.${text}`;
        } else if (text === "connection" && prev === 1 && prevText === "for")
          source = "server:EXPLAIN FOR CONNECTION";
      }
      afterShow = t === TOK_WORD && lx.kw === K.SHOW;
      if (statementStart && t === TOK_WORD && lx.kw === K.USE) useNext = true;
      statementStart = false;
      prev = 1;
      prevText = text;
    } else {
      if (t === TOK_VAR && index.hasVariables) {
        const v = variableName(lx.text());
        const e = index.lookup(v, null, null, true, input.ruleOk);
        if (e !== null) return { name: e, object: v, source: null, uncertain: lx.uncertain };
      }
      if (t === TOK_STRING) {
        const e = stringNames(index, lx.src, lx.start, lx.end, input.ruleOk);
        if (e !== null) {
          const object = e.schema === null ? e.name : `${e.schema}.${e.name}`;
          return { name: e, object, source: null, uncertain: lx.uncertain };
        }
      }
      if (t === TOK_PUNCT && lx.ch === CH_DOT && prev === 1) prev = 2;
      else prev = 0;
      if (t === TOK_PUNCT && lx.ch === CH_SEMI) {
        statementStart = true;
        useNext = false;
      }
      afterShow = false;
    }
    lx.next();
  }
  return { name: null, object: "", source, uncertain: lx.uncertain };
}

/**
 * A variable token's name as audited names keep it: `@name` (unquoted, lower-cased: user variables
 * are case-insensitive) or `@@name` for a system variable whatever its scope prefix.
 */
export function variableName(token: string): string {
  const t = token.toLowerCase();
  if (t.startsWith("@@")) {
    let v = t.slice(2);
    for (const scope of ["session.", "local.", "global."])
      if (v.startsWith(scope)) {
        v = v.slice(scope.length);
        break;
      }
    return `@@${unquote(v)}`;
  }
  return `@${unquote(t.slice(1))}`;
}

function unquote(v: string): string {
  const q = v.charAt(0);
  if ((q === "'" || q === '"' || q === "`") && v.length >= 2 && v.endsWith(q))
    return v
      .slice(1, -1)
      .split(q + q)
      .join(q);
  return v;
}

/** The variables a text mentions (variableName form), for the copies of a statement that names an audited object. */
export function variablesOf(sql: string, dialect?: SqlDialect): string[] {
  const lx = new Lexer(sql, dialect);
  const out: string[] = [];
  while (lx.next() !== TOK_EOF) {
    if (lx.type !== TOK_VAR) continue;
    const v = variableName(lx.text());
    if (!out.includes(v)) out.push(v);
  }
  return out;
}

/**
 * The first entry whose bare name is a word of a string literal's text (`src[start, end)`): the
 * text split at every character that cannot be in an unquoted name, each word looked up once — so
 * linear in the literal whatever the number of names. A string has no schema resolution: any
 * entry of that name counts. ('mysql://u@h/passtrix/ptrx_passwords', TABNAME='ptrx_passwords'.)
 */
function stringNames(
  index: NameIndex,
  text: string,
  begin: number,
  stop: number,
  ruleOk: (rule: number) => boolean,
): AuditedName | null {
  let src = text;
  let start = begin;
  let end = stop;
  // `\p` is `p` to the server (an escape it does not know): 'ptr\x_passwords' names the table.
  // Escapes it knows (\n, \t, \0, …) stay separators; without NO_BACKSLASH_ESCAPES this over-reads, never under.
  const slash = text.indexOf("\\", begin);
  if (slash >= 0 && slash < stop) {
    src = text
      .slice(begin, stop)
      .replace(ESCAPE, (_m, ch: string) => (KNOWN_ESCAPES.includes(ch) ? " " : ch));
    start = 0;
    end = src.length;
  }
  let from = -1;
  for (let i = start; i <= end; i++) {
    const c = i < end ? src.charCodeAt(i) : 0;
    const word =
      (c >= 0x61 && c <= 0x7a) ||
      (c >= 0x41 && c <= 0x5a) ||
      (c >= 0x30 && c <= 0x39) ||
      c === 0x5f ||
      c === 0x24 ||
      c >= 0x80;
    if (word) {
      if (from < 0) from = i;
      continue;
    }
    if (from < 0) continue;
    const list = index.get(src.slice(from, i).toLowerCase());
    from = -1;
    if (list !== undefined) for (const e of list) if (ruleOk(e.rule)) return e;
  }
  return null;
}

const ESCAPE = /\\([\s\S])/g;
/** What follows the backslash of an escape the server knows (a control character, a quote, a backslash; in `\%` and `\_` it keeps the backslash). */
const KNOWN_ESCAPES = "0bnrtZ'\"\\%_";

/**
 * The plain search for statements too large to lex (src/sql/digest.ts's bound): the first audited
 * bare name or server-source word that occurs anywhere in the text, ASCII case-insensitively, or
 * null. Time linear in the text for a fixed set of names (one `indexOf` pass per name over a
 * lower-cased copy, no regex).
 */
export function searchNames(text: string, names: Iterable<string>): string | null {
  const lower = text.toLowerCase();
  for (const n of names) if (lower.includes(n)) return n;
  for (const n of SOURCE_WORDS) if (lower.includes(n)) return n;
  for (const n of SEARCH_EXTRA) if (lower.includes(n)) return n;
  return null;
}
const SEARCH_EXTRA = ["show", "sys.", "profiling", "connection"];

/**
 * The words a plain search of an unlexed statement looks for besides the audited names (server
 * sources: SOURCE_WORDS and SEARCH_EXTRA), for a byte-search automaton built elsewhere.
 */
export function sourceSearchWords(): string[] {
  return [...SOURCE_WORDS, ...SEARCH_EXTRA];
}

/**
 * The same search over raw bytes (a COM_QUERY payload never decoded): names are compared as their
 * UTF-8 bytes, ASCII letters case-insensitively. Identifiers reach the server in the client's
 * character set; every character set a client may use keeps ASCII as ASCII, so an ASCII name is
 * found whatever the charset (a non-ASCII name only in UTF-8 text).
 */
export function searchNameBytes(bytes: Uint8Array, names: Iterable<string>): string | null {
  const all = [...names, ...SOURCE_WORDS, ...SEARCH_EXTRA];
  for (const n of all) if (bytesInclude(bytes, Buffer.from(n, "utf8"))) return n;
  return null;
}

/** Does `hay` contain `needle` (lower-case ASCII letters in `needle` match either case)? */
function bytesInclude(hay: Uint8Array, needle: Uint8Array): boolean {
  const m = needle.length;
  if (m === 0) return true;
  const first = needle[0]!;
  const firstUpper = first >= 0x61 && first <= 0x7a ? first - 0x20 : first;
  const last = hay.length - m;
  for (let i = 0; i <= last; i++) {
    const c = hay[i]!;
    if (c !== first && c !== firstUpper) continue;
    let k = 1;
    for (; k < m; k++) {
      const a = hay[i + k]!;
      const b = needle[k]!;
      if (a !== b && !(b >= 0x61 && b <= 0x7a && a === b - 0x20)) break;
    }
    if (k === m) return true;
  }
  return false;
}
