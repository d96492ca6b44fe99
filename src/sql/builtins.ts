/**
 * Names the server resolves to built-in functions (or type names written with a `(`, as in
 * `CAST(x AS DATETIME(6))`), so that `name(` in a statement is not a call of a stored function or a
 * UDF. MariaDB 10.11 and MySQL 8.0: the native functions of item_create.cc, the functions the grammar
 * names (sql_yacc.yy: function_call_keyword, function_call_nonkeyword, function_call_conflict,
 * geometry_function), aggregates and window functions.
 *
 * The list errs on the side of "not built in": a built-in missing here makes a read "not provably a
 * read" (refused while read-only unless the server-side read-only session is in force), never the
 * other way round. A built-in with side effects is handled by the classifier (GET_LOCK, NEXTVAL,
 * SETVAL, LAST_INSERT_ID(expr), RELEASE_LOCK ...), whatever this list says.
 *
 * A stored function with a built-in's name is only reachable qualified (`db.now()`), which the
 * classifier always treats as a routine call.
 */
// biome-ignore format: a word list reads better filled than one word per line
const NAMES = [
  // aggregates and window functions
  "avg", "bit_and", "bit_or", "bit_xor", "count", "group_concat", "json_arrayagg", "json_objectagg",
  "max", "min", "std", "stddev", "stddev_pop", "stddev_samp", "sum", "var_pop", "var_samp", "variance",
  "cume_dist", "dense_rank", "first_value", "lag", "last_value", "lead", "median", "nth_value", "ntile",
  "percent_rank", "percentile_cont", "percentile_disc", "rank", "row_number", "any_value", "grouping",
  // control flow, comparison, casts
  "if", "ifnull", "nullif", "coalesce", "greatest", "least", "interval", "isnull", "nvl", "nvl2",
  "cast", "convert", "binary", "char", "decode", "decode_oracle", "encode", "strcmp", "in",
  // strings
  "ascii", "bin", "bit_length", "char_length", "character_length", "chr", "concat", "concat_ws",
  "elt", "export_set", "field", "find_in_set", "format", "format_bytes", "format_pico_time",
  "from_base64", "hex", "insert", "instr", "lcase", "left", "length", "lengthb", "like_range_max",
  "like_range_min", "load_file", "locate", "lower", "lpad", "ltrim", "make_set", "mid", "natural_sort_key",
  "oct", "octet_length", "ord", "position", "quote", "regexp_instr", "regexp_like", "regexp_replace",
  "regexp_substr", "repeat", "replace", "reverse", "right", "rpad", "rtrim", "sformat", "soundex",
  "space", "substr", "substring", "substring_index", "to_base64", "to_char", "trim", "trim_oracle",
  "ucase", "unhex", "upper", "weight_string", "column_add", "column_check", "column_create",
  "column_delete", "column_exists", "column_get", "column_json", "column_list", "collation",
  "charset", "coercibility",
  // numbers
  "abs", "acos", "asin", "atan", "atan2", "ceil", "ceiling", "conv", "cos", "cot", "crc32", "crc32c",
  "degrees", "div", "exp", "floor", "ln", "log", "log10", "log2", "mod", "oct", "pi", "pow", "power",
  "radians", "rand", "round", "sign", "sin", "sqrt", "tan", "truncate", "bit_count",
  // dates and times
  "adddate", "addtime", "convert_tz", "curdate", "current_date", "current_time", "current_timestamp",
  "curtime", "date", "date_add", "date_format", "date_sub", "datediff", "day", "dayname", "dayofmonth",
  "dayofweek", "dayofyear", "extract", "from_days", "from_unixtime", "get_format", "hour", "last_day",
  "localtime", "localtimestamp", "makedate", "maketime", "microsecond", "minute", "month", "monthname",
  "now", "period_add", "period_diff", "quarter", "sec_to_time", "second", "str_to_date", "subdate",
  "subtime", "sysdate", "time", "time_format", "time_to_sec", "timediff", "timestamp", "timestampadd",
  "timestampdiff", "to_days", "to_seconds", "unix_timestamp", "utc_date", "utc_time", "utc_timestamp",
  "week", "weekday", "weekofyear", "year", "yearweek", "add_months", "months_between",
  // information
  "benchmark", "charset", "connection_id", "current_role", "current_user", "database", "found_rows",
  "last_insert_id", "row_count", "schema", "session_user", "system_user", "user", "version",
  "icu_version", "roles_graphml", "sys_guid", "uuid", "uuid_short", "uuid_to_bin", "bin_to_uuid",
  "is_uuid", "rownum", "lastval", "default", "values", "value", "name_const", "sleep",
  "ps_current_thread_id", "ps_thread_id", "statement_digest", "statement_digest_text",
  "current_timestamp", "json_schema_valid", "json_schema_validation_report",
  // encryption and hashing
  "aes_decrypt", "aes_encrypt", "compress", "des_decrypt", "des_encrypt", "encrypt", "md5",
  "old_password", "password", "random_bytes", "sha", "sha1", "sha2", "uncompress", "uncompressed_length",
  "kdf", "validate_password_strength",
  // locks, replication waits (side effects handled by the classifier)
  "get_lock", "is_free_lock", "is_used_lock", "release_all_locks", "release_lock",
  "master_gtid_wait", "master_pos_wait", "source_pos_wait", "wait_for_executed_gtid_set",
  "wait_until_sql_thread_after_gtids", "gtid_subset", "gtid_subtract", "binlog_gtid_pos",
  "nextval", "setval",
  // network
  "inet_aton", "inet_ntoa", "inet6_aton", "inet6_ntoa", "is_ipv4", "is_ipv4_compat", "is_ipv4_mapped",
  "is_ipv6",
  // json
  "json_array", "json_array_append", "json_array_insert", "json_array_intersect", "json_compact",
  "json_contains", "json_contains_path", "json_depth", "json_detailed", "json_equals", "json_exists",
  "json_extract", "json_insert", "json_keys", "json_key_value", "json_length", "json_loose",
  "json_merge", "json_merge_patch", "json_merge_preserve", "json_normalize", "json_object",
  "json_object_filter_keys", "json_object_to_array", "json_overlaps", "json_pretty", "json_query",
  "json_quote", "json_remove", "json_replace", "json_search", "json_set", "json_storage_free",
  "json_storage_size", "json_table", "json_type", "json_unquote", "json_valid", "json_value",
  "member",
  // xml, full text, regexp
  "extractvalue", "updatexml", "match", "against",
  // spatial
  "area", "asbinary", "astext", "aswkb", "aswkt", "boundary", "buffer", "centroid", "contains",
  "convexhull", "crosses", "dimension", "disjoint", "endpoint", "envelope", "equals", "exteriorring",
  "geomcollfromtext", "geomcollfromwkb", "geometrycollection", "geometrycollectionfromtext",
  "geometrycollectionfromwkb", "geometryfromtext", "geometryfromwkb", "geometryn", "geometrytype",
  "geomfromtext", "geomfromwkb", "glength", "interiorringn", "intersects", "isclosed", "isempty",
  "isring", "issimple", "linefromtext", "linefromwkb", "linestring", "linestringfromtext",
  "linestringfromwkb", "mbrcontains", "mbrcoveredby", "mbrdisjoint", "mbrequal", "mbrequals",
  "mbrintersects", "mbroverlaps", "mbrtouches", "mbrwithin", "mlinefromtext", "mlinefromwkb",
  "mpointfromtext", "mpointfromwkb", "mpolyfromtext", "mpolyfromwkb", "multilinestring",
  "multilinestringfromtext", "multilinestringfromwkb", "multipoint", "multipointfromtext",
  "multipointfromwkb", "multipolygon", "multipolygonfromtext", "multipolygonfromwkb", "numgeometries",
  "numinteriorrings", "numpoints", "overlaps", "point", "pointfromtext", "pointfromwkb", "pointn",
  "pointonsurface", "polyfromtext", "polyfromwkb", "polygon", "polygonfromtext", "polygonfromwkb",
  "srid", "startpoint", "touches", "within", "x", "y",
  // (MySQL spelling of the spatial functions)
  "st_area", "st_asbinary", "st_asgeojson", "st_astext", "st_aswkb", "st_aswkt", "st_boundary",
  "st_buffer", "st_centroid", "st_collect", "st_contains", "st_convexhull", "st_crosses",
  "st_difference", "st_dimension", "st_disjoint", "st_distance", "st_distance_sphere", "st_endpoint",
  "st_envelope", "st_equals", "st_exteriorring", "st_geohash", "st_geomcollfromtext",
  "st_geomcollfromwkb", "st_geometrycollectionfromtext", "st_geometrycollectionfromwkb",
  "st_geometryfromtext", "st_geometryfromwkb", "st_geometryn", "st_geometrytype", "st_geomfromgeojson",
  "st_geomfromtext", "st_geomfromwkb", "st_interiorringn", "st_intersection", "st_intersects",
  "st_isclosed", "st_isempty", "st_isring", "st_issimple", "st_isvalid", "st_latfromgeohash",
  "st_latitude", "st_length", "st_linefromtext", "st_linefromwkb", "st_linestringfromtext",
  "st_linestringfromwkb", "st_longfromgeohash", "st_longitude", "st_makeenvelope", "st_mlinefromtext",
  "st_mlinefromwkb", "st_mpointfromtext", "st_mpointfromwkb", "st_mpolyfromtext", "st_mpolyfromwkb",
  "st_numgeometries", "st_numinteriorring", "st_numinteriorrings", "st_numpoints", "st_overlaps",
  "st_pointfromgeohash", "st_pointfromtext", "st_pointfromwkb", "st_pointn", "st_pointonsurface",
  "st_polyfromtext", "st_polyfromwkb", "st_polygonfromtext", "st_polygonfromwkb", "st_relate",
  "st_simplify", "st_srid", "st_startpoint", "st_symdifference", "st_touches", "st_transform",
  "st_union", "st_validate", "st_within", "st_x", "st_y",
  // type names written with a length or precision (CAST/CONVERT targets, column types)
  "bigint", "bit", "blob", "bool", "boolean", "datetime", "dec", "decimal", "double", "enum",
  "fixed", "float", "int", "integer", "json", "longblob", "longtext", "mediumblob", "mediumint",
  "mediumtext", "nchar", "numeric", "nvarchar", "real", "signed", "smallint", "text", "tinyblob",
  "tinyint", "tinytext", "unsigned", "varbinary", "varchar", "varchar2", "raw", "clob", "number",
  "inet4", "inet6", "uuid", "vector",
  // syntax that takes a `(` after a word that is not a function
  "exists", "row", "any", "some", "all", "on", "using", "over", "partition", "columns", "path",
  "nested", "index", "key", "for", "as", "and", "or", "not", "xor", "is", "then", "else", "when",
  "case", "select", "from", "where", "by", "having", "limit", "union", "intersect", "except",
  "lateral", "join", "table", "with", "rollup", "distinct", "into", "set", "to", "of", "between",
  "like", "rlike", "regexp", "escape", "collate", "window", "range", "rows", "groups", "return",
  "returning", "check", "ignore", "force", "use", "straight_join", "sql_calc_found_rows", "do",
  "escape", "mode", "expansion", "language", "boolean",
] as const;

export const BUILTIN_NAMES: ReadonlySet<string> = new Set<string>(NAMES);

/** Is `name` (lower-cased) a built-in function or a word that takes `(` in the grammar? */
export function isBuiltinName(name: string): boolean {
  return BUILTIN_NAMES.has(name);
}
