/**
 * The keyword table the lexer consults for every bare word.
 *
 * Why a table of ids and not strings: the classifier runs on every COM_QUERY and COM_STMT_PREPARE,
 * so a word is turned into a small integer while it is scanned (a key folded in as it is read, one
 * probe, integer compares) and never sliced into a new string. Code then compares integers.
 *
 * Three lists feed one id space:
 * - RESERVED: the reserved words of MySQL 8.0 (https://dev.mysql.com/doc/refman/8.0/en/keywords.html)
 *   plus MariaDB's RETURNING. A reserved word can never be a bare table name or alias, which is what
 *   `tables.ts` needs to tell `FROM t1 x` (alias) from `FROM t1 WHERE` (clause).
 * - NONRESERVED: keywords the classifier, table scanner or digest look at that MySQL still accepts as
 *   identifiers (`BEGIN`, `NAMES`, `SESSION`, `STATUS` ...).
 * - FUNCS: function names the digest prints without a space before `(` (`COUNT(*)`), and the
 *   functions with side effects the classifier must see (`GET_LOCK`, `NEXTVAL`, ...).
 *
 * Every word in the table is upper-cased by `digest()`; other words keep the case they were written in.
 */

// biome-ignore format: a word list reads better filled than one word per line
const RESERVED = [
  "accessible", "add", "all", "alter", "analyze", "and", "as", "asc", "asensitive", "before", "between",
  "bigint", "binary", "blob", "both", "by", "call", "cascade", "case", "change", "char", "character",
  "check", "collate", "column", "condition", "constraint", "continue", "convert", "create", "cross",
  "cube", "cume_dist", "current_date", "current_time", "current_timestamp", "current_user", "cursor",
  "database", "databases", "day_hour", "day_microsecond", "day_minute", "day_second", "dec", "decimal",
  "declare", "default", "delayed", "delete", "dense_rank", "desc", "describe", "deterministic",
  "distinct", "distinctrow", "div", "double", "drop", "dual", "each", "else", "elseif", "empty",
  "enclosed", "escaped", "except", "exists", "exit", "explain", "false", "fetch", "first_value", "float",
  "float4", "float8", "for", "force", "foreign", "from", "fulltext", "function", "generated", "get",
  "grant", "group", "grouping", "groups", "having", "high_priority", "hour_microsecond", "hour_minute",
  "hour_second", "if", "ignore", "in", "index", "infile", "inner", "inout", "insensitive", "insert",
  "int", "int1", "int2", "int3", "int4", "int8", "integer", "intersect", "interval", "into",
  "io_after_gtids", "io_before_gtids", "is", "iterate", "join", "json_table", "key", "keys", "kill",
  "lag", "last_value", "lateral", "lead", "leading", "leave", "left", "like", "limit", "linear", "lines",
  "load", "localtime", "localtimestamp", "lock", "long", "longblob", "longtext", "loop", "low_priority",
  "master_bind", "master_ssl_verify_server_cert", "match", "maxvalue", "mediumblob", "mediumint",
  "mediumtext", "middleint", "minute_microsecond", "minute_second", "mod", "modifies", "natural", "not",
  "no_write_to_binlog", "nth_value", "ntile", "null", "numeric", "of", "on", "optimize",
  "optimizer_costs", "option", "optionally", "or", "order", "out", "outer", "outfile", "over",
  "partition", "percent_rank", "precision", "primary", "procedure", "purge", "range", "rank", "read",
  "reads", "read_write", "real", "recursive", "references", "regexp", "release", "rename", "repeat",
  "replace", "require", "resignal", "restrict", "return", "returning", "revoke", "right", "rlike", "row",
  "rows", "row_number", "schema", "schemas", "second_microsecond", "select", "sensitive", "separator",
  "set", "show", "signal", "smallint", "spatial", "specific", "sql", "sqlexception", "sqlstate",
  "sqlwarning", "sql_big_result", "sql_calc_found_rows", "sql_small_result", "ssl", "starting",
  "stored", "straight_join", "system", "table", "terminated", "then", "tinyblob", "tinyint", "tinytext",
  "to", "trailing", "trigger", "true", "undo", "union", "unique", "unlock", "unsigned", "update",
  "usage", "use", "using", "utc_date", "utc_time", "utc_timestamp", "values", "varbinary", "varchar",
  "varcharacter", "varying", "virtual", "when", "where", "while", "window", "with", "write", "xor",
  "year_month", "zerofill",
] as const;

