/**
 * A MySQL/MariaDB lexer that scans char codes and keeps its current token in fields.
 *
 * Why fields and not token objects: the lexer runs for every statement a client sends; `next()`
 * advances over one token and leaves its type, bounds and keyword id on the instance, so a statement
 * is lexed without allocating anything (a string is sliced only when a caller asks for `text()`).
 *
 * Lexical rules, from the MySQL 8.0 reference manual and the MariaDB knowledge base:
 * - Comments: `#` to end of line, `-- ` (the second dash followed by whitespace or a control
 *   character) to end of line, `/* ... *\/` (https://dev.mysql.com/doc/refman/8.0/en/comments.html).
 * - Executable comments `/*! ... *\/`, `/*!50100 ... *\/` and MariaDB's `/*M!100101 ... *\/`
 *   (https://mariadb.com/kb/en/comment-syntax/): resolved against the dialect's server version exactly
 *   as sql_lex.cc does (see `comment()`); an executed one's content is lexed as ordinary tokens, a
 *   skipped one is a comment. With the version unknown the content is lexed and the text flagged
 *   `uncertain`. Optimizer hints `/*+ ... *\/` are plain comments here.
 * - Strings `'...'` and `"..."` (double quotes are identifiers under ANSI_QUOTES), with backslash
 *   escapes (none under NO_BACKSLASH_ESCAPES; multi-byte characters skipped whole) and doubled quotes
 *   (https://dev.mysql.com/doc/refman/8.0/en/string-literals.html); `N'..'`, `X'..'`, `B'..'`.
 * - Quoted identifiers in backticks, a doubled backtick standing for one
 *   (https://dev.mysql.com/doc/refman/8.0/en/identifiers.html). Unquoted identifiers may contain
 *   `$`, any character U+0080 and above, and may begin with a digit.
 * - Variables `@name`, `@'name'`, `@@scope.name` (user-defined and system variables).
 */
import { CS_UNKNOWN, CS_UTF8, DEFAULT_DIALECT, mbLength, type SqlDialect } from "./dialect.js";
import { KW_MAX_LEN, lookupKeyword } from "./keywords.js";

/** End of input. */
export const TOK_EOF = 0;
/** An unquoted word: keyword or identifier. `kw` holds its keyword id (0 if none). */
export const TOK_WORD = 1;
/** A backtick-quoted identifier. */
export const TOK_QIDENT = 2;
/** A string literal, quotes included (`'..'`, `".."`, `N'..'`). */
export const TOK_STRING = 3;
/** A numeric literal. */
export const TOK_NUMBER = 4;
/** A hexadecimal or bit literal (`X'..'`, `0x..`, `B'..'`, `0b..`). */
export const TOK_HEX = 5;
/** `@user_var` or `@@system_var`, name included. */
export const TOK_VAR = 6;
/** A `?` placeholder. */
export const TOK_PARAM = 7;
/** A single punctuation or operator character; its code is in `ch`. */
export const TOK_PUNCT = 8;
/** A multi-character operator (`:=`, `<=`, `<=>`, `->>`, ...); its first char code is in `ch`. */
export const TOK_OP = 9;

export const CH_LPAREN = 40;
export const CH_RPAREN = 41;
export const CH_STAR = 42;
export const CH_PLUS = 43;
export const CH_COMMA = 44;
export const CH_MINUS = 45;
export const CH_DOT = 46;
export const CH_COLON = 58;
export const CH_SEMI = 59;
export const CH_EQ = 61;

/**
 * Character classes of ASCII codes: bit 1 = may continue a word, bit 2 = decimal digit, bit 4 = a
 * punctuation character that is always a token of its own (it starts no comment, operator, literal
 * or variable, in any dialect), so `next()` returns it without the full dispatch.
 */
const CC = new Uint8Array(128);
for (let c = 48; c <= 57; c++) CC[c] = 3;
for (let c = 65; c <= 90; c++) CC[c] = 1;
for (let c = 97; c <= 122; c++) CC[c] = 1;
CC[95] = 1; // _
CC[36] = 1; // $
for (const c of "(),=+") CC[c.charCodeAt(0)] = 4;

function isWordChar(c: number): boolean {
  // -1 or NaN (past the end) fails `c >= 0`, so the table is never read out of bounds (a slow path in V8).
  return c >= 128 || (c >= 0 && (CC[c] & 1) !== 0);
}
function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}
function isHexDigit(c: number): boolean {
  return (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 102);
}

