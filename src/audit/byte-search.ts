/**
 * Audit of a statement too long to lex (config `maxLexedStatement`): a plain search of its bytes
 * for the audited names — the bare names of the rules' tables, views and routines — and for the
 * words of dynamic SQL (PREPARE, EXECUTE), in one pass, linear in the bytes whatever they are
 * (Aho-Corasick over ASCII-case-folded bytes: one table lookup per byte, no backtracking).
 *
 * Conservative by construction: a name found anywhere (a string, a comment, part of a longer
 * identifier) is an audited access; the statement's text is not parsed, so an alias or a CTE of
 * that name cannot hide it. What it cannot see: a stored function that reads an audited table
 * without being named in `audit.rules[].routines` (the lexer would report it as unresolved).
 *
 *   const s = new AuditedBytes(config.audit.rules, config.audit);
 *   s.match(payload, 1, "app")   // { operation, object, unresolved? } | null
 */
import type { AuditRuleConfig, RuleMatch } from "./rules.js";
import { UNRESOLVED_OPERATION } from "./rules.js";

const DYNAMIC_WORDS = ["prepare", "execute"];

/** ASCII upper → lower; every other byte as is. */
const FOLD = new Uint8Array(256);
for (let b = 0; b < 256; b++) FOLD[b] = b >= 0x41 && b <= 0x5a ? b + 0x20 : b;

function isIdentByte(b: number | undefined): boolean {
  if (b === undefined) return false;
  const c = FOLD[b]!;
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x24 || c >= 0x80;
}

interface Pattern {
  bytes: Uint8Array;
  /** Index in `rules` of the first rule naming it; -1 for a dynamic-SQL word. */
  rule: number;
  /** The rule's name as configured (maybe `schema.table`), for the event's object. */
  object: string;
}

export class AuditedBytes {
  private readonly patterns: Pattern[] = [];
  /** The automaton: next state = delta[state * 256 + folded byte]. */
  private readonly delta: Int32Array;
  /** Per state: 1 + the index of the pattern ending there (names before words), 0 for none. */
  private readonly out: Int32Array;
  private readonly rules: { operation: string; dbUsers: Set<string> | null }[];
  private readonly refuse: boolean;

