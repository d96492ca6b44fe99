/**
 * A statement digest for metrics and audit: the statement's shape with its values taken out, so
 * that `SELECT * FROM t WHERE id = 1` and `select *  from t where id=42` count as one statement.
 *
 * Like performance_schema's digest (https://dev.mysql.com/doc/refman/8.0/en/performance-schema-statement-digests.html),
 * it is built from tokens, so it needs no parser:
 * - comments are dropped; the content of executable comments `/*! ... *\/` is SQL and kept;
 * - string, number, hex and bit literals, `?` placeholders, a sign before a number and a character
 *   set introducer before a string (`_utf8mb4'x'`) become `?`;
 * - `IN (1, 2, 3)` and `IN (?, ?)` become `IN (...)`, whatever the number of values;
 * - in `VALUES (...), (...)`, rows shaped like the first one collapse into `, ...`;
 * - keywords are upper-cased (see keywords.ts); identifiers keep their case and quotes;
 * - tokens are separated by one space, with none inside `( )`, before `,` or around `.`, and none
 *   between a function name and its `(`: `COUNT(*)`, `t.id`;
 * - statements of a multi-statement are joined with "; "; a trailing `;` is dropped;
 * - at most MAX_DIGEST_LENGTH characters (performance_schema's max_digest_length): the rest of the
 *   text is not read.
 *
 * Linear in the text and bounded in what it keeps (issue 19: a 1 MB statement of `status.x, ...`
 * took 55 s): the output is a list of parts with its length counted, never a string sliced and
 * re-joined per token, and reading stops at the length bound.
 */
import { K, KF_FUNC, KW_FLAGS, KW_UPPER } from "./keywords.js";
import {
  CH_COMMA,
  CH_DOT,
  CH_LPAREN,
  CH_MINUS,
  CH_PLUS,
  CH_RPAREN,
  CH_SEMI,
  Lexer,
  TOK_EOF,
  TOK_HEX,
  TOK_NUMBER,
  TOK_OP,
  TOK_PARAM,
  TOK_PUNCT,
  TOK_QIDENT,
  TOK_STRING,
  TOK_WORD,
} from "./lexer.js";

/** Classes of the previous output token, for spacing. */
const P_NONE = 0;
/** An identifier or function name: `(` right after it is a call or a column list, no space. */
const P_NAME = 1;
/** A keyword that is not a function: `IN (`, `VALUES (`. */
const P_KW = 2;
const P_OPEN = 3;
const P_CLOSE = 4;
const P_COMMA = 5;
const P_DOT = 6;
/** An operator or punctuation: a following `-` or `+` is a sign. */
const P_OP = 7;
/** A literal `?` or a variable. */
const P_VALUE = 8;

const { IN, VALUES, VALUE, NULL, TRUE, FALSE } = K;

function isLiteral(t: number): boolean {
  return t === TOK_STRING || t === TOK_NUMBER || t === TOK_HEX || t === TOK_PARAM;
}

/** `kwOutPos` of a keyword being written. */
const KW_PENDING = -2;

/** performance_schema's max_digest_length default: a digest is at most this long. */
export const MAX_DIGEST_LENGTH = 1024;