export class Lexer {
  readonly src: string;
  private readonly n: number;
  /** `src.length`: reads at or past it go through `at()`. */
  private readonly len: number;
  /** Next read position. */
  pos = 0;
  /** Inside an executable comment: the next `*\/` closes it and is skipped like whitespace. */
  inExec = false;
  /** Current token: one of the TOK_* constants. */
  type = TOK_EOF;
  /** Current token bounds in `src`: [start, end). */
  start = 0;
  end = 0;
  /** Keyword id of the current TOK_WORD, else 0. */
  kw = 0;
  /** First char code of the current TOK_PUNCT / TOK_OP. */
  ch = 0;

  /** The session's dialect (see dialect.ts): read on the rare paths (comments, strings, bytes >= 0x80). */
  private d: SqlDialect;
  /**
   * The server may read this text differently from this lexer: a versioned executable comment with
   * the server version unknown, a byte >= 0x80 whose class depends on a character set pairgate does
   * not carry, a dialect whose rules are unknown. Sticky for the rest of the text.
   */
  uncertain = false;
  /** Why `uncertain` was first set (for logs and audit details). */
  uncertainWhy = "";
  /** Where (a position in the text). */
  uncertainAt = -1;

  private unsure(why: string): void {
    if (!this.uncertain) {
      this.uncertain = true;
      this.uncertainWhy = why;
      this.uncertainAt = this.pos;
    }
  }
  /** Set when an executable comment (executed or skipped by version) was met. */
  sawExecComment = false;

  constructor(src: string, dialect: SqlDialect = DEFAULT_DIALECT) {
    this.src = src;
    // The server drops trailing `;` and whitespace before it parses (sql_parse.cc alloc_query):
    // `SELECT 5 --;` ends in a `--` comment there.
    this.len = src.length;
    let n = src.length;
    while (n > 0) {
      const c = src.charCodeAt(n - 1);
      if (c === 59 || c === 32 || (c >= 9 && c <= 13)) n--;
      else break;
    }
    this.n = n;
    this.d = dialect;
    if (dialect.unsure) this.unsure("dialect unknown");
  }

  /**
   * Lex the rest of the text with `d` (a multi-statement: the server reads each statement with the
   * session state the previous ones left).
   */
  setDialect(d: SqlDialect): void {
    this.d = d;
    if (d.unsure) this.unsure("dialect unknown");
  }

  /**
   * The char code at `p`, or -1 past the end of the text (where charCodeAt gives NaN). Why not
   * charCodeAt there: one read past the end deoptimizes the function, and V8 then calls the
   * charCodeAt builtin at that site for good. -1 fails every test NaN fails here (`isDigit`,
   * `isWordChar`, `isHexDigit`, `=== x`, `(c | 0x20) === x`).
   */
  private at(p: number): number {
    return p < this.len ? this.src.charCodeAt(p) : -1;
  }

  /** The current token's source text. */
  text(): string {
    return this.src.slice(this.start, this.end);
  }

  /** True if the current token is the punctuation character `c`. */
  isPunct(c: number): boolean {
    return this.type === TOK_PUNCT && this.ch === c;
  }

  /** True if the current token is the keyword `kw` (an id from keywords.ts). */
  isKw(kw: number): boolean {
    return this.type === TOK_WORD && this.kw === kw;
  }

  /** True at the end of the text or of the statement (`;`). */
  atEnd(): boolean {
    return this.type === TOK_EOF || (this.type === TOK_PUNCT && this.ch === CH_SEMI);
  }

  /** A position to come back to with `restore()` (the lexer state is a position and one flag). */
  save(): number {
    return this.inExec ? -this.pos - 1 : this.pos;
  }

  restore(m: number): void {
    if (m < 0) {
      this.pos = -m - 1;
      this.inExec = true;
    } else {
      this.pos = m;
      this.inExec = false;
    }
  }

  /** Keyword id and char code of the token last returned by `peek()`. */
  peekKw = 0;
  peekCh = 0;

  /** The type of the token after the current one, leaving the current token as it is. */
  peek(): number {
    const { pos, inExec, type, start, end, kw, ch } = this;
    const t = this.next();
    this.peekKw = this.kw;
    this.peekCh = this.ch;
    this.pos = pos;
    this.inExec = inExec;
    this.type = type;
    this.start = start;
    this.end = end;
    this.kw = kw;
    this.ch = ch;
    return t;
  }