// biome-ignore format: a word list reads better filled than one word per line
const NONRESERVED = [
  "action", "after", "against", "aggregate", "algorithm", "always", "at", "backup", "begin", "binlog",
  "boolean", "cache", "chain", "charset", "checksum", "clone", "close", "collation", "columns",
  "comment", "commit", "committed", "consistent", "contains", "data", "datetime", "deallocate",
  "definer", "diagnostics", "do", "dumpfile", "duplicate", "end", "engine", "errors", "event", "events",
  "execute", "export", "extended", "fields", "first", "flush", "format", "full", "global", "grants",
  "group_replication", "handler", "help", "import", "instance", "invoker", "isolation", "last",
  "lastval", "level", "local", "locked", "logs", "master", "mode", "names", "next", "no", "nowait",
  "offset", "only", "open", "partitions", "password", "persist", "persist_only", "plugin", "prepare",
  "previous", "processlist", "quick", "recover", "repair", "repeatable", "replica", "reset", "resource",
  "restart", "role", "rollback", "savepoint", "security", "serializable", "session", "share",
  "shutdown", "skip", "slave", "snapshot", "stage", "start", "statement", "status", "stop",
  "system_time", "tables", "temporary", "transaction", "truncate", "uncommitted", "uninstall",
  "install", "value", "variables", "view", "wait", "warnings", "work", "xa", "xml",
] as const;

// biome-ignore format: a word list reads better filled than one word per line
const FUNCS = [
  "abs", "any_value", "avg", "bit_and", "bit_or", "cast", "ceil", "ceiling", "char", "char_length",
  "coalesce", "concat", "concat_ws", "connection_id", "convert", "count", "curdate", "current_user",
  "curtime", "database", "date", "date_add", "date_format", "date_sub", "day", "exists", "floor",
  "format", "found_rows", "from_unixtime", "get_lock", "greatest", "group_concat", "hour", "if",
  "ifnull", "insert", "instr", "is_free_lock", "is_used_lock", "json_array", "json_extract",
  "json_object", "json_table", "last_insert_id", "lastval", "least", "left", "length", "locate",
  "lower", "match", "max", "md5", "min", "minute", "mod", "month", "nextval", "now", "nullif",
  "password", "release_all_locks", "release_lock", "repeat", "replace", "right", "round", "row",
  "row_count", "schema", "second", "setval", "sha1", "sha2", "sleep", "std", "stddev", "substr",
  "substring", "sum", "sysdate", "time", "timestamp", "trim", "unix_timestamp", "upper", "user", "uuid",
  "variance", "version", "week", "year",
] as const;

export type KeywordName = (typeof RESERVED)[number] | (typeof NONRESERVED)[number] | (typeof FUNCS)[number];

/** Flag: a reserved word (cannot be a bare identifier). */
export const KF_RESERVED = 1;
/** Flag: written as a function call; the digest puts no space before its `(`. */
export const KF_FUNC = 2;

/** Upper-cased text of keyword id `i` (index 0 is unused: id 0 means "not a keyword"). */
export const KW_UPPER: string[] = [""];
/** Lower-cased text of keyword id `i`. */
const KW_LOWER: string[] = [""];
/** KF_* flags of keyword id `i`. */
export const KW_FLAGS: number[] = [0];

const TABLE_BITS = 11;
const TABLE_MASK = (1 << TABLE_BITS) - 1;
/** Open-addressing hash table of keyword ids, indexed by `keySlot(hi, lo)`, linear probing. */
const TABLE = new Int16Array(1 << TABLE_BITS);

/**
 * The key of a word, which the lexer computes while it scans the word (the same two lines, inline):
 * each char code is folded with `| 0x20` (A-Z onto a-z; digits, `_` and `$` stay distinct, every
 * code non-zero and below 128) and shifted in 7 bits at a time, `lo` keeping the last four chars and
 * `hi` those before them. For a word of at most KEY_EXACT chars (most keywords, and most words of a
 * statement) its length, `hi` and `lo` together are the folded word: the keyword check is then
 * integer compares and reads the text no second time. Longer words are compared char by char.
 */
