/**
 * An audit rule's `keyPattern` / `appUserPattern`: the first capture of an operator's RE2 pattern
 * in a statement's text, on every audited statement.
 *
 * RE2 (re2js) answers in time linear in the text whatever the pattern, but costs several µs per
 * call even on a 40-character statement (a matcher, a backtracking bitmap). Most key patterns are
 * a plain sequence like `id\s*=\s*(\d+)`, which a direct scan answers in well under a µs; such a
 * pattern is compiled here into a **deterministic sequence** and scanned without RE2:
 *
 * - the pattern is a sequence of atoms — an ASCII literal character (matched without case, as the
 *   rule's patterns are), an escaped punctuation character, or one of `\s \S \d \D \w \W` — each
 *   with an optional greedy `*`, `+` or `?`, and at most one capture group `( … )` (not nested,
 *   not quantified) around some of them; anything else (alternation, `.`, brackets, anchors,
 *   `\b`, counted or lazy repetition, a non-ASCII character) keeps RE2;
 * - every repeated or optional atom is followed by a mandatory atom whose characters it cannot
 *   match (or ends the pattern): then from a given start there is exactly one way to match, the
 *   greedy one RE2 prefers, and no backtracking;
 * - the text must be ASCII (RE2 folds `k` with the Kelvin sign, `s` with the long s, …): other
 *   text goes to RE2;
 * - the scan tries each start in turn and gives up after 8 steps per character of the text (a
 *   long run of a repeated atom that keeps failing), handing the text to RE2: linear either way,
 *   so no statement can make matching super-linear (the ReDoS safety of the RE2 engine is kept).
 *
 * The answer is the same as RE2's in every case (test/unit/audit-key-pattern.test.ts compares the
 * two on random patterns and texts).
 */
import { RE2JS } from "re2js";

/** `keyPattern` and `appUserPattern` see at most this many characters of a statement (its start). */
export const PATTERN_SCAN_LIMIT = 16 * 1024;

/** One atom: the ASCII characters it matches (case folded), its repetition. */
interface Atom {
  set: Uint8Array;
  min: 0 | 1;
  /** Repeats (`*`, `+`). */
  many: boolean;
}

interface Sequence {
  atoms: Atom[];
  /** The capture group's atoms: [groupStart, groupEnd) (-1: no group). */
  groupStart: number;
  groupEnd: number;
}

const NON_ASCII = /[^\x00-\x7f]/;

function charSet(test: (c: number) => boolean): Uint8Array {
  const s = new Uint8Array(128);
  for (let c = 0; c < 128; c++) if (test(c)) s[c] = 1;
  return s;
}

// RE2's Perl classes (ASCII).
const isSpace = (c: number) => c === 9 || c === 10 || c === 12 || c === 13 || c === 32;
const isDigit = (c: number) => c >= 48 && c <= 57;
const isWord = (c: number) => isDigit(c) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95;
const CLASSES: Record<string, Uint8Array> = {
  s: charSet(isSpace),
  S: charSet((c) => !isSpace(c)),
  d: charSet(isDigit),
  D: charSet((c) => !isDigit(c)),
  w: charSet(isWord),
  W: charSet((c) => !isWord(c)),
};
const META = new Set([..."\\.^$|?*+()[]{}"]);

function literal(c: number): Uint8Array {
  const s = new Uint8Array(128);
  s[c] = 1;
  if (c >= 65 && c <= 90) s[c + 32] = 1;
  else if (c >= 97 && c <= 122) s[c - 32] = 1;
  return s;
}

function disjoint(a: Uint8Array, b: Uint8Array): boolean {
  for (let c = 0; c < 128; c++) if (a[c] && b[c]) return false;
  return true;
}

