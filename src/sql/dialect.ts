/**
 * How the backend server will read a session's statement text: its flavour and version (executable
 * comments), the lexical sql_mode flags (ANSI_QUOTES, NO_BACKSLASH_ESCAPES) and the client character
 * set (multi-byte sets where 0x5C, the backslash, can be the second byte of a character).
 *
 * A rule built on pairgate's reading of a statement holds only where that reading equals the
 * server's. Each session keeps one `SqlDialect` for the backend its statements go to and passes it to
 * `classify` / `tablesOf`; statements that change it (`SET sql_mode`, `SET NAMES`, ...) give the next
 * one through `dialectAfter`. What pairgate cannot know makes the lexer flag the statement
 * `uncertain`, which routing and audit treat as "not provably a read, not provably free of audited
 * tables".
 */

/** How bytes >= 0x80 of the client character set are read. */
export const CS_UTF8 = 0;
/**
 * A single-byte set other than utf8 (latin1, cp1251, ...) or a multi-byte set whose trail bytes are
 * never ASCII (ujis, euckr, gb2312, eucjpms): inside strings and quoted identifiers a byte >= 0x80 is
 * harmless; outside them its class (letter, space, punctuation) depends on the set's ctype table,
 * which pairgate does not carry, so the statement is uncertain. Text must be decoded byte for byte
 * (latin1).
 */
export const CS_BYTES = 1;
/** big5: lead 0xA1-0xF9, trail 0x40-0x7E | 0xA1-0xFE. Text decoded byte for byte (latin1). */
export const CS_BIG5 = 2;
/** gbk: lead 0x81-0xFE, trail 0x40-0x7E | 0x80-0xFE. */
export const CS_GBK = 3;
/** sjis, cp932: lead 0x81-0x9F | 0xE0-0xFC, trail 0x40-0x7E | 0x80-0xFC. */
export const CS_SJIS = 4;
/** gb18030: gbk's two-byte form plus four bytes lead, 0x30-0x39, 0x81-0xFE, 0x30-0x39. */
export const CS_GB18030 = 5;
/** A character set pairgate does not know: any byte >= 0x80 makes the statement uncertain. */
export const CS_UNKNOWN = 6;

export type Flavor = "mariadb" | "mysql";

export interface SqlDialect {
  readonly flavor: Flavor;
  /**
   * The server's MYSQL_VERSION_ID: 101106 for MariaDB 10.11.6, 80036 for MySQL 8.0.36. 0 when not
   * known: then any versioned executable comment makes the statement uncertain.
   */
  readonly version: number;
  /** sql_mode has ANSI_QUOTES (or a combination mode that includes it): `"..."` is an identifier. */
  readonly ansiQuotes: boolean;
  /** sql_mode has NO_BACKSLASH_ESCAPES: `\` is an ordinary character in strings. */
  readonly noBackslashEscapes: boolean;
  /** The client character set (character_set_client), lower-cased: "utf8mb4", "gbk", ... */
  readonly charset: string;
  /** How the lexer treats bytes >= 0x80: one of the CS_* constants, derived from `charset`. */
  readonly cs: number;
  /**
   * The lexing rules are not known (sql_mode or the character set was set from an expression pairgate
   * cannot evaluate, or the sql_mode has a mode that changes the grammar, such as ORACLE): every
   * statement is uncertain until the session learns them again (read `@@sql_mode` and
   * `@@character_set_client` back from the server and call `makeDialect`).
   */
  readonly unsure: boolean;
}

const MB: Record<string, number> = {
  utf8: CS_UTF8,
  utf8mb3: CS_UTF8,
  utf8mb4: CS_UTF8,
  ascii: CS_UTF8,
  big5: CS_BIG5,
  gbk: CS_GBK,
  sjis: CS_SJIS,
  cp932: CS_SJIS,
  gb18030: CS_GB18030,
};
const BYTE_SETS = new Set([
  "latin1",
  "latin2",
  "latin5",
  "latin7",
  "cp1250",
  "cp1251",
  "cp1256",
  "cp1257",
  "cp850",
  "cp852",
  "cp866",
  "dec8",
  "hp8",
  "koi8r",
  "koi8u",
  "swe7",
  "greek",
  "hebrew",
  "armscii8",
  "geostd8",
  "keybcs2",
  "macce",
  "macroman",
  "tis620",
  "binary",
  "ujis",
  "eucjpms",
  "euckr",
  "gb2312",
]);

/** The CS_* class of a character set name. */
export function charsetClass(charset: string): number {
  const c = charset.toLowerCase();
  const m = MB[c];
  if (m !== undefined) return m;
  return BYTE_SETS.has(c) ? CS_BYTES : CS_UNKNOWN;
}

/**
 * Does `decodeSql` decode this dialect's text byte for byte (latin1)? True for every set but utf8:
 * the lexer must see the bytes the server sees (a gbk 0x95 0x5C is one character, not U+FFFD and `\`).
 */
export function needsByteText(d: SqlDialect): boolean {
  return d.cs !== CS_UTF8;
}

