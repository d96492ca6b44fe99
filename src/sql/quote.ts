/**
 * The only way pairgate writes a name or a value into SQL of its own (issue 19): session state
 * replayed on another backend, a re-prepare under the statement's own dialect. Never SQL built from
 * client text: names and values come from the server (session tracking, `SELECT`), and each goes
 * through one of these functions.
 *
 * Every output is 7-bit ASCII and means the same whatever the session's `sql_mode` (ANSI_QUOTES,
 * NO_BACKSLASH_ESCAPES) or `character_set_client` (an ASCII-compatible set: no multi-byte lead
 * byte can swallow a quote): anything outside printable ASCII, and the backslash, goes as a hex
 * literal with an explicit character set introducer. Property-tested against the real server with
 * every byte 0–255 (test/integration/replay-quote.test.ts).
 */

/** A name or value pairgate refuses to write as a literal: the session state cannot be carried. */
export class NotALiteral extends Error {}

/** Printable ASCII but the backslash: safe between single quotes in every sql_mode (`'` doubled). */
const PLAIN = /^[\x20-\x5b\x5d-\x7e]*$/;
/** Character set and collation names as the server reports them. */
const CHARSET_NAME = /^[a-z0-9_]{1,64}$/;
/** A numeric literal as the server prints a number (integer, decimal, double). */
const NUMBER = /^-?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?$/;

/**
 * An identifier between backticks, a backtick in it doubled (the rule in every sql_mode;
 * ANSI_QUOTES only adds `"`). The server refuses U+0000 in identifiers, and names longer than 64
 * characters; so does this function (NotALiteral) rather than write one that means something else.
 * Non-ASCII characters are written as they are: the statement must go out under `SET NAMES utf8mb4`
 * (the replay does so), the identifier then means the same characters.
 */
export function quoteIdentifier(name: string): string {
  if (name.length === 0 || name.includes("\u0000"))
    throw new NotALiteral("an empty name, or one with a NUL character, cannot be written as an identifier");
  return `\`${name.replaceAll("`", "``")}\``;
}

/**
 * A character string literal. Plain printable ASCII (no backslash) goes between single quotes,
 * each `'` doubled; anything else as `_utf8mb4 X'…'` (the UTF-8 bytes in hex), so neither
 * NO_BACKSLASH_ESCAPES nor the client character set changes what it means.
 */
export function quoteString(value: string): string {
  if (PLAIN.test(value)) return `'${value.replaceAll("'", "''")}'`;
  return `_utf8mb4 X'${Buffer.from(value, "utf8").toString("hex").toUpperCase()}'`;
}

/**
 * Bytes in a given character set and collation (a user variable read back with HEX() and
 * COLLATION()): `_charset X'…' COLLATE collation`, or `_binary X'…'`. The names must be the
 * server's own (lower-case letters, digits, `_`), else NotALiteral.
 */
export function quoteBytes(bytes: Buffer, charset: string, collation: string | null): string {
  if (!CHARSET_NAME.test(charset) || (collation !== null && !CHARSET_NAME.test(collation)))
    throw new NotALiteral(`not a character set or collation name: ${charset} / ${collation}`);
  const hex = `X'${bytes.toString("hex").toUpperCase()}'`;
  if (charset === "binary") return `_binary ${hex}`;
  return collation ? `_${charset} ${hex} COLLATE ${collation}` : `_${charset} ${hex}`;
}

/** A number as the server printed it, unchanged; NotALiteral for anything else. */
export function quoteNumber(text: string): string {
  if (!NUMBER.test(text) || text.length > 80) throw new NotALiteral(`not a number: ${text.slice(0, 40)}`);
  return text;
}

/**
 * A user variable's number as the literal of the same type (information_schema.USER_VARIABLES'
 * VARIABLE_TYPE): a bare integer literal below 2^63 is a signed INT, so an `INT UNSIGNED` value goes
 * as `CAST(n AS UNSIGNED)` (else `@u - 10` is -5 instead of ERR 1690 after a move); a `DECIMAL`
 * printed without a point gets one (`5.` is a DECIMAL, `5` an INT); a `DOUBLE` keeps an exponent
 * (`1.5E0`). The text must be the server's own: NotALiteral otherwise.
 */
export function quoteTypedNumber(type: string, text: string): string {
  const n = quoteNumber(text);
  switch (type) {
    case "INT":
      if (!/^-?\d+$/.test(n)) throw new NotALiteral(`not an integer: ${n.slice(0, 40)}`);
      return n;
    case "INT UNSIGNED":
      if (!/^\d+$/.test(n)) throw new NotALiteral(`not an unsigned integer: ${n.slice(0, 40)}`);
      return `CAST(${n} AS UNSIGNED)`;
    case "DECIMAL":
      if (/[eE]/.test(n)) throw new NotALiteral(`not a decimal: ${n.slice(0, 40)}`);
      return n.includes(".") ? n : `${n}.`;
    case "DOUBLE":
      return /[eE]/.test(n) ? n : `${n}E0`;
    default:
      throw new NotALiteral(`not a numeric type: ${type.slice(0, 40)}`);
  }
}

/** Does `text` read as a number literal (`quoteNumber` accepts it)? */
export function isNumberText(text: string): boolean {
  return text.length <= 80 && NUMBER.test(text);
}