/** Digest of `sql`. Never throws. */
export function digest(sql: string): string {
  const lx = new Lexer(sql);
  // The output so far: `parts` joined, `outLen` characters.
  const parts: string[] = [];
  let outLen = 0;
  let prev = P_NONE;
  let depth = 0;
  let stmtOpen = false;
  let pendingSemi = false;
  // A keyword just written (its index in `parts`), so a following `.` can turn it back into the
  // identifier it was.
  let kwOutPos = -1;
  let kwSrcStart = 0;
  let kwSrcEnd = 0;
  // VALUES row collapsing: 0 idle, 1 after VALUES, 2 in the first row, 3 after a row,
  // 4 after its comma, 5 in a later row.
  let vState = 0;
  let vDepth = 0;
  // Rows: the index in `parts` where the row in progress starts, the first row's text, and where
  // (index and length) the output stood before the comma ahead of the row in progress.
  let rowStart = 0;
  let firstRow = "";
  let commaPart = 0;
  let commaLen = 0;
  let collapsed = false;

  let t = lx.next();
  while (t !== TOK_EOF && outLen <= MAX_DIGEST_LENGTH) {
    let text: string;
    let cls: number;
    if (t === TOK_PUNCT && lx.ch === CH_SEMI) {
      if (stmtOpen) pendingSemi = true;
      stmtOpen = false;
      prev = P_NONE;
      depth = vState = 0;
      collapsed = false;
      t = lx.next();
      continue;
    }
    if (pendingSemi) {
      parts.push("; ");
      outLen += 2;
      pendingSemi = false;
    }
    stmtOpen = true;
    const wasKw = kwOutPos;
    kwOutPos = -1;
    switch (t) {
      case TOK_WORD: {
        const kw = lx.kw;
        if (kw !== 0 && prev !== P_DOT) {
          if (kw === IN && lx.peekPunct(CH_LPAREN)) {
            const m = lx.save();
            lx.next();
            if (literalList(lx)) {
              const inList = prev === P_NONE ? "IN (...)" : " IN (...)";
              parts.push(inList);
              outLen += inList.length;
              prev = P_CLOSE;
              t = lx.next();
              continue;
            }
            lx.restore(m);
          }
          text = KW_UPPER[kw];
          cls = (KW_FLAGS[kw] & KF_FUNC) !== 0 ? P_NAME : P_KW;
          kwOutPos = KW_PENDING; // its index once written, below
          kwSrcStart = lx.start;
          kwSrcEnd = lx.end;
          if (kw === VALUES || kw === VALUE) {
            vState = 1;
            collapsed = false;
          }
        } else if (lx.src.charCodeAt(lx.start) === 95 /* _ */ && lx.peek() === TOK_STRING) {
          lx.next(); // _charset'string'
          text = "?";
          cls = P_VALUE;
        } else {
          text = lx.text();
          cls = P_NAME;
        }
        break;
      }
      case TOK_QIDENT:
        text = lx.text();
        cls = P_NAME;
        break;
      case TOK_PUNCT: {
        const c = lx.ch;
        if (c === CH_LPAREN) {
          text = "(";
          cls = P_OPEN;
        } else if (c === CH_RPAREN) {
          text = ")";
          cls = P_CLOSE;
        } else if (c === CH_COMMA) {
          text = ",";
          cls = P_COMMA;
        } else if (c === CH_DOT) {
          text = ".";
          cls = P_DOT;
          if (wasKw >= 0) {
            // `status.x`: the keyword was a table name.
            const asWritten = lx.src.slice(kwSrcStart, kwSrcEnd);
            outLen += asWritten.length - parts[wasKw]!.length;
            parts[wasKw] = asWritten;
          }
        } else if (
          (c === CH_MINUS || c === CH_PLUS) &&
          (prev === P_NONE || prev === P_OPEN || prev === P_COMMA || prev === P_OP || prev === P_KW) &&
          lx.peek() === TOK_NUMBER
        ) {
          lx.next(); // a signed number
          text = "?";
          cls = P_VALUE;
        } else {
          text = lx.text();
          cls = P_OP;
        }
        break;
      }
      case TOK_OP:
        text = lx.text();
        cls = P_OP;
        break;
      default:
        // literals, placeholders and variables
        if (isLiteral(t)) text = "?";
        else text = lx.text();
        cls = P_VALUE;
    }

    // Spacing.
    if (
      prev !== P_NONE &&
      prev !== P_OPEN &&
      prev !== P_DOT &&
      cls !== P_COMMA &&
      cls !== P_CLOSE &&
      cls !== P_DOT &&
      !(cls === P_OPEN && prev === P_NAME)
    ) {
      parts.push(" ");
      outLen++;
    }

    // VALUES rows.
    if (vState !== 0) {
      if (cls === P_OPEN) {
        if (vState === 1 || vState === 4) {
          vDepth = depth;
          rowStart = parts.length;
          vState = vState === 1 ? 2 : 5;
        }
      } else if (cls === P_COMMA) {
        if (vState === 3) {
          commaPart = parts.length;
          commaLen = outLen;
          vState = 4;
        }
      } else if (vState === 1 || vState === 3 || vState === 4) {
        if (cls !== P_KW || vState !== 1) vState = 0; // VALUES ROW(...) etc.: nothing to collapse
      }
    }
    parts.push(text);
    outLen += text.length;
    if (kwOutPos === KW_PENDING) kwOutPos = parts.length - 1;
    if (cls === P_OPEN) depth++;
    else if (cls === P_CLOSE) {
      depth--;
      if ((vState === 2 || vState === 5) && depth === vDepth) {
        // Each row is joined once: linear in the rows' text.
        const row = parts.slice(rowStart).join("");
        if (vState === 2) firstRow = row;
        else if (row === firstRow) {
          parts.length = commaPart;
          outLen = commaLen;
          if (!collapsed) {
            parts.push(", ...");
            outLen += 5;
          }
          collapsed = true;
        }
        vState = 3;
      }
    }
    prev = cls;
    t = lx.next();
  }
  const out = parts.join("");
  return out.length > MAX_DIGEST_LENGTH ? out.slice(0, MAX_DIGEST_LENGTH) : out;
}

/**
 * At the `(` after IN: consumes a list of literals (and rows of literals) through its `)` and
 * returns true, or returns false somewhere inside it (the caller restores the lexer).
 */
function literalList(lx: Lexer): boolean {
  let depth = 1;
  for (;;) {
    let t = lx.next();
    if (t === TOK_PUNCT && lx.ch === CH_LPAREN) {
      depth++;
      continue;
    }
    if (t === TOK_PUNCT && (lx.ch === CH_MINUS || lx.ch === CH_PLUS)) t = lx.next();
    const kw = t === TOK_WORD ? lx.kw : 0;
    if (!isLiteral(t) && kw !== NULL && kw !== TRUE && kw !== FALSE) return false;
    for (;;) {
      t = lx.next();
      if (t !== TOK_PUNCT) return false;
      if (lx.ch === CH_COMMA) break;
      if (lx.ch !== CH_RPAREN) return false;
      if (--depth === 0) return true;
    }
  }
}