function keyHi(hi: number, lo: number): number {
  return (hi << 7) | (lo >>> 21);
}
function keyLo(lo: number, c: number): number {
  return ((lo << 7) | (c | 0x20)) & 0xfffffff;
}
const KEY_EXACT = 8;

/** Table slot of a word's key (multiplicative hashing; any spread works, linear probing verifies). */
function keySlot(hi: number, lo: number): number {
  return Math.imul(lo ^ Math.imul(hi, 0x2f0b3a49), 0x9e3779b1) >>> (32 - TABLE_BITS);
}

/** Per keyword id while the table is built: length, key, where its folded codes start in `codes`. */
const lens: number[] = [0];
const his: number[] = [0];
const los: number[] = [0];
const ats: number[] = [0];
const codes: number[] = [];

const ids = new Map<string, number>();
function add(name: string, flags: number): void {
  let id = ids.get(name);
  if (id === undefined) {
    id = KW_UPPER.length;
    ids.set(name, id);
    KW_UPPER.push(name.toUpperCase());
    KW_LOWER.push(name);
    KW_FLAGS.push(0);
    let hi = 0;
    let lo = 0;
    ats.push(codes.length);
    for (let i = 0; i < name.length; i++) {
      const c = name.charCodeAt(i);
      hi = keyHi(hi, lo);
      lo = keyLo(lo, c);
      codes.push(c | 0x20);
    }
    lens.push(name.length);
    his.push(hi);
    los.push(lo);
    let slot = keySlot(hi, lo);
    while (TABLE[slot] !== 0) slot = (slot + 1) & TABLE_MASK;
    TABLE[slot] = id;
  }
  KW_FLAGS[id] |= flags;
}
for (const w of RESERVED) add(w, KF_RESERVED);
for (const w of NONRESERVED) add(w, 0);
for (const w of FUNCS) add(w, KF_FUNC);
// Typed arrays: `hi` may not fit a small integer, and a plain array would then hold doubles.
const KW_LEN = Uint8Array.from(lens);
const KW_HI = Int32Array.from(his);
const KW_LO = Int32Array.from(los);
const KW_AT = Int32Array.from(ats);
/** The keywords' folded char codes, one after another (keyword `id` from KW_AT[id]). */
const KW_CODES = Uint8Array.from(codes);

/** Longest keyword, so longer words skip the table probe. */
export const KW_MAX_LEN = Math.max(...KW_LOWER.map((w) => w.length));

/**
 * Keyword id of `src[start, end)` whose key (`keyHi` / `keyLo`) is `hi`, `lo`, or 0. Allocates
 * nothing; reads the text again only for a word longer than KEY_EXACT whose key matches.
 */
export function lookupKeyword(src: string, start: number, end: number, hi: number, lo: number): number {
  const len = end - start;
  let slot = keySlot(hi, lo);
  for (;;) {
    const id = TABLE[slot];
    if (id === 0) return 0;
    if (KW_LO[id] === lo && KW_HI[id] === hi && KW_LEN[id] === len) {
      if (len <= KEY_EXACT || sameChars(src, start, end, KW_AT[id])) return id;
    }
    slot = (slot + 1) & TABLE_MASK;
  }
}

/** Is `src[start, end)`, folded, the keyword whose codes start at KW_CODES[at]? */
function sameChars(src: string, start: number, end: number, at: number): boolean {
  for (let i = start, j = at; i < end; i++, j++) if ((src.charCodeAt(i) | 0x20) !== KW_CODES[j]) return false;
  return true;
}

/** Keyword ids by upper-case name, for readable comparisons: `kw === K.SELECT`. */
export const K = Object.fromEntries([...ids].map(([name, id]) => [name.toUpperCase(), id])) as {
  readonly [N in Uppercase<KeywordName>]: number;
};

export function isReserved(kw: number): boolean {
  return (KW_FLAGS[kw] & KF_RESERVED) !== 0;
}
