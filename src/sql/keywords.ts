/**
 * The keyword table the lexer consults for every bare word.
 *
 * Why a table of ids and not strings: the classifier runs on every COM_QUERY and COM_STMT_PREPARE,
 * so a word is turned into a small integer while it is scanned (a rolling hash, one probe, one
 * verification compare) and never sliced into a new string. Code then compares integers.
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
/** Open-addressing hash table of keyword ids, indexed by `hash & TABLE_MASK`, linear probing. */
const TABLE = new Int16Array(1 << TABLE_BITS);

/**
 * The hash the lexer computes while it scans a word: `h = imul(h, 31) + (c | 0x20)` over ASCII
 * char codes. `| 0x20` folds A-Z onto a-z and leaves digits, `_` and `$` distinct, so the hash is
 * case-insensitive without a toLowerCase().
 */
export function hashStep(h: number, c: number): number {
  return (Math.imul(h, 31) + (c | 0x20)) | 0;
}

const ids = new Map<string, number>();
function add(name: string, flags: number): void {
  let id = ids.get(name);
  if (id === undefined) {
    id = KW_UPPER.length;
    ids.set(name, id);
    KW_UPPER.push(name.toUpperCase());
    KW_LOWER.push(name);
    KW_FLAGS.push(0);
    let h = 0;
    for (let i = 0; i < name.length; i++) h = hashStep(h, name.charCodeAt(i));
    let slot = h & TABLE_MASK;
    while (TABLE[slot] !== 0) slot = (slot + 1) & TABLE_MASK;
    TABLE[slot] = id;
  }
  KW_FLAGS[id] |= flags;
}
for (const w of RESERVED) add(w, KF_RESERVED);
for (const w of NONRESERVED) add(w, 0);
for (const w of FUNCS) add(w, KF_FUNC);

/** Longest keyword, so longer words skip the table probe. */
export const KW_MAX_LEN = Math.max(...KW_LOWER.map((w) => w.length));

/**
 * Keyword id of `src[start, end)` whose hash is `h`, or 0. Compares char codes case-insensitively
 * against the candidate; allocates nothing.
 */
export function lookupKeyword(src: string, start: number, end: number, h: number): number {
  const len = end - start;
  let slot = h & TABLE_MASK;
  for (;;) {
    const id = TABLE[slot];
    if (id === 0) return 0;
    const kw = KW_LOWER[id];
    if (kw.length === len) {
      let i = 0;
      while (i < len && (src.charCodeAt(start + i) | 0x20) === (kw.charCodeAt(i) | 0x20)) i++;
      if (i === len) return id;
    }
    slot = (slot + 1) & TABLE_MASK;
  }
}

/** Keyword ids by upper-case name, for readable comparisons: `kw === K.SELECT`. */
export const K = Object.fromEntries([...ids].map(([name, id]) => [name.toUpperCase(), id])) as {
  readonly [N in Uppercase<KeywordName>]: number;
};

export function isReserved(kw: number): boolean {
  return (KW_FLAGS[kw] & KF_RESERVED) !== 0;
}