/** Buffer's own decoders, which `toString` calls after its argument checks (not in @types/node). */
interface BufferSlices {
  utf8Slice(start: number, end: number): string;
  latin1Slice(start: number, end: number): string;
}

/**
 * A statement's text from a COM_QUERY / COM_STMT_PREPARE payload, decoded as the lexer needs it.
 * The same string as `payload.toString(needsByteText(d) ? "latin1" : "utf8", offset)`, without the
 * encoding lookup and argument handling `toString` does on every statement (the clamping below is
 * the part of it an integer `offset` needs).
 */
export function decodeSql(payload: Buffer, offset: number, d: SqlDialect): string {
  const end = payload.length;
  const start = Math.max(offset, 0);
  if (start >= end) return "";
  const b = payload as Buffer & BufferSlices;
  return needsByteText(d) ? b.latin1Slice(start, end) : b.utf8Slice(start, end);
}

export interface SqlModeFlags {
  ansiQuotes: boolean;
  noBackslashEscapes: boolean;
  /** A mode that changes the grammar beyond what pairgate reads (MariaDB ORACLE, MSSQL). */
  unsure: boolean;
}

/**
 * The lexical flags of an sql_mode value ("STRICT_TRANS_TABLES,ANSI_QUOTES"). The combination modes
 * ANSI, DB2, MAXDB, MSSQL, ORACLE and POSTGRESQL include ANSI_QUOTES
 * (https://mariadb.com/kb/en/sql-mode/); MariaDB's ORACLE and MSSQL modes also change the grammar
 * (PL/SQL blocks, `[ident]`), so a statement read under them is uncertain.
 */
export function parseSqlMode(value: string): SqlModeFlags {
  const f: SqlModeFlags = { ansiQuotes: false, noBackslashEscapes: false, unsure: false };
  for (const raw of value.split(",")) {
    const m = raw.trim().toUpperCase();
    switch (m) {
      case "ANSI_QUOTES":
      case "ANSI":
      case "DB2":
      case "MAXDB":
      case "POSTGRESQL":
        f.ansiQuotes = true;
        break;
      case "MSSQL":
      case "ORACLE":
        f.ansiQuotes = true;
        f.unsure = true;
        break;
      case "NO_BACKSLASH_ESCAPES":
        f.noBackslashEscapes = true;
        break;
    }
  }
  return f;
}

/**
 * MYSQL_VERSION_ID and flavour from a server version string as the handshake reports it:
 * "10.11.6-MariaDB-log" (or "5.5.5-10.11.6-MariaDB", the replication-compatible prefix) -> mariadb
 * 101106; "8.0.36" -> mysql 80036. Unparseable: version 0 (unknown).
 */
export function parseServerVersion(s: string): { flavor: Flavor; version: number } {
  let v = s;
  const mariadb = /mariadb/i.test(v);
  if (mariadb && v.startsWith("5.5.5-")) v = v.slice(6);
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(v);
  const flavor: Flavor = mariadb ? "mariadb" : "mysql";
  if (!m) return { flavor, version: 0 };
  const major = Number(m[1]);
  const minor = Number(m[2]);
  const patch = Number(m[3]);
  if (minor > 99 || patch > 99) return { flavor, version: 0 };
  return { flavor, version: major * 10000 + minor * 100 + patch };
}

export interface DialectInput {
  /** The backend's version string ("10.11.6-MariaDB") or flavour and MYSQL_VERSION_ID. */
  serverVersion?: string;
  flavor?: Flavor;
  version?: number;
  /** The session's @@sql_mode; undefined: the server default of both flavours (no lexical flags). */
  sqlMode?: string;
  /** character_set_client; default utf8mb4. */
  charset?: string;
}

/**
 * Every dialect object is made here, so that all have one hidden class: the lexer reads `d.cs`,
 * `d.noBackslashEscapes` ... at sites every session goes through, and objects spread from a frozen
 * one (`{ ...d, unsure: true }`) got a class of their own, making those sites polymorphic.
 */
function dialectOf(
  flavor: Flavor,
  version: number,
  ansiQuotes: boolean,
  noBackslashEscapes: boolean,
  charset: string,
  unsure: boolean,
): SqlDialect {
  return Object.freeze({
    flavor,
    version,
    ansiQuotes,
    noBackslashEscapes,
    charset,
    cs: charsetClass(charset),
    unsure,
  });
}

/** Builds a dialect; the session makes one per backend connection and after each change. */
export function makeDialect(i: DialectInput = {}): SqlDialect {
  let flavor: Flavor = i.flavor ?? "mariadb";
  let version = i.version ?? 0;
  if (i.serverVersion !== undefined) ({ flavor, version } = parseServerVersion(i.serverVersion));
  const mode = parseSqlMode(i.sqlMode ?? "");
  const charset = (i.charset ?? "utf8mb4").toLowerCase();
  return dialectOf(flavor, version, mode.ansiQuotes, mode.noBackslashEscapes, charset, mode.unsure);
}

/**
 * The dialect when nothing is known but the defaults: MariaDB rules, version unknown (versioned
 * executable comments make a statement uncertain), no lexical sql_mode flags, utf8mb4.
 */
