/**
 * quote.ts, the only way pairgate writes a name or value into SQL of its own (issue 19). What is
 * checked here without a server: every output is 7-bit ASCII with no backslash outside a hex
 * literal and balanced quotes, whatever the input — so no sql_mode (ANSI_QUOTES,
 * NO_BACKSLASH_ESCAPES) and no ASCII-compatible client character set can read it otherwise; and the
 * pairgate lexer reads each as exactly one token (or introducer + token). The same property against
 * the real server, with every byte 0–255: test/integration/session-replay-quote.test.ts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { makeDialect } from "../../src/sql/index.js";
import { Lexer, TOK_HEX, TOK_QIDENT, TOK_STRING } from "../../src/sql/lexer.js";
import {
  isNumberText,
  NotALiteral,
  quoteBytes,
  quoteIdentifier,
  quoteNumber,
  quoteString,
  quoteTypedNumber,
} from "../../src/sql/quote.js";
import { prng } from "../helpers/prng.js";

const ASCII = /^[\x20-\x7e]*$/;
const isNotALiteral = (e: unknown) => e instanceof NotALiteral;
const DIALECTS = [
  makeDialect({ sqlMode: "" }),
  makeDialect({ sqlMode: "ANSI_QUOTES" }),
  makeDialect({ sqlMode: "NO_BACKSLASH_ESCAPES" }),
  makeDialect({ sqlMode: "ANSI_QUOTES,NO_BACKSLASH_ESCAPES", charset: "gbk" }),
  makeDialect({ charset: "sjis" }),
];

/** The tokens of `sql` in dialect `d`: [type, text] pairs. */
function tokens(sql: string, d = DIALECTS[0]): [number, string][] {
  const lx = new Lexer(sql, d);
  const out: [number, string][] = [];
  lx.next();
  while (!lx.atEnd()) {
    out.push([lx.type, lx.text()]);
    lx.next();
  }
  return out;
}

function strings(): string[] {
  const out: string[] = [
    "",
    "'",
    "''",
    "\\",
    "\\'",
    "`",
    "``",
    '"',
    "a=1, @@global.read_only=0, @b",
    "x`; DROP TABLE t; --",
  ];
  for (let c = 0; c < 256; c++) out.push(`a${String.fromCharCode(c)}b`, String.fromCharCode(c));
  const r = prng(19);
  for (let i = 0; i < 300; i++) {
    let s = "";
    const n = r.int(12);
    for (let j = 0; j < n; j++) s += String.fromCharCode(r.int(0x2fff));
    out.push(s);
  }
  return out;
}

test("quoteString: ASCII only, one string token in every sql_mode and client charset", () => {
  for (const s of strings()) {
    const q = quoteString(s);
    assert.ok(ASCII.test(q), `ASCII: ${JSON.stringify(q)}`);
    for (const d of DIALECTS) {
      const t = tokens(q, d);
      // `'…'` is one string; `_utf8mb4 X'…'` is an introducer word and one string token.
      const last = t[t.length - 1];
      assert.ok(last[0] === TOK_STRING || last[0] === TOK_HEX, `${JSON.stringify(s)} → ${q}`);
      assert.ok(t.length === 1 || (t.length === 2 && t[0][1] === "_utf8mb4"), `${q}: ${JSON.stringify(t)}`);
    }
    if (q.startsWith("'")) assert.not.ok(q.slice(1, -1).includes("\\"), "no backslash between quotes");
  }
});

test("quoteIdentifier: one quoted identifier token in every sql_mode (utf8mb4); NUL and empty refused", () => {
  for (const s of strings()) {
    if (s === "" || s.includes("\u0000")) {
      assert.throws(() => quoteIdentifier(s), isNotALiteral);
      continue;
    }
    const q = quoteIdentifier(s);
    // Identifiers keep their characters: they go out under SET NAMES utf8mb4 (the replay's first
    // statement when it has any), so only the utf8mb4 dialects apply.
    for (const d of DIALECTS.slice(0, 3)) {
      const t = tokens(`SELECT ${q} = 1`, d);
      assert.is(t.length, 4, `${JSON.stringify(s)} → ${q}: ${JSON.stringify(t)}`);
    }
    const bare = tokens(q)[0];
    assert.is(bare[0], TOK_QIDENT);
    assert.is(bare[1], q);
  }
});

test("quoteBytes: hex with an introducer and a collation; names checked", () => {
  assert.is(quoteBytes(Buffer.from([0, 0xff, 0x5c, 0x27]), "binary", null), "_binary X'00FF5C27'");
  assert.is(
    quoteBytes(Buffer.from("é", "latin1"), "latin1", "latin1_bin"),
    "_latin1 X'E9' COLLATE latin1_bin",
  );
  assert.throws(() => quoteBytes(Buffer.alloc(1), "latin1; DROP", null), isNotALiteral);
  assert.throws(() => quoteBytes(Buffer.alloc(1), "utf8mb4", "x' OR '1"), isNotALiteral);
});

test("quoteNumber: numbers as the server prints them, nothing else", () => {
  for (const n of ["0", "-42", "18446744073709551615", "1.50", "1e+300", "-1.5E-7", ".5"]) {
    assert.ok(isNumberText(n), n);
    assert.is(quoteNumber(n), n);
  }
  for (const n of ["", "1 + 1", "NEXTVAL(s)", "0x10", "1e", "--1", "1;", "inf", "NaN", "1,5"]) {
    assert.not.ok(isNumberText(n), n);
    assert.throws(() => quoteNumber(n), isNotALiteral);
  }
});

test("quoteTypedNumber: the literal keeps the type the server listed (unsigned, DECIMAL, DOUBLE)", () => {
  assert.is(quoteTypedNumber("INT", "-9223372036854775808"), "-9223372036854775808");
  assert.is(quoteTypedNumber("INT UNSIGNED", "5"), "CAST(5 AS UNSIGNED)");
  assert.is(
    quoteTypedNumber("INT UNSIGNED", "18446744073709551615"),
    "CAST(18446744073709551615 AS UNSIGNED)",
  );
  assert.is(quoteTypedNumber("DECIMAL", "5"), "5.");
  assert.is(quoteTypedNumber("DECIMAL", "-1.50"), "-1.50");
  assert.is(quoteTypedNumber("DOUBLE", "1.5"), "1.5E0");
  assert.is(quoteTypedNumber("DOUBLE", "1e300"), "1e300");
  for (const [t, n] of [
    ["INT UNSIGNED", "-1"],
    ["INT UNSIGNED", "1.5"],
    ["INT", "1.5"],
    ["DECIMAL", "1e5"],
    ["INT", "1 + 1"],
    ["STRING", "1"],
    ["INT) OR (1", "1"],
  ])
    assert.throws(() => quoteTypedNumber(t, n), isNotALiteral, `${t} ${n}`);
});

test.run();
