/**
 * Chunked table checksums, as pt-table-checksum computes them, in pure SQL text: a table is cut
 * into ranges of its key (`chunkSize` rows each, boundaries read from the primary), and each range
 * is summarised by its row count and the BIT_XOR of a 64-bit hash of every row
 * (`MD5(CONCAT_WS('#', col…, CONCAT(ISNULL(col)…)))`, its first 16 hex digits as an integer). The
 * same range query runs on both servers; a difference names the table and the key range.
 *
 * The key is the PRIMARY KEY, else a UNIQUE key over NOT NULL columns. A table with neither is
 * summarised whole, in one chunk (still inside the snapshot, unlike CHECKSUM TABLE, which reads the
 * latest data and so could not be compared at one position).
 *
 * The first chunk has no lower bound and the last no upper bound: rows that exist only on the
 * secondary, before or after the primary's range, still land in a chunk.
 */
import mysql from "mysql2";

export interface ColumnInfo {
  name: string;
  /** COLUMN_TYPE, e.g. "int(10) unsigned". */
  type: string;
  nullable: boolean;
}

export interface TableShape {
  schema: string;
  table: string;
  columns: ColumnInfo[];
  /** Columns of the chunking key in index order; null: no usable key, the table is one chunk. */
  key: string[] | null;
  keyName: string | null;
}

export interface SqlText {
  sql: string;
  params: unknown[];
}

const id = (n: string) => mysql.escapeId(n);
export const qualified = (t: Pick<TableShape, "schema" | "table">) => `${id(t.schema)}.${id(t.table)}`;

/** `key > values` for a composite key, spelled out so every server can use the index for it. */
export function keyAfter(key: string[], values: unknown[]): SqlText {
  const ors: string[] = [];
  const params: unknown[] = [];
  for (let i = 0; i < key.length; i++) {
    const ands: string[] = [];
    for (let j = 0; j < i; j++) {
      ands.push(`${id(key[j])} = ?`);
      params.push(values[j]);
    }
    ands.push(`${id(key[i])} > ?`);
    params.push(values[i]);
    ors.push(ands.length === 1 ? ands[0] : `(${ands.join(" AND ")})`);
  }
  return { sql: ors.length === 1 ? ors[0] : `(${ors.join(" OR ")})`, params };
}

/** The rows of one chunk: after `lower` (exclusive) up to `upper` (inclusive); null means unbounded. */
export function chunkWhere(key: string[] | null, lower: unknown[] | null, upper: unknown[] | null): SqlText {
  const parts: string[] = [];
  const params: unknown[] = [];
  if (key && lower) {
    const a = keyAfter(key, lower);
    parts.push(a.sql);
    params.push(...a.params);
  }
  if (key && upper) {
    // Key columns are NOT NULL, so "not after upper" is exactly "at or before upper".
    const a = keyAfter(key, upper);
    parts.push(`NOT ${a.sql.startsWith("(") ? a.sql : `(${a.sql})`}`);
    params.push(...a.params);
  }
  return { sql: parts.length ? parts.join(" AND ") : "1 = 1", params };
}

/** The key of the row `chunkSize` rows after `lower`: the next chunk's upper bound (none: last chunk). */
export function boundarySql(t: TableShape, lower: unknown[] | null, chunkSize: number): SqlText {
  const key = t.key ?? [];
  const cols = key.map(id).join(", ");
  const where = lower ? keyAfter(key, lower) : null;
  return {
    sql:
      `SELECT ${cols} FROM ${qualified(t)}${where ? ` WHERE ${where.sql}` : ""} ` +
      `ORDER BY ${cols} LIMIT 1 OFFSET ${Math.max(0, chunkSize - 1)}`,
    params: where ? where.params : [],
  };
}

/** One row: `cnt` rows and their combined hash `crc` (an unsigned 64-bit integer). */
export function checksumSql(t: TableShape, where: SqlText): SqlText {
  const cols = t.columns.map((c) => id(c.name));
  const nullable = t.columns.filter((c) => c.nullable).map((c) => `ISNULL(${id(c.name)})`);
  // The NULL flags tell NULL from '' and from a missing column value (CONCAT_WS skips NULLs).
  const row = `CONCAT_WS('#', ${[...cols, ...(nullable.length ? [`CONCAT(${nullable.join(", ")})`] : [])].join(", ")})`;
  return {
    sql:
      `SELECT COUNT(*) AS cnt, COALESCE(BIT_XOR(CAST(CONV(SUBSTRING(MD5(${row}), 1, 16), 16, 10) AS UNSIGNED)), 0) AS crc ` +
      `FROM ${qualified(t)} WHERE ${where.sql}`,
    params: where.params,
  };
}

function show(v: unknown): string {
  if (Buffer.isBuffer(v)) return `0x${v.toString("hex")}`;
  if (typeof v === "number" || typeof v === "bigint") return String(v);
  return mysql.escape(v as string);
}

function tuple(key: string[], values: unknown[]): { cols: string; vals: string } {
  return key.length === 1
    ? { cols: key[0], vals: show(values[0]) }
    : { cols: `(${key.join(", ")})`, vals: `(${values.map(show).join(", ")})` };
}

/** The chunk's range for people: "id > 1000 AND id <= 2000", "id <= 1000", "whole table". */
export function describeRange(
  key: string[] | null,
  lower: unknown[] | null,
  upper: unknown[] | null,
): string {
  if (!key || (!lower && !upper)) return "whole table";
  const parts: string[] = [];
  if (lower) {
    const t = tuple(key, lower);
    parts.push(`${t.cols} > ${t.vals}`);
  }
  if (upper) {
    const t = tuple(key, upper);
    parts.push(`${t.cols} <= ${t.vals}`);
  }
  return parts.join(" AND ");
}