export const DEFAULT_DIALECT: SqlDialect = makeDialect();

/** The same dialect with lexing rules unknown: every statement uncertain until re-learnt. */
export function unsureDialect(d: SqlDialect): SqlDialect {
  return d.unsure ? d : dialectOf(d.flavor, d.version, d.ansiQuotes, d.noBackslashEscapes, d.charset, true);
}

export function withSqlMode(d: SqlDialect, sqlMode: string): SqlDialect {
  const m = parseSqlMode(sqlMode);
  if (m.ansiQuotes === d.ansiQuotes && m.noBackslashEscapes === d.noBackslashEscapes && m.unsure === d.unsure)
    return d;
  return dialectOf(d.flavor, d.version, m.ansiQuotes, m.noBackslashEscapes, d.charset, m.unsure);
}

export function withCharset(d: SqlDialect, charset: string): SqlDialect {
  const c = charset.toLowerCase();
  if (c === d.charset) return d;
  return dialectOf(d.flavor, d.version, d.ansiQuotes, d.noBackslashEscapes, c, d.unsure);
}

/**
 * Length of the multi-byte character at `p` of byte text `s` (latin1-decoded), as the server's
 * my_ismbchar: 2 or 4 for a valid multi-byte character, 0 otherwise.
 */
export function mbLength(cs: number, s: string, p: number): number {
  const b0 = s.charCodeAt(p);
  const b1 = s.charCodeAt(p + 1);
  switch (cs) {
    case CS_BIG5:
      return b0 >= 0xa1 && b0 <= 0xf9 && ((b1 >= 0x40 && b1 <= 0x7e) || (b1 >= 0xa1 && b1 <= 0xfe)) ? 2 : 0;
    case CS_GBK:
      return b0 >= 0x81 && b0 <= 0xfe && ((b1 >= 0x40 && b1 <= 0x7e) || (b1 >= 0x80 && b1 <= 0xfe)) ? 2 : 0;
    case CS_SJIS:
      return ((b0 >= 0x81 && b0 <= 0x9f) || (b0 >= 0xe0 && b0 <= 0xfc)) &&
        ((b1 >= 0x40 && b1 <= 0x7e) || (b1 >= 0x80 && b1 <= 0xfc))
        ? 2
        : 0;
    case CS_GB18030: {
      if (!(b0 >= 0x81 && b0 <= 0xfe)) return 0;
      if ((b1 >= 0x40 && b1 <= 0x7e) || (b1 >= 0x80 && b1 <= 0xfe)) return 2;
      if (b1 >= 0x30 && b1 <= 0x39) {
        const b2 = s.charCodeAt(p + 2);
        const b3 = s.charCodeAt(p + 3);
        if (b2 >= 0x81 && b2 <= 0xfe && b3 >= 0x30 && b3 <= 0x39) return 4;
      }
      return 0;
    }
  }
  return 0;
}

/**
 * Character set of a collation id (the handshake's collation byte, or a MariaDB id >= 1024), as far
 * as lexing needs it: the utf8 family, the multi-byte sets whose trail byte can be `\`, the known
 * single-byte sets as "latin1" (the lexer treats them alike), anything else "unknown" (fail safe).
 * Ids from SHOW COLLATION of MySQL 8.0 and MariaDB 10.11; MariaDB's NOPAD collations are base + 1024.
 */
export function charsetOfCollationId(id: number): string {
  let i = id;
  if (i >= 1024 && i < 2048) i -= 1024;
  if (i === 33 || i === 83 || (i >= 192 && i <= 215) || i === 223 || i === 76) return "utf8mb3";
  if (i === 45 || i === 46 || (i >= 224 && i <= 247) || (i >= 255 && i <= 323)) return "utf8mb4";
  if (id >= 2048 && id < 4096) return "utf8mb4"; // MariaDB 11 UCA 14.0 collations (utf8mb3/utf8mb4 only)
  if (i === 1 || i === 84) return "big5";
  if (i === 13 || i === 88) return "sjis";
  if (i === 95 || i === 96) return "cp932";
  if (i === 28 || i === 87) return "gbk";
  if (i >= 248 && i <= 250) return "gb18030";
  if (i === 11 || i === 65) return "ascii";
  if (i === 63) return "binary";
  // ucs2, utf16, utf16le, utf32 cannot be client character sets (the server falls back); other ids
  // below 100 are single-byte sets or EUC sets whose trail bytes are >= 0xA1.
  if (
    i === 35 ||
    (i >= 90 && i <= 92 && i !== 91) ||
    i === 54 ||
    i === 55 ||
    i === 56 ||
    i === 60 ||
    i === 61 ||
    i === 62
  )
    return "unknown";
  if (i === 12 || i === 91) return "ujis";
  if (i === 19 || i === 85) return "euckr";
  if (i === 24 || i === 86) return "gb2312";
  if (i === 97 || i === 98) return "eucjpms";
  if (i > 0 && i < 100) return "latin1";
  return "unknown";
}