  /**
   * `extra`: further bare names searched for every rule — the names the audit catalog and the
   * copies made audited, and the server-source words (rules.ts `auditedNames`, presence.ts
   * `sourceSearchWords`): what the lexed check would have found in a statement of normal size.
   */
  constructor(
    rules: readonly AuditRuleConfig[],
    opts: { unresolved?: "audit" | "refuse" } = {},
    extra: readonly string[] = [],
  ) {
    this.refuse = opts.unresolved === "refuse";
    this.rules = rules.map((r) => ({
      operation: r.operation,
      dbUsers: r.dbUsers && r.dbUsers.length > 0 ? new Set(r.dbUsers.map((u) => u.toLowerCase())) : null,
    }));
    const seen = new Set<string>();
    rules.forEach((r, i) => {
      for (const n of [...(r.tables ?? []), ...(r.views ?? []), ...(r.routines ?? []), ...extra]) {
        const full = n.replace(/`/g, "").trim().toLowerCase();
        const bare = full.slice(full.lastIndexOf(".") + 1);
        if (bare === "" || seen.has(`${i}\u0000${bare}`)) continue;
        seen.add(`${i}\u0000${bare}`);
        this.patterns.push({ bytes: foldBytes(bare), rule: i, object: full });
      }
    });
    for (const w of DYNAMIC_WORDS) this.patterns.push({ bytes: foldBytes(w), rule: -1, object: w });
    const built = build(this.patterns);
    this.delta = built.delta;
    this.out = built.out;
    this.window = Math.max(...this.patterns.map((p) => p.bytes.length)) - 1;
    this.required = requiredBytes(this.patterns);
  }

  /**
   * The prefilter: one byte of each pattern (in both ASCII cases), chosen outside the hex digits
   * (the bulk of a `--hex-blob` dump line). A slice holding none of them cannot hold a whole
   * pattern: only its first and last `window` bytes need the automaton (a pattern straddling its
   * edges). Null when some pattern is made of hex digits only.
   */
  private readonly required: number[] | null;
  /** The longest pattern's length - 1: how far a partial match can reach. */
  private readonly window: number;

  /**
   * The first rule (for `dbUser`) whose name occurs in `bytes[start..]`; else a conservative match
   * when dynamic SQL may hide one; else null. In one go: `search` for long texts.
   */
  match(bytes: Uint8Array, start: number, dbUser: string | null): RuleMatch | null {
    const s = this.search(dbUser);
    if (s === null) return null;
    s.feed(bytes, start, bytes.length);
    return s.result();
  }

  /**
   * An incremental search for `dbUser`'s rules (null when no rule binds the user): `feed` slices of
   * the text in order (true: a name was found, stop feeding), then `result`.
   */
  search(dbUser: string | null): ByteSearch | null {
    const user = dbUser?.toLowerCase() ?? null;
    const applies = this.rules.map((r) => r.dbUsers === null || (user !== null && r.dbUsers.has(user)));
    if (!applies.includes(true)) return null;
    return new ByteSearch(this, applies);
  }

  /** For ByteSearch: the automaton and what its outputs mean. */
  get tables(): {
    delta: Int32Array;
    out: Int32Array;
    patterns: readonly Pattern[];
    rules: readonly { operation: string }[];
    refuse: boolean;
    required: readonly number[] | null;
    window: number;
  } {
    return {
      delta: this.delta,
      out: this.out,
      patterns: this.patterns,
      rules: this.rules,
      refuse: this.refuse,
      required: this.required,
      window: this.window,
    };
  }
}

/** One text being searched (see AuditedBytes.search). */
export class ByteSearch {
  private state = 0;
  private found: Pattern | null = null;
  private dynamic = false;
  /** The last byte fed, for a word boundary across slices. */
  private prev: number | undefined = undefined;
  private readonly t: AuditedBytes["tables"];

  constructor(
    owner: AuditedBytes,
    private readonly applies: readonly boolean[],
  ) {
    this.t = owner.tables;
  }

  /** Search `bytes[start, end)`, which follows what was fed before; true once a name was found. */
  feed(bytes: Uint8Array, start: number, end: number): boolean {
    if (this.found !== null) return true;
    const { required, window: w } = this.t;
    if (required !== null && end - start > 4 * w + 64 && !holdsAny(bytes, start, end, required)) {
      // No pattern can lie wholly inside: finish the ones straddling in, then take the state the
      // last `w` bytes leave (the automaton's state depends on no more than those).
      if (this.scan(bytes, start, start + w)) return true;
      this.state = 0;
      this.prev = bytes[end - w - 1];
      return this.scan(bytes, end - w, end);
    }
    return this.scan(bytes, start, end);
  }

  /** The automaton over `bytes[start, end)`. */
  private scan(bytes: Uint8Array, start: number, end: number): boolean {
    const { delta, out, patterns } = this.t;
    let s = this.state;
    for (let i = start; i < end; i++) {
      s = delta[(s << 8) | FOLD[bytes[i]!]!]!;
      const o = out[s]!;
      if (o === 0) continue;
      const p = patterns[o - 1]!;
      if (p.rule >= 0) {
        if (this.applies[p.rule]) {
          this.found = p;
          this.state = s;
          return true;
        }
      } else if (!this.dynamic) {
        // A word, not part of a longer identifier (the byte after it may be in the next slice: taken
        // as a boundary, which only makes the search more conservative).
        const before = i - p.bytes.length;
        const b = before >= start ? bytes[before] : before === start - 1 ? this.prev : undefined;
        if (!isIdentByte(i + 1 < end ? bytes[i + 1] : undefined) && !isIdentByte(b)) this.dynamic = true;
      }
    }
    this.state = s;
    if (end > start) this.prev = bytes[end - 1];
    return false;
  }

  result(): RuleMatch | null {
    const p = this.found;
    if (p !== null) return { operation: this.t.rules[p.rule]!.operation, object: p.object };
    if (!this.dynamic) return null;
    const m: RuleMatch = {
      operation: UNRESOLVED_OPERATION,
      object: "",
      unresolved: ["dynamic SQL (PREPARE / EXECUTE) in a statement over maxLexedStatement"],
    };
    if (this.t.refuse) m.refuse = true;
    return m;
  }
}

/** Does `bytes[start, end)` hold any of `values`? Native searches (memchr-fast), bounded to the slice. */
function holdsAny(bytes: Uint8Array, start: number, end: number, values: readonly number[]): boolean {
  const slice = Buffer.from(bytes.buffer, bytes.byteOffset + start, end - start);
  for (const v of values) if (slice.indexOf(v) >= 0) return true;
  return false;
}

const HEX_DIGITS = new Set([..."0123456789abcdef"].map((c) => c.charCodeAt(0)));

function requiredBytes(patterns: readonly Pattern[]): number[] | null {
  const set = new Set<number>();
  for (const p of patterns) {
    const b = p.bytes.find((x) => !HEX_DIGITS.has(x)); // folded: lower-case letters
    if (b === undefined) return null;
    set.add(b);
    if (b >= 0x61 && b <= 0x7a) set.add(b - 0x20);
  }
  return [...set];
}

function foldBytes(s: string): Uint8Array {
  const b = Buffer.from(s, "utf8");
  for (let i = 0; i < b.length; i++) b[i] = FOLD[b[i]!]!;
  return b;
}

/** Aho-Corasick: the trie of the patterns, completed into a DFA over 256 byte values (folded input). */
function build(patterns: readonly Pattern[]): { delta: Int32Array; out: Int32Array } {
  const goto: Map<number, number>[] = [new Map()];
  const outs: number[] = [0];
  patterns.forEach((p, idx) => {
    let s = 0;
    for (const b of p.bytes) {
      let next = goto[s]!.get(b);
      if (next === undefined) {
        next = goto.length;
        goto.push(new Map());
        outs.push(0);
        goto[s]!.set(b, next);
      }
      s = next;
    }
    // Names (listed first) win over words ending at the same state.
    if (outs[s] === 0) outs[s] = idx + 1;
  });
  const n = goto.length;
  const delta = new Int32Array(n * 256);
  const out = Int32Array.from(outs);
  const fail = new Int32Array(n);
  const queue: number[] = [];
  for (let b = 0; b < 256; b++) {
    const t = goto[0]!.get(b) ?? 0;
    delta[b] = t;
    if (t !== 0) queue.push(t);
  }
  for (let qi = 0; qi < queue.length; qi++) {
    const s = queue[qi]!;
    if (out[s] === 0) out[s] = out[fail[s]!]!;
    for (let b = 0; b < 256; b++) {
      const t = goto[s]!.get(b);
      if (t === undefined) delta[s * 256 + b] = delta[fail[s]! * 256 + b]!;
      else {
        fail[t] = delta[fail[s]! * 256 + b]!;
        delta[s * 256 + b] = t;
        queue.push(t);
      }
    }
  }
  return { delta, out };
}