  /** True if the next token is the punctuation character `c`. */
  peekPunct(c: number): boolean {
    return this.peek() === TOK_PUNCT && this.peekCh === c;
  }

  /**
   * Advances to the next token and returns its type.
   *
   * Why two functions: most tokens of most statements are a word, a number, a `(),=+?` or the end
   * of the text after plain whitespace. `next()` handles those and is small enough for V8 to inline
   * into the classifier's token loops; everything else (comments, quotes, operators, `.`, `;`, bytes
   * >= 0x80, the end inside an executable comment) goes to `token()`, which reads from the same
   * position as if it had been called first.
   */
  next(): number {
    const s = this.src;
    const n = this.n;
    let p = this.pos;
    while (p < n) {
      const c = s.charCodeAt(p);
      if (c <= 32) {
        p++; // whitespace (see token() for control bytes)
        continue;
      }
      if (c >= 128) break;
      const cls = CC[c];
      if (cls === 1) {
        // A word, unless it is the N / X / B of N'..', X'..', B'..' (a `'` at or after `n` is not
        // possible: only `;` and whitespace are trimmed).
        const lc = c | 0x20;
        if ((lc === 110 || lc === 120 || lc === 98) && p + 1 < n && s.charCodeAt(p + 1) === 39) break;
        this.start = p;
        this.kw = 0;
        return this.word();
      }
      if (cls === 3) {
        this.start = p;
        this.kw = 0;
        return this.number(p);
      }
      if (cls === 4 || c === 63 /* ? */) {
        this.start = p;
        this.kw = 0;
        this.pos = this.end = p + 1;
        if (c === 63) return (this.type = TOK_PARAM);
        this.ch = c;
        return (this.type = TOK_PUNCT);
      }
      break;
    }
    if (p >= n && !this.inExec) {
      this.pos = this.start = this.end = n;
      this.kw = 0;
      return (this.type = TOK_EOF);
    }
    return this.token(p);
  }

