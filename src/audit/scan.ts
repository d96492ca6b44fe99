/**
 * Hand-written scanners for what the audit rules look for in client SQL. Each runs in one pass over
 * the statement (time linear in its length, no backtracking), so no statement, however crafted, can
 * hold the event loop: they replace regular expressions that backtracked (quadratic on a long `#`
 * tail, exponential on leading whitespace). Their results equal those regexes' on every input
 * (test/unit/audit-scan.test.ts compares them on generated statements).
 */

/** JavaScript's `\s`: what the replaced regexes matched as whitespace. */
export function isJsSpace(c: number): boolean {
  if (c <= 0x20) return c === 0x20 || (c >= 0x09 && c <= 0x0d);
  if (c < 0xa0) return false;
  return (
    c === 0xa0 ||
    c === 0x1680 ||
    (c >= 0x2000 && c <= 0x200a) ||
    c === 0x2028 ||
    c === 0x2029 ||
    c === 0x202f ||
    c === 0x205f ||
    c === 0x3000 ||
    c === 0xfeff
  );
}

/** JavaScript's `\w` (ASCII letters, digits, underscore): what `\b` looks at. */
function isWordChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;
}

/** ASCII lower case of one UTF-16 unit (others unchanged). */
function lower(c: number): number {
  return c >= 0x41 && c <= 0x5a ? c + 0x20 : c;
}

/**
 * Does `word` (lower case) occur at `at` in `s`, compared as a non-unicode `i` regex compares:
 * ASCII letters case-insensitively; other characters by their upper case, never across ASCII.
 */
function wordAt(s: string, at: number, word: string): boolean {
  if (at + word.length > s.length) return false;
  for (let k = 0; k < word.length; k++) {
    const a = s.charCodeAt(at + k);
    const b = word.charCodeAt(k);
    if (a === b || lower(a) === b) continue;
    if (a < 0x80 || b < 0x80) return false;
    if (String.fromCharCode(a).toUpperCase() !== String.fromCharCode(b).toUpperCase()) return false;
  }
  return true;
}

/**
 * The value of comment tag `tag` in `sql` — `/* app_user=alice *\/`, `-- app_user: alice`,
 * `# app_user='alice'` — or undefined. The first occurrence of the tag that lies inside a comment
 * (a `/*` not yet closed by `*\/`, or a `--`/`#` not yet ended by a newline), starts at a word
 * boundary and is followed by `=` or `:` and a value (up to whitespace, a quote, `*`, `,` or `;`).
 * Like the regex it replaces, it does not skip string literals: `'/*'` opens a "comment" here too.
 */
export function commentTagValue(sql: string, tag: string): string | undefined {
  const t = tag.toLowerCase();
  if (t.length === 0) return undefined;
  const t0 = t.charCodeAt(0);
  const n = sql.length;
  const tagStartsWord = isWordChar(t0);
  // Where the body of the earliest open block / line comment starts (Infinity: none open).
  let blockFrom = Number.POSITIVE_INFINITY;
  let lineFrom = Number.POSITIVE_INFINITY;
  for (let i = 0; i < n; i++) {
    const c = sql.charCodeAt(i);
    if (
      (blockFrom <= i || lineFrom <= i) &&
      (t0 >= 0x80 || lower(c) === t0) &&
      (i === 0 ? tagStartsWord : isWordChar(sql.charCodeAt(i - 1)) !== tagStartsWord) &&
      wordAt(sql, i, t)
    ) {
      const v = tagValueAfter(sql, i + t.length);
      if (v !== undefined) return v;
    }
    // A "*\/" at i ends every block comment whose body began at or before i (one opened by a "/*"
    // at i - 1, whose body starts at i + 1, stays open); a newline ends every line comment.
    if (c === 0x2a /* * */ && i + 1 < n && sql.charCodeAt(i + 1) === 0x2f && blockFrom <= i)
      blockFrom = i > 0 && sql.charCodeAt(i - 1) === 0x2f ? i + 1 : Number.POSITIVE_INFINITY;
    if (c === 0x0a) lineFrom = Number.POSITIVE_INFINITY;
    // Opening: the body starts after the opener.
    if (
      c === 0x2f /* / */ &&
      i + 1 < n &&
      sql.charCodeAt(i + 1) === 0x2a &&
      blockFrom === Number.POSITIVE_INFINITY
    )
      blockFrom = i + 2;
    else if (c === 0x23 /* # */ && lineFrom === Number.POSITIVE_INFINITY) lineFrom = i + 1;
    else if (
      c === 0x2d /* - */ &&
      i + 1 < n &&
      sql.charCodeAt(i + 1) === 0x2d &&
      lineFrom === Number.POSITIVE_INFINITY
    )
      lineFrom = i + 2;
  }
  return undefined;
}

/** `\s*[=:]\s*["']?([^\s"'*,;]+)` at `i`: the captured value, or undefined. */
function tagValueAfter(sql: string, i: number): string | undefined {
  const n = sql.length;
  while (i < n && isJsSpace(sql.charCodeAt(i))) i++;
  const sep = sql.charCodeAt(i);
  if (sep !== 0x3d /* = */ && sep !== 0x3a /* : */) return undefined;
  i++;
  while (i < n && isJsSpace(sql.charCodeAt(i))) i++;
  const q = sql.charCodeAt(i);
  if (q === 0x22 || q === 0x27) i++;
  const start = i;
  while (i < n) {
    const c = sql.charCodeAt(i);
    if (isJsSpace(c) || c === 0x22 || c === 0x27 || c === 0x2a || c === 0x2c || c === 0x3b) break;
    i++;
  }
  return i > start ? sql.slice(start, i) : undefined;
}

/**
 * Is INSERT the first keyword of `sql`, after any whitespace and comments (`/* … *\/`, `-- …`,
 * `# …` up to a newline)? A comment that does not end means no.
 */
export function startsWithInsert(sql: string): boolean {
  const n = sql.length;
  let i = 0;
  for (;;) {
    if (i >= n) return false;
    const c = sql.charCodeAt(i);
    if (isJsSpace(c)) {
      i++;
    } else if (c === 0x2f && sql.charCodeAt(i + 1) === 0x2a) {
      const end = sql.indexOf("*/", i + 2);
      if (end < 0) return false;
      i = end + 2;
    } else if (
      c === 0x23 ||
      (c === 0x2d && sql.charCodeAt(i + 1) === 0x2d && isJsSpace(sql.charCodeAt(i + 2)))
    ) {
      const nl = sql.indexOf("\n", c === 0x23 ? i + 1 : i + 3);
      if (nl < 0) return false;
      i = nl + 1;
    } else break;
  }
  return wordAt(sql, i, "insert") && !(i + 6 < n && isWordChar(sql.charCodeAt(i + 6)));
}
