/**
 * key-pattern.ts: the direct scan of a plain-sequence keyPattern gives RE2's answer on every text
 * (random patterns and texts, RE2 via re2js as the oracle), stays linear on hostile text, and
 * leaves every other pattern to RE2.
 */
import { RE2JS } from "re2js";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { deterministicSequence, KeyPattern, re2FirstCapture } from "../../src/audit/key-pattern.js";
import { prng } from "../helpers/prng.js";

const re2 = (p: string, s: string) => re2FirstCapture(RE2JS.compile(p, RE2JS.CASE_INSENSITIVE), s);

test("the bench's and README's patterns are scanned directly; others stay with RE2", () => {
  for (const p of [
    "id\\s*=\\s*(\\d+)",
    "user_id\\s*=\\s*'(\\w+)'",
    "/\\*\\s*app_user=(\\w+)",
    "account=(\\d+)",
  ])
    assert.ok(new KeyPattern(p).direct, p);
  for (const p of [
    "id|key=(\\d+)", // alternation
    "id\\s*=\\s*(\\d+)+", // repeated group
    "\\bid=(\\d+)", // \b
    "id=(.*)", // .
    "id=([0-9]+)", // brackets
    "id\\s*\\s*=(\\d+)", // two repeats that overlap: more than one way to match
    "\\d*5", // a repeat followed by what it can match
    "id=(\\d{1,5})", // counted repetition
    "id=(\\d+?)", // lazy
    "(?i)id=(\\d+)", // flags
    "\\s*id", // may start anywhere
    "clé=(\\d+)", // non-ASCII
  ])
    assert.is(new KeyPattern(p).direct, false, p);
});

test("the direct scan agrees with RE2 on random sequence patterns and texts", () => {
  const rng = prng(0x5eed25);
  const atoms = [
    "i",
    "d",
    "I",
    "=",
    "_",
    "'",
    "a",
    "\\s",
    "\\d",
    "\\w",
    "\\S",
    "\\D",
    "\\W",
    "\\.",
    "\\=",
    "\\'",
    "-",
  ];
  const quants = ["", "", "", "*", "+", "?"];
  const alphabet = [..."iIdD= \t\n1234aZ_.'-x\r"];
  let direct = 0;
  let matched = 0;
  for (let k = 0; k < 3000; k++) {
    const n = 1 + rng.int(5);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(rng.pick(atoms) + rng.pick(quants));
    if (rng.next() < 0.7) {
      const a = rng.int(n);
      const b = a + 1 + rng.int(n - a);
      parts.splice(b, 0, ")");
      parts.splice(a, 0, "(");
    }
    const p = parts.join("");
    let kp: KeyPattern;
    try {
      kp = new KeyPattern(p);
    } catch {
      continue; // not a valid RE2 pattern
    }
    if (kp.direct) direct++;
    for (let t = 0; t < 20; t++) {
      const len = rng.int(30);
      let s = "";
      for (let i = 0; i < len; i++) s += rng.pick(alphabet);
      const want = re2(p, s);
      if (want !== undefined) matched++;
      assert.is(kp.firstCapture(s), want, `pattern ${JSON.stringify(p)} on ${JSON.stringify(s)}`);
    }
  }
  assert.ok(direct > 500, `${direct} of the patterns were scanned directly`);
  assert.ok(matched > 5000, `${matched} texts matched`);
});

test("hostile text: a long run that keeps failing is handed to RE2 (linear), with RE2's answer", () => {
  const kp = new KeyPattern("a\\s*=(\\d+)");
  assert.ok(kp.direct);
  // 16 KiB of "a" followed by spaces, never an "=": every start consumes the run again.
  const hostile = "a".repeat(8000) + " ".repeat(8000);
  const t0 = performance.now();
  for (let i = 0; i < 20; i++) assert.is(kp.firstCapture(hostile), undefined);
  const ms = (performance.now() - t0) / 20;
  // A quadratic scan of 8,000 × 8,000 steps would take ~100 ms or more; linear work is a few ms.
  assert.ok(ms < 50, `${ms.toFixed(1)} ms per hostile statement`);
  const runs = `${"a ".repeat(5000)}a =42`;
  assert.is(kp.firstCapture(runs), "42");
  assert.is(kp.firstCapture(runs), re2("a\\s*=(\\d+)", runs));
});

test("non-ASCII text goes to RE2 (its case folding reaches beyond ASCII: K is the Kelvin sign's fold)", () => {
  const kp = new KeyPattern("k=(\\d+)");
  assert.ok(kp.direct);
  assert.is(kp.firstCapture("SELECT 1 WHERE \u212A=77"), "77");
  assert.is(kp.firstCapture("SELECT 'é' WHERE K=5"), "5");
  assert.is(deterministicSequence("k=(\\d+)")?.atoms.length, 3);
});

test.run();