/** The pattern as a deterministic sequence, or null when it is not one (RE2 answers it). */
export function deterministicSequence(p: string): Sequence | null {
  if (p.length === 0 || NON_ASCII.test(p)) return null;
  const atoms: Atom[] = [];
  let groupStart = -1;
  let groupEnd = -1;
  let inGroup = false;
  for (let i = 0; i < p.length; ) {
    const ch = p[i]!;
    if (ch === "(") {
      if (inGroup || groupStart >= 0 || p[i + 1] === "?") return null;
      inGroup = true;
      groupStart = atoms.length;
      i++;
      continue;
    }
    if (ch === ")") {
      if (!inGroup) return null;
      inGroup = false;
      groupEnd = atoms.length;
      i++;
      // A repeated or optional group is not a plain sequence.
      if (i < p.length && "*+?{".includes(p[i]!)) return null;
      continue;
    }
    let set: Uint8Array;
    if (ch === "\\") {
      const e = p[i + 1];
      if (e === undefined) return null;
      const cls = CLASSES[e];
      if (cls) set = cls;
      // An escaped punctuation character stands for itself; letters and digits are other escapes (\b, \x, \1, …).
      else if (/[!-/:-@[-`{-~]/.test(e)) set = literal(e.charCodeAt(0));
      else return null;
      i += 2;
    } else {
      if (META.has(ch)) return null;
      set = literal(ch.charCodeAt(0));
      i++;
    }
    const q = p[i];
    let min: 0 | 1 = 1;
    let many = false;
    if (q === "*" || q === "+" || q === "?") {
      min = q === "+" ? 1 : 0;
      many = q !== "?";
      i++;
      if (p[i] === "?" || p[i] === "+" || p[i] === "*" || p[i] === "{") return null; // lazy, possessive, stacked
    } else if (q === "{") return null;
    atoms.push({ set, min, many });
  }
  if (inGroup) return null;
  if (atoms.length === 0) return null;
  // Determinism: a repeated or optional atom is followed by a mandatory one it cannot match.
  for (let k = 0; k < atoms.length; k++) {
    const a = atoms[k]!;
    if (a.min === 1 && !a.many) continue;
    const next = atoms[k + 1];
    if (next === undefined) continue;
    if (next.min === 0 || !disjoint(a.set, next.set)) return null;
  }
  // An empty group (`()`) or a group of optional atoms only could match empty: RE2 answers those.
  if (groupStart >= 0 && groupEnd === groupStart) return null;
  if (atoms[0]!.min === 0) return null; // could match the empty string at every position
  return { atoms, groupStart, groupEnd };
}

const FALLBACK = -2;
const NO_MATCH = -1;

/**
 * Scan `s` for the sequence: the index of the first match's start, with `ends` filled
 * ([matchEnd, groupStart, groupEnd]); NO_MATCH; or FALLBACK when the step budget ran out.
 */
function scan(seq: Sequence, s: string, ends: Int32Array): number {
  const atoms = seq.atoms;
  const n = s.length;
  let budget = 8 * n + 64;
  const first = atoms[0]!.set;
  for (let start = 0; start < n; start++) {
    if (!first[s.charCodeAt(start)]) continue;
    let p = start;
    let gs = -1;
    let ge = -1;
    let k = 0;
    for (; k < atoms.length; k++) {
      if (k === seq.groupStart) gs = p;
      const a = atoms[k]!;
      const set = a.set;
      if (a.min === 1) {
        if (p >= n || !set[s.charCodeAt(p)]) break;
        p++;
        budget--;
      }
      if (a.many) {
        while (p < n && set[s.charCodeAt(p)]) {
          p++;
          budget--;
        }
      } else if (a.min === 0 && p < n && set[s.charCodeAt(p)]) p++;
      if (k + 1 === seq.groupEnd) ge = p;
      if (--budget < 0) return FALLBACK;
    }
    if (k === atoms.length) {
      ends[0] = p;
      ends[1] = gs;
      ends[2] = ge;
      return start;
    }
    if (--budget < 0) return FALLBACK;
  }
  return NO_MATCH;
}

/** A compiled operator pattern: `firstCapture(text)` as RE2 answers it. */
export class KeyPattern {
  readonly #re: RE2JS;
  readonly #seq: Sequence | null;
  readonly #ends = new Int32Array(3);

  /** Throws (RE2's message) when `p` is not a valid RE2 pattern. */
  constructor(p: string) {
    this.#re = RE2JS.compile(p, RE2JS.CASE_INSENSITIVE);
    this.#seq = deterministicSequence(p);
  }

  /** Whether the direct scan answers this pattern (tests, and the bench's notes). */
  get direct(): boolean {
    return this.#seq !== null;
  }

  /** The first group that took part in the first match (or the whole match), over the text's start. */
  firstCapture(text: string): string | undefined {
    const s = text.length > PATTERN_SCAN_LIMIT ? text.slice(0, PATTERN_SCAN_LIMIT) : text;
    const seq = this.#seq;
    if (seq !== null && !NON_ASCII.test(s)) {
      const at = scan(seq, s, this.#ends);
      if (at === NO_MATCH) return undefined;
      if (at !== FALLBACK) {
        const e = this.#ends;
        return seq.groupStart >= 0 ? s.slice(e[1]!, e[2]!) : s.slice(at, e[0]!);
      }
    }
    return re2FirstCapture(this.#re, s);
  }
}

/** RE2's answer: the first group that took part in the match (or the whole match). */
export function re2FirstCapture(re: RE2JS, s: string): string | undefined {
  const m = re.matcher(s);
  if (!m.find()) return undefined;
  for (let i = 1; i <= m.groupCount(); i++) {
    const g = m.group(i);
    if (g !== null) return g;
  }
  return m.group(0) ?? undefined;
}