  /** The whole of `next()`: whitespace and comments from `from` on, then a token of any kind. */
  private token(from: number): number {
    const s = this.src;
    const n = this.n;
    let p = from;
    let c = 0;
    // Whitespace and comments.
    for (;;) {
      if (p >= n) {
        // An executable comment left open: the server rejects the text (unbalanced comment).
        if (this.inExec) this.unsure("executable comment left open");
        this.pos = this.start = this.end = n;
        this.kw = 0;
        return (this.type = TOK_EOF);
      }
      c = s.charCodeAt(p);
      if (c <= 32) {
        // Control bytes other than 0x09-0x0D (NUL included) are not whitespace for the server but
        // a syntax error: the statement and the rest of the text do not run, so reading on is safe.
        p++;
        continue;
      }
      if (c === 47 /* / */ && this.at(p + 1) === 42 /* * */) {
        p = this.comment(p);
        continue;
      }
      if (c === 42 /* * */ && this.inExec && this.at(p + 1) === 47) {
        p += 2;
        this.inExec = false;
        continue;
      }
      if (
        c === 35 /* # */ ||
        (c === 45 && this.at(p + 1) === 45 && this.dashComment(p + 2 < n ? s.charCodeAt(p + 2) : Number.NaN))
      ) {
        // `--` needs whitespace or a control character after it (my_isspace || my_iscntrl of the
        // client character set, sql_lex.cc); NaN (end of input: the server sees its NUL) counts.
        // The server also ends it at a NUL byte, which is then a syntax error (nothing runs).
        const e = s.indexOf("\n", p);
        p = e < 0 ? n : e + 1;
        continue;
      }
      break;
    }
    const prevType = this.type;
    this.start = p;
    this.kw = 0;
    const lc = c | 0x20;

    // Prefixed literals: N'..' X'..' B'..'.
    if ((lc === 110 || lc === 120 || lc === 98) && this.at(p + 1) === 39) {
      p = this.skipQuoted(p + 1, 39, !this.d.noBackslashEscapes);
      this.pos = this.end = p;
      return (this.type = lc === 110 ? TOK_STRING : TOK_HEX);
    }
    if (c >= 128 || (CC[c] & 3) === 1) {
      if (c >= 128 && this.d.cs !== CS_UTF8) this.unsure("byte >= 0x80 outside quotes");
      return this.word();
    }
    if (isDigit(c)) return this.number(p);
    switch (c) {
      case 34: // "
        if (this.d.ansiQuotes) {
          // ANSI_QUOTES: an identifier, no backslash escapes (sql_lex.cc MY_LEX_STRING_OR_DELIMITER).
          p = this.skipQuoted(p, 34, false);
          this.pos = this.end = p;
          return (this.type = TOK_QIDENT);
        }
        p = this.skipQuoted(p, c, !this.d.noBackslashEscapes);
        this.pos = this.end = p;
        return (this.type = TOK_STRING);
      case 39: // '
        p = this.skipQuoted(p, c, !this.d.noBackslashEscapes);
        this.pos = this.end = p;
        return (this.type = TOK_STRING);
      case 96: // `
        p = this.skipQuoted(p, 96, false);
        this.pos = this.end = p;
        return (this.type = TOK_QIDENT);
      case 64: // @
        return this.variable(p);
      case 63: // ?
        this.pos = this.end = p + 1;
        return (this.type = TOK_PARAM);
      case 46: // . starts a number only where an identifier part cannot follow (`t.5col` is a name)
        if (
          isDigit(this.at(p + 1)) &&
          prevType !== TOK_WORD &&
          prevType !== TOK_QIDENT &&
          !(prevType === TOK_PUNCT && this.ch === CH_RPAREN)
        ) {
          return this.number(p);
        }
        break;
    }
    this.ch = c;
    const c1 = this.at(p + 1);
    let len = 0;
    switch (c) {
      case 58: // :=
        if (c1 === 61) len = 2;
        break;
      case 60: // <=> <= <> <<
        if (c1 === 61) len = this.at(p + 2) === 62 ? 3 : 2;
        else if (c1 === 62 || c1 === 60) len = 2;
        break;
      case 62: // >= >>
        if (c1 === 61 || c1 === 62) len = 2;
        break;
      case 33: // !=
        if (c1 === 61) len = 2;
        break;
      case 38: // &&
        if (c1 === 38) len = 2;
        break;
      case 124: // ||
        if (c1 === 124) len = 2;
        break;
      case 45: // -> ->>
        if (c1 === 62) len = this.at(p + 2) === 62 ? 3 : 2;
        break;
    }
    if (len > 0) {
      this.pos = this.end = p + len;
      return (this.type = TOK_OP);
    }
    // `;` inside an executable comment: the server ends the statement there and reads the next one
    // outside any comment.
    if (c === 59 && this.inExec) this.unsure("`;` inside an executable comment");
    this.pos = this.end = p + 1;
    return (this.type = TOK_PUNCT);
  }

  /**
   * Returns the position after the closing quote (or end of input if unterminated). In a multi-byte
   * character set a valid multi-byte character is skipped whole, as the server's get_text does: its
   * trail byte may be 0x5C (`\`) or 0x60 (a backtick).
   */
  private skipQuoted(p: number, q: number, backslash: boolean): number {
    const s = this.src;
    const n = this.n;
    const cs = this.d.cs;
    p++;
    while (p < n) {
      const c = s.charCodeAt(p);
      if (c >= 128 && cs !== CS_UTF8) {
        p += this.mbSkip(p);
        continue;
      }
      if (c === q) {
        if (this.at(p + 1) === q) {
          p += 2;
          continue;
        }
        return p + 1;
      }
      if (c === 92 && backslash) {
        // The escaped character is one byte, even a multi-byte lead: `\` + 0x95 0x5C escapes 0x95,
        // and the 0x5C then escapes what follows (checked against MariaDB 10.11, gbk/cp932/big5).
        p += 2;
        continue;
      }
      p++;
    }
    return n;
  }

  /** At a char >= 0x80 of byte text: its length in the client character set (1 if not multi-byte). */
  private mbSkip(p: number): number {
    const c = this.src.charCodeAt(p);
    if (c > 0xff || this.d.cs === CS_UNKNOWN) {
      // Not byte text (decoded as UTF-8), or a set pairgate cannot walk.
      this.unsure("text not decoded byte for byte");
      return 1;
    }
    const l = mbLength(this.d.cs, this.src, p);
    return Math.max(l, 1);
  }

