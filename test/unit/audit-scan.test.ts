/**
 * The audit scanners that replaced backtracking regexes (issue 11): they give the old regexes'
 * answers on generated statements, and run in time linear in the statement on the inputs that
 * made the old ones stall every session (a long `#` tail: quadratic; leading whitespace before a
 * refused write: exponential).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { AuditRules, CaptureTables, type TablesOf } from "../../src/audit/rules.js";
import { commentTagValue, startsWithInsert } from "../../src/audit/scan.js";
import { tablesOf } from "../../src/sql/index.js";

/** The regexes at 6dbe06d, kept here as the reference the scanners must agree with. */
const OLD_TAG = /(?:\/\*(?:(?!\*\/)[\s\S])*?|(?:--|#)[^\n]*?)\bapp_user\s*[=:]\s*["']?([^\s"'*,;]+)/i;
const OLD_LEADING_INSERT = /^(?:\s+|\/\*(?:(?!\*\/)[\s\S])*\*\/|(?:--\s|#)[^\n]*\n)*insert\b/i;

/** A small deterministic generator (xorshift), so a failure replays. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x100000000;
  };
}

const PIECES = [
  "/*",
  "*/",
  "/*/",
  "*/*",
  "--",
  "-- ",
  "#",
  "\n",
  " ",
  "\t",
  "\u00a0",
  "app_user",
  "APP_User",
  "xapp_user",
  "_app_user",
  "=",
  ":",
  " = ",
  "'",
  '"',
  "alice",
  "b0b",
  ",",
  ";",
  "*",
  "SELECT",
  "INSERT",
  "insert",
  "inserts",
  "INTO t",
  "x",
  "-",
  "/",
  "é",
  "1",
];

function generate(r: () => number): string {
  const n = 1 + Math.floor(r() * 14);
  let s = "";
  for (let i = 0; i < n; i++) s += PIECES[Math.floor(r() * PIECES.length)];
  return s;
}

test("commentTagValue gives the old regex's answer on 200,000 generated statements", () => {
  const r = rng(11);
  for (let i = 0; i < 200_000; i++) {
    const sql = generate(r);
    const want = OLD_TAG.exec(sql)?.[1];
    assert.is(commentTagValue(sql, "app_user"), want, JSON.stringify(sql));
  }
});

test("startsWithInsert gives the old regex's answer on 200,000 generated statements", () => {
  const r = rng(7);
  for (let i = 0; i < 200_000; i++) {
    const sql = generate(r);
    assert.is(startsWithInsert(sql), OLD_LEADING_INSERT.test(sql), JSON.stringify(sql));
  }
});

/** Milliseconds one call takes (the best of 3, so a busy machine does not fail the test). */
function ms(f: () => void): number {
  let best = Number.POSITIVE_INFINITY;
  for (let k = 0; k < 3; k++) {
    const t = performance.now();
    f();
    best = Math.min(best, performance.now() - t);
  }
  return best;
}

const shipped = () =>
  new AuditRules(
    [
      {
        operation: "password_retrieval",
        tables: ["passtrix.ptrx_passwords"],
        keyPattern: "account_id\\s*=\\s*(\\d+)",
        appUserTag: "app_user",
      },
    ],
    tablesOf as TablesOf,
  );

// Sizes grow, each asserted before the next: on the old regexes a test fails at a small size in
// bounded time instead of hanging for hours at the big one.

test("a 160 KB '#' tail against the shipped appUserTag rule: milliseconds, not seconds (was 4.7 s)", () => {
  const rules = shipped();
  for (const n of [10_000, 40_000, 160_000]) {
    const sql = `SELECT encrypted_password FROM ptrx_passwords WHERE account_id=1 ${"#".repeat(n)}`;
    const t = ms(() => assert.equal(rules.match(sql, "passtrix")?.key, "1"));
    assert.ok(t < 100, `${n} '#': ${t.toFixed(1)} ms`);
  }
  // Also a tail of the tag itself, of "--" and of "/*", with no value anywhere.
  for (const unit of ["# app_user", "--app_user ", "/*app_user", "app_user=", " "]) {
    const s = `SELECT * FROM ptrx_passwords ${unit.repeat(Math.ceil(160_000 / unit.length))}`;
    const u = ms(() => rules.match(s, "passtrix"));
    assert.ok(u < 150, `${JSON.stringify(unit)}: ${u.toFixed(1)} ms`);
  }
});

test("captureTables: leading whitespace before a refused write is linear (28 spaces took 6.6 s)", () => {
  const cap = new CaptureTables(["passtrix.ptrx_notes"], tablesOf as TablesOf);
  for (const n of [16, 20, 24, 28, 40, 1_000_000]) {
    const sql = `${" \t\n".repeat(Math.ceil(n / 3)).slice(0, n)}UPDATE ptrx_notes SET a=1`;
    const t = ms(() => assert.is(cap.match(sql, "passtrix"), null));
    assert.ok(t < 100, `${n} spaces: ${t.toFixed(1)} ms`);
  }
  const comments = `${"/* c */ -- x\n# y\n".repeat(50_000)}INSERT INTO ptrx_notes (a) VALUES (1)`;
  const t = ms(() => assert.is(cap.match(comments, "passtrix"), "passtrix.ptrx_notes"));
  assert.ok(t < 200, `many comments: ${t.toFixed(1)} ms`);
  const onOn = `INSERT INTO ptrx_notes (a) VALUES (1) ${"on     ".repeat(100_000)}`;
  const u = ms(() => cap.match(onOn, "passtrix"));
  assert.ok(u < 200, `"on" + whitespace runs: ${u.toFixed(1)} ms`);
});

test("keyPattern/appUserPattern run in RE2: a pathological operator pattern stays linear", () => {
  const rules = new AuditRules(
    [{ operation: "x", tables: ["ptrx_passwords"], keyPattern: "(a+)+b", appUserPattern: ".*user=(\\w+)" }],
    tablesOf as TablesOf,
  );
  for (const n of [16, 20, 24, 28, 1_000_000]) {
    const sql = `SELECT * FROM ptrx_passwords WHERE c='${"a".repeat(n)}'`;
    const t = ms(() => rules.match(sql, "passtrix"));
    assert.ok(t < 150, `${n} 'a': ${t.toFixed(1)} ms`);
  }
  // Still extracts what is in the statement's first PATTERN_SCAN_LIMIT characters.
  const m = rules.match("SELECT * FROM ptrx_passwords /* aab user=zoe */", null);
  assert.is(m?.key, "aa");
  assert.is(m?.appUser, "zoe");
});

test.run();