  /** Is `c`, the character after `--`, whitespace or a control character for the server? */
  private dashComment(c: number): boolean {
    if (!(c > 32)) return true; // NaN (end), controls 0x00-0x1F, space
    if (c === 127) return true; // DEL: _MY_CTR in every ctype table
    if (c >= 128 && this.d.cs !== CS_UTF8) {
      // latin1 0xA0 is a space, other sets have their own tables: pairgate cannot tell.
      this.unsure("`--` before a byte >= 0x80");
    }
    return false;
  }

  /**
   * At `/*`: returns the position after the comment, or inside an executable comment whose content
   * the server executes (then `inExec` is set). The rules of sql_lex.cc (MY_LEX_LONG_COMMENT):
   * - `/*!` followed by 5 digits (MariaDB: 5 or 6; MySQL: all digits, strtol) is versioned: executed
   *   when the version is at most the server's, else skipped to the next `*\/` without looking at
   *   quotes (one nested `/* *\/` allowed). MariaDB ignores MySQL versions 50700-99999 unless `/*M!`.
   * - `/*!` or `/*M!` with fewer digits: executed, the digits part of the code.
   * - `/*M!` is MariaDB's; MySQL reads it as a plain comment.
   * - Inside an executed comment a plain comment is a comment, a skipped versioned one is skipped,
   *   and an executed one makes the text uncertain (the server ends both at its `*\/`).
   * Checked against MariaDB 10.11 by test/integration/sql-lexer-parity.test.ts.
   */
  private comment(p: number): number {
    const s = this.src;
    let q = p + 2;
    let maria = false;
    const mariadb = this.d.flavor === "mariadb";
    if (mariadb && this.at(q) === 77 /* M */ && this.at(q + 1) === 33) {
      maria = true;
      q++;
    }
    if (this.at(q) === 33 /* ! */) {
      q++;
      this.sawExecComment = true;
      let run = true;
      let codeAt = q;
      if (
        isDigit(this.at(q)) &&
        isDigit(this.at(q + 1)) &&
        isDigit(this.at(q + 2)) &&
        isDigit(this.at(q + 3)) &&
        isDigit(this.at(q + 4))
      ) {
        let v = 0;
        let len = 5;
        if (mariadb) {
          if (isDigit(this.at(q + 5))) len = 6;
          for (let i = 0; i < len; i++) v = v * 10 + s.charCodeAt(q + i) - 48;
        } else {
          // strtol: every digit counts (capped: any huge number is above every version).
          for (let i = q; isDigit(this.at(i)); i++) if (v < 1e9) v = v * 10 + s.charCodeAt(i) - 48;
        }
        if (this.d.version === 0) {
          // Version unknown: below 5.7 every server pairgate supports (MariaDB 10+, MySQL 5.7+)
          // executes the comment; above, it depends.
          if (v >= 50700) this.unsure("versioned comment, server version unknown");
        } else {
          run = v <= this.d.version && (!mariadb || v < 50700 || v > 99999 || maria);
        }
        codeAt = q + (mariadb ? len : 5);
      }
      if (!run) return this.consumeComment(q, 1);
      // An executed comment inside an executed one: its `*\/` ends both for the server, whose
      // parser then meets the outer `*\/` as code (a syntax error). Not worth reading exactly.
      if (this.inExec) this.unsure("executed comment inside an executed comment");
      this.inExec = true;
      return codeAt;
    }
    const e = s.indexOf("*/", p + 2);
    if (e < 0) {
      this.unsure("unterminated comment"); // unterminated: a syntax error for the server
      return this.n;
    }
    return e + 2;
  }

  /** sql_lex.cc consume_comment: to after the next `*\/`, `nest` levels of `/* *\/` allowed inside. */
  private consumeComment(p: number, nest: number): number {
    const s = this.src;
    const n = this.n;
    while (p < n) {
      const c = s.charCodeAt(p++);
      if (nest > 0 && c === 47 && this.at(p) === 42) {
        p = this.consumeComment(p + 1, nest - 1);
        continue;
      }
      if (c === 42 && this.at(p) === 47) return p + 1;
    }
    this.unsure("unterminated comment"); // unterminated: a syntax error for the server
    return n;
  }

  /** Scans a word from `this.start` (a number that turned out to be a name calls this mid-way). */
  private word(): number {
    const s = this.src;
    const start = this.start;
    const n = this.n;
    let p = start;
    let hi = 0;
    let lo = 0;
    let ascii = true;
    // The hot loop of the lexer: bounds-checked so the table is never indexed with NaN, and the
    // keyword key (keywords.ts keyHi / keyLo) computed inline.
    while (p < n) {
      const c = s.charCodeAt(p);
      if (c < 128) {
        if ((CC[c] & 1) === 0) break;
        hi = (hi << 7) | (lo >>> 21);
        lo = ((lo << 7) | (c | 0x20)) & 0xfffffff;
      } else {
        ascii = false;
        if (this.d.cs !== CS_UTF8) {
          // Outside quotes the class of a byte >= 0x80 (letter, space, punctuation, a lead byte
          // whose trail is `\` or a backtick) depends on the set's ctype table.
          this.unsure("byte >= 0x80 outside quotes");
        }
      }
      p++;
    }
    this.pos = this.end = p;
    if (ascii && p - start <= KW_MAX_LEN) this.kw = lookupKeyword(s, start, p, hi, lo);
    return (this.type = TOK_WORD);
  }

  private number(p: number): number {
    let c = this.at(p);
    const c1 = this.at(p + 1) | 0x20;
    if (c === 48 && (c1 === 120 || c1 === 98) && isHexDigit(this.at(p + 2))) {
      // 0x1F / 0b101; followed by more word characters it is an identifier (`0x1g`).
      p += 2;
      while (isHexDigit(this.at(p))) p++;
      if (isWordChar(this.at(p))) return this.word();
      this.pos = this.end = p;
      return (this.type = TOK_HEX);
    }
    while (isDigit(c)) c = this.at(++p);
    let intOnly = true;
    if (c === 46) {
      intOnly = false;
      c = this.at(++p);
      while (isDigit(c)) c = this.at(++p);
    }
    if ((c | 0x20) === 101) {
      const e1 = this.at(p + 1);
      const e2 = this.at(p + 2);
      if (isDigit(e1) || ((e1 === 43 || e1 === 45) && isDigit(e2))) {
        p += isDigit(e1) ? 1 : 2;
        c = this.at(p);
        while (isDigit(c)) c = this.at(++p);
        intOnly = false;
      }
    }
    // `123abc` is an identifier: identifiers may begin with a digit.
    if (intOnly && isWordChar(c)) return this.word();
    this.pos = this.end = p;
    return (this.type = TOK_NUMBER);
  }

  private variable(p: number): number {
    const s = this.src;
    const n = this.n;
    p++;
    if (this.at(p) === 64) p++;
    let atNameStart = true;
    while (p < n) {
      const c = s.charCodeAt(p);
      if (isWordChar(c)) {
        if (c >= 128 && this.d.cs !== CS_UTF8) this.unsure("byte >= 0x80 outside quotes");
        p++;
        atNameStart = false;
      } else if (c === 46 /* . */) {
        p++;
        atNameStart = true;
      } else if (atNameStart && (c === 39 || c === 34 || c === 96)) {
        p = this.skipQuoted(
          p,
          c,
          c === 39
            ? !this.d.noBackslashEscapes
            : c === 34 && !this.d.noBackslashEscapes && !this.d.ansiQuotes,
        );
        atNameStart = false;
      } else break;
    }
    this.pos = this.end = p;
    return (this.type = TOK_VAR);
  }
}

/**
 * Text of an identifier token, unquoted and lower-cased: `` `My``Tbl` `` -> "my`tbl".
 * Table and schema names are compared lower-cased (lower_case_table_names differs per server; the
 * proxy reports names for metrics and audit, not for resolution).
 */
export function identText(lx: Lexer): string {
  if (lx.type === TOK_QIDENT) return unquoteIdent(lx.src, lx.start, lx.end).toLowerCase();
  return lx.text().toLowerCase();
}

/** The content of a quoted identifier or string in `src[start, end)`, doubled quotes undone. */
export function unquoteIdent(src: string, start: number, end: number): string {
  const q = src.charCodeAt(start);
  const closed = end - start >= 2 && src.charCodeAt(end - 1) === q;
  const inner = src.slice(start + 1, closed ? end - 1 : end);
  const qs = String.fromCharCode(q);
  return inner.includes(qs + qs) ? inner.split(qs + qs).join(qs) : inner;
}
