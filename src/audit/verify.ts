/**
 * Checking audit hash chains (chain.ts): rows go in one at a time — from the audit table, a dump
 * of it, or the journal — and a report comes out. Nothing here does I/O; the caller streams.
 *
 * Chained rows arrive in each chain's seq order (chains may interleave, and rows a few places out
 * of order are tolerated: a dump in id order works); rows without chain members (events delivered
 * before the chain existed, or rows inserted by hand) come after all chained rows.
 *
 * Each row is checked on its own (does its hash match its values, its seq and its stored prev?)
 * and against its neighbours (does it name the previous event's hash, is any seq missing or
 * doubled?). A row whose hash matches under another sequence number close by was moved:
 * "reordered". What the findings mean:
 *   modified   the row's values no longer match its hash (and its successor still names its hash)
 *   forged     the hash was recomputed without the key: plain SHA-256 in a keyed chain
 *   deleted    sequence numbers missing between two rows
 *   inserted   a second row for one sequence number, or an unchained row newer than its writer's chain
 *   reordered  rows whose hash matches at another position than where they are stored
 *   truncated  the chain ends before an anchor's sequence number
 *   anchor     the row at an anchor's sequence number does not have the anchor's hash
 *   relinked   two intact rows that do not link (one was replaced with a recomputed hash)
 *   no_key     keyed rows, but the verifier has no key with that id
 *   corrupt    a journal record that fails its checksum (not readable at all)
 *   differs    the journal and the table hold different hashes for one event
 */

import { type CanonicalValues, type ChainKey, chainHash, GENESIS } from "./chain.js";
import { uuidV7Time } from "./event.js";

export interface ChainRow {
  /** The event id (the table's primary key). */
  rowId: string;
  /** The hashed values, id … detail, as the row holds them. */
  values: CanonicalValues;
  /** occurred_at as Unix ms (for the time range), null if unknown. */
  occurredAt: number | null;
  instanceId: string | null;
  site: string | null;
  chain: { id: string; seq: number; prev: string; hash: string; alg: string } | null;
  /** Where the row came from, for the report: "table", "journal seg-…pgj@offset". */
  source?: string;
}

export type ProblemKind =
  | "modified"
  | "forged"
  | "deleted"
  | "inserted"
  | "reordered"
  | "truncated"
  | "anchor"
  | "relinked"
  | "no_key"
  | "corrupt"
  | "differs";

export interface Problem {
  kind: ProblemKind;
  chain: string | null;
  /** Sequence range concerned (inclusive), when known. */
  fromSeq: number | null;
  toSeq: number | null;
  /** Row (event) ids concerned: the rows themselves, or the two rows around a gap. */
  rowIds: string[];
  message: string;
  source?: string;
}

/** A finding outside any chain: a record that cannot be read, a row with no place in a chain. */
export function looseProblem(
  kind: ProblemKind,
  message: string,
  source: string | undefined,
  rowIds: string[] = [],
): Problem {
  return { kind, chain: null, fromSeq: null, toSeq: null, rowIds, message, source };
}

export interface Anchor {
  /** Null: the anchor names only a hash (or seq:hash) and applies to whichever chain holds it. */
  chainId: string | null;
  seq: number | null;
  /** Full hash or a prefix of at least 12 hex digits. */
  hash: string;
  /** Where it came from (file:line or the command line). */
  source: string;
}

export interface ChainSummary {
  chainId: string;
  instanceIds: string[];
  sites: string[];
  firstSeq: number;
  lastSeq: number;
  lastHash: string;
  events: number;
  algs: string[];
  from: number | null;
  to: number | null;
}

export interface VerifyReport {
  ok: boolean;
  problems: Problem[];
  /** Problems not listed (more than maxProblems). */
  problemsDropped: number;
  chains: ChainSummary[];
  events: number;
  /** Rows with no chain members older than their writer's chain: delivered before the chain. */
  beforeChain: { rows: number; from: number | null; to: number | null };
  from: number | null;
  to: number | null;
  /** The head (newest event) over all chains, by time. */
  lastDigest: { chainId: string; seq: number; hash: string } | null;
  notes: string[];
}

export interface VerifierOptions {
  keys?: readonly ChainKey[];
  /** Rows start somewhere inside each chain (a range): do not report the seqs before the first row. */
  partial?: boolean;
  anchors?: readonly Anchor[];
  /** How far (in sequence numbers) a moved row is looked for. */
  window?: number;
  maxProblems?: number;
  /** What the rows are called in messages ("row", "journal record"). */
  label?: string;
}

interface Seen {
  rowId: string;
  storedSeq: number;
  prev: string;
  hash: string;
  /** intact: matches at its stored seq; moved: matches at another seq; bad: matches nowhere. */
  status: "intact" | "moved" | "bad";
  source?: string;
}

interface ChainState {
  id: string;
  instanceIds: Set<string>;
  sites: Set<string>;
  algs: Set<string>;
  keyed: boolean;
  firstSeq: number;
  lastSeq: number;
  lastHash: string;
  lastRowId: string;
  events: number;
  from: number | null;
  to: number | null;
  /** Lowest recorded seq not seen yet. */
  next: number;
  /** Recorded seqs above `next` already seen. */
  ahead: Map<number, Seen>;
  /** The last rows by recorded seq (links are checked between neighbours). */
  recent: Map<number, Seen>;
  searches: number;
  started: boolean;
}

const MAX_SEARCHES_PER_CHAIN = 64;
const MAX_IDS = 20;

function minOf(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.min(a, b);
}
function maxOf(a: number | null, b: number | null): number | null {
  return a === null ? b : b === null ? a : Math.max(a, b);
}

export class ChainVerifier {
  readonly #keys: Map<string, ChainKey>;
  readonly #partial: boolean;
  readonly #window: number;
  readonly #maxProblems: number;
  readonly #label: string;
  readonly #anchors: Anchor[];
  #problems: Problem[] = [];
  #dropped = 0;
  #chains = new Map<string, ChainState>();
  #done: ChainSummary[] = [];
  /** Per instance id: the earliest time a chain of it covers (for unchained rows). */
  #chainStart = new Map<string, number>();
  #events = 0;
  #before = { rows: 0, from: null as number | null, to: null as number | null };
  #from: number | null = null;
  #to: number | null = null;
  #notes: string[] = [];
  /** Hash prefixes of anchors with no chain id, and whether a row matched each. */
  #looseAnchors: Array<{ a: Anchor; found: boolean }>;
  #lastRun: { chain: string; kind: ProblemKind; to: number } | null = null;

  constructor(opts: VerifierOptions = {}) {
    this.#keys = new Map((opts.keys ?? []).map((k) => [k.id, k]));
    this.#partial = opts.partial ?? false;
    this.#window = opts.window ?? 64;
    this.#maxProblems = opts.maxProblems ?? 1000;
    this.#label = opts.label ?? "row";
    this.#anchors = [...(opts.anchors ?? [])];
    this.#looseAnchors = this.#anchors.filter((a) => a.chainId === null).map((a) => ({ a, found: false }));
  }

  /** Add a finding; consecutive ones of one kind in one chain merge into a range. */
  report(p: Problem): void {
    const last = this.#problems.at(-1);
    if (
      last &&
      this.#lastRun &&
      p.chain !== null &&
      p.chain === this.#lastRun.chain &&
      p.kind === this.#lastRun.kind &&
      (p.kind === "modified" || p.kind === "forged" || p.kind === "reordered" || p.kind === "no_key") &&
      p.fromSeq !== null &&
      p.fromSeq <= this.#lastRun.to + 1 &&
      last.kind === p.kind &&
      last.source === p.source
    ) {
      last.toSeq = Math.max(last.toSeq ?? p.toSeq ?? 0, p.toSeq ?? 0);
      for (const id of p.rowIds)
        if (last.rowIds.length < MAX_IDS && !last.rowIds.includes(id)) last.rowIds.push(id);
      last.message = describeRun(last, this.#label);
      this.#lastRun.to = last.toSeq;
      return;
    }
    if (this.#problems.length >= this.#maxProblems) {
      this.#dropped++;
      return;
    }
    this.#problems.push(p);
    this.#lastRun =
      p.chain !== null && p.toSeq !== null ? { chain: p.chain, kind: p.kind, to: p.toSeq } : null;
  }

  /**
   * A finding about one chained row, worded by describeRun (`alg`: the key a no_key row names).
   * The message is set before report(), which may merge the finding into the run before it (and
   * words the run anew) or drop it past maxProblems.
   */
  #rowProblem(kind: ProblemKind, row: ChainRow, fromSeq: number, toSeq: number, alg?: string): void {
    const p: Problem = {
      kind,
      chain: row.chain!.id,
      fromSeq,
      toSeq,
      rowIds: [row.rowId],
      message: "",
      source: row.source,
    };
    p.message = describeRun(p, this.#label, alg);
    this.report(p);
  }

  #hashOf(alg: string, chainId: string, seq: number, prev: string, values: CanonicalValues): string | null {
    if (alg === "sha256") return chainHash(null, chainId, seq, prev, values);
    if (alg.startsWith("hmac-sha256:")) {
      const key = this.#keys.get(alg.slice(12));
      return key ? chainHash(key, chainId, seq, prev, values) : null;
    }
    return null;
  }

  /** A chained row, in (chain, seq, id) order. */
  push(row: ChainRow): void {
    const c = row.chain!;
    let st = this.#chains.get(c.id);
    if (!st) {
      st = {
        id: c.id,
        instanceIds: new Set(),
        sites: new Set(),
        algs: new Set(),
        keyed: false,
        firstSeq: c.seq,
        lastSeq: 0,
        lastHash: GENESIS,
        lastRowId: "",
        events: 0,
        from: null,
        to: null,
        next: this.#partial ? c.seq : 1,
        ahead: new Map(),
        recent: new Map(),
        searches: 0,
        started: false,
      };
      this.#chains.set(c.id, st);
    }
    this.#events++;
    st.events++;
    if (row.instanceId) st.instanceIds.add(row.instanceId);
    if (row.site) st.sites.add(row.site);
    st.algs.add(c.alg);
    st.from = minOf(st.from, row.occurredAt);
    st.to = maxOf(st.to, row.occurredAt);
    this.#from = minOf(this.#from, row.occurredAt);
    this.#to = maxOf(this.#to, row.occurredAt);

    // 1. The row on its own.
    let status: Seen["status"] = "bad";
    let recSeq = c.seq;
    const h = this.#hashOf(c.alg, c.id, c.seq, c.prev, row.values);
    if (h === null && !/^hmac-sha256:[0-9a-f]{16}$/.test(c.alg)) {
      // No writer makes this algorithm name: someone wrote the row without knowing how.
      this.report({
        kind: "forged",
        chain: c.id,
        fromSeq: c.seq,
        toSeq: c.seq,
        rowIds: [row.rowId],
        message: `seq ${c.seq} (${this.#label} ${row.rowId}): unknown chain algorithm ${JSON.stringify(c.alg.slice(0, 40))}: forged`,
        source: row.source,
      });
    } else if (h === null) {
      this.#rowProblem("no_key", row, c.seq, c.seq, c.alg);
      status = "intact"; // cannot be judged; do not report its neighbours because of it
    } else if (h === c.hash) {
      status = "intact";
    } else if (st.searches < MAX_SEARCHES_PER_CHAIN) {
      st.searches++;
      for (let d = 1; d <= this.#window && status === "bad"; d++) {
        for (const s of [c.seq - d, c.seq + d]) {
          if (s >= 1 && this.#hashOf(c.alg, c.id, s, c.prev, row.values) === c.hash) {
            status = "moved";
            recSeq = s;
            break;
          }
        }
      }
    }
    const known = c.alg === "sha256" || /^hmac-sha256:[0-9a-f]{16}$/.test(c.alg);
    if (c.alg.startsWith("hmac-sha256:")) st.keyed = true;
    if (status === "bad" && known) {
      const unkeyed =
        (c.alg === "sha256" && st.keyed) ||
        (c.alg !== "sha256" && chainHash(null, c.id, c.seq, c.prev, row.values) === c.hash);
      this.#rowProblem(unkeyed ? "forged" : "modified", row, c.seq, c.seq);
    } else if (status === "intact" && c.alg === "sha256" && st.keyed && h !== null) {
      // A plain SHA-256 row after keyed ones: someone without the key recomputed it.
      this.#rowProblem("forged", row, c.seq, c.seq);
    } else if (status === "moved") {
      this.#rowProblem("reordered", row, Math.min(c.seq, recSeq), Math.max(c.seq, recSeq));
    }
    const seen: Seen = {
      rowId: row.rowId,
      storedSeq: c.seq,
      prev: c.prev,
      hash: c.hash,
      status,
      source: row.source,
    };

    // 2. Its place: a seq doubled, or seqs missing before it.
    if (recSeq < st.next || st.ahead.has(recSeq)) {
      const other = st.recent.get(recSeq) ?? st.ahead.get(recSeq);
      this.report({
        kind: "inserted",
        chain: c.id,
        fromSeq: recSeq,
        toSeq: recSeq,
        rowIds: other ? [other.rowId, row.rowId] : [row.rowId],
        message: `${this.#label} ${row.rowId} is a second ${this.#label} at seq ${recSeq}${other ? ` (besides ${other.rowId})` : ""}: inserted`,
        source: row.source,
      });
    } else {
      if (recSeq === st.next) {
        st.next++;
        this.#remember(st, recSeq, seen);
        while (st.ahead.has(st.next)) {
          const a = st.ahead.get(st.next)!;
          st.ahead.delete(st.next);
          this.#remember(st, st.next, a);
          st.next++;
        }
      } else {
        st.ahead.set(recSeq, seen);
      }
      // Seqs still missing once rows well past them have come: deleted.
      while (st.ahead.size > 0 && c.seq > st.next + this.#window) this.#gap(st);
    }
    if (recSeq >= st.lastSeq) {
      st.lastSeq = recSeq;
      st.lastHash = c.hash;
      st.lastRowId = row.rowId;
    }
    this.#checkAnchorsAt(st, recSeq, c.hash, row.rowId);
  }

  /** The lowest run of missing seqs: report it, and move on past it. */
  #gap(st: ChainState): void {
    const nextSeen = Math.min(...st.ahead.keys());
    const before = st.recent.get(st.next - 1);
    const after = st.ahead.get(nextSeen)!;
    this.report({
      kind: "deleted",
      chain: st.id,
      fromSeq: st.next,
      toSeq: nextSeen - 1,
      rowIds: [...(before ? [before.rowId] : []), after.rowId],
      message: `seq ${st.next}${nextSeen - 1 > st.next ? `–${nextSeen - 1}` : ""} missing (${nextSeen - st.next} event(s)) ${before ? `between ${this.#label}s ${before.rowId} (seq ${st.next - 1}) and ${after.rowId} (seq ${nextSeen})` : `before ${this.#label} ${after.rowId} (seq ${nextSeen}), the first one`}: deleted`,
      source: after.source,
    });
    st.next = nextSeen;
    while (st.ahead.has(st.next)) {
      const a = st.ahead.get(st.next)!;
      st.ahead.delete(st.next);
      this.#remember(st, st.next, a, true);
      st.next++;
    }
  }

  /** A row now in sequence: check its link to the one before (unless a gap is between them). */
  #remember(st: ChainState, seq: number, s: Seen, afterGap = false): void {
    const prev = st.recent.get(seq - 1);
    if (!afterGap && st.started) {
      const expected = prev ? prev.hash : null;
      if (expected !== null && s.prev !== expected && s.status !== "bad" && prev!.status !== "bad") {
        this.report({
          kind: "relinked",
          chain: st.id,
          fromSeq: seq - 1,
          toSeq: seq,
          rowIds: [prev!.rowId, s.rowId],
          message: `${this.#label} ${s.rowId} (seq ${seq}) does not name the hash of ${prev!.rowId} (seq ${seq - 1}): one of them was replaced by a row with a recomputed hash`,
          source: s.source,
        });
      }
    } else if (!st.started && !this.#partial && seq === 1 && s.prev !== GENESIS && s.status !== "bad") {
      this.report({
        kind: "relinked",
        chain: st.id,
        fromSeq: 1,
        toSeq: 1,
        rowIds: [s.rowId],
        message: `${this.#label} ${s.rowId} is seq 1 but names a previous hash`,
        source: s.source,
      });
    }
    st.started = true;
    st.recent.set(seq, s);
    if (st.recent.size > this.#window * 2) st.recent.delete(seq - this.#window * 2);
  }

  #checkAnchorsAt(st: ChainState, seq: number, hash: string, rowId: string): void {
    for (const la of this.#looseAnchors) {
      if (la.found || !hash.startsWith(la.a.hash)) continue;
      if (la.a.seq !== null && la.a.seq !== seq) continue;
      la.found = true;
    }
    for (const a of this.#anchors) {
      if (a.chainId !== st.id || a.seq !== seq) continue;
      if (!hash.startsWith(a.hash))
        this.report({
          kind: "anchor",
          chain: st.id,
          fromSeq: seq,
          toSeq: seq,
          rowIds: [rowId],
          message: `the ${this.#label} at seq ${seq} (${rowId}) has hash ${hash.slice(0, 16)}…, the anchor (${a.source}) says ${a.hash.slice(0, 16)}…: the chain was rewritten at or before seq ${seq}`,
        });
    }
  }

  #endChain(st: ChainState): void {
    while (st.ahead.size > 0) this.#gap(st);
    for (const a of this.#anchors) {
      if (a.chainId !== st.id || a.seq === null || a.seq <= st.lastSeq) continue;
      this.report({
        kind: "truncated",
        chain: st.id,
        fromSeq: st.lastSeq + 1,
        toSeq: a.seq,
        rowIds: st.lastRowId ? [st.lastRowId] : [],
        message: `the chain ends at seq ${st.lastSeq}${st.lastRowId ? ` (${this.#label} ${st.lastRowId})` : ""} but the anchor (${a.source}) has seq ${a.seq}: seq ${st.lastSeq + 1}–${a.seq} (${a.seq - st.lastSeq} newest event(s)) deleted`,
      });
    }
    const start = st.from ?? Number.POSITIVE_INFINITY;
    for (const inst of st.instanceIds) {
      this.#chainStart.set(inst, Math.min(this.#chainStart.get(inst) ?? Number.POSITIVE_INFINITY, start));
    }
    this.#done.push({
      chainId: st.id,
      instanceIds: [...st.instanceIds],
      sites: [...st.sites],
      firstSeq: st.firstSeq,
      lastSeq: st.lastSeq,
      lastHash: st.lastHash,
      events: st.events,
      algs: [...st.algs],
      from: st.from,
      to: st.to,
    });
  }

  /** Call once all chained rows are in, before unchained ones. */
  endChained(): void {
    for (const st of this.#chains.values()) this.#endChain(st);
    this.#chains.clear();
  }

  /** A row without chain members (after every chained row). */
  pushUnchained(row: ChainRow): void {
    this.endChained();
    const t = maxOf(row.occurredAt, safeIdTime(row.rowId));
    const own = row.instanceId ? this.#chainStart.get(row.instanceId) : undefined;
    const any = this.#chainStart.size ? Math.min(...this.#chainStart.values()) : undefined;
    const start = own ?? any;
    this.#from = minOf(this.#from, row.occurredAt);
    this.#to = maxOf(this.#to, row.occurredAt);
    if (start === undefined || t === null || t < start) {
      this.#before.rows++;
      this.#before.from = minOf(this.#before.from, row.occurredAt);
      this.#before.to = maxOf(this.#before.to, row.occurredAt);
      return;
    }
    this.report(
      looseProblem(
        "inserted",
        `${this.#label} ${row.rowId} (instance ${row.instanceId ?? "?"}, ${row.occurredAt === null ? "no time" : new Date(row.occurredAt).toISOString()}) has no chain members but is newer than the start of ${own !== undefined ? "its instance's chain" : "the chains"} (${new Date(start).toISOString()}): inserted by hand`,
        row.source,
        [row.rowId],
      ),
    );
  }

  note(text: string): void {
    this.#notes.push(text);
  }

  finish(): VerifyReport {
    this.endChained();
    const known = new Set(this.#done.map((c) => c.chainId));
    for (const a of this.#anchors) {
      if (a.chainId !== null && !known.has(a.chainId))
        this.report({
          kind: "truncated",
          chain: a.chainId,
          fromSeq: 1,
          toSeq: a.seq,
          rowIds: [],
          message: `no event of chain ${a.chainId} is left, but the anchor (${a.source}) has seq ${a.seq}: the whole chain was deleted`,
        });
    }
    for (const la of this.#looseAnchors) {
      if (!la.found)
        this.report({
          kind: "anchor",
          chain: null,
          fromSeq: la.a.seq,
          toSeq: la.a.seq,
          rowIds: [],
          message: `no event has the anchor's hash ${la.a.hash}${la.a.seq === null ? "" : ` at seq ${la.a.seq}`} (${la.a.source}): the newest events were deleted or the chain was rewritten`,
        });
    }
    let lastDigest: VerifyReport["lastDigest"] = null;
    let lastTo = Number.NEGATIVE_INFINITY;
    for (const c of this.#done) {
      if (c.lastSeq > 0 && (c.to ?? 0) >= lastTo) {
        lastTo = c.to ?? 0;
        lastDigest = { chainId: c.chainId, seq: c.lastSeq, hash: c.lastHash };
      }
      if (this.#keys.size > 0 && c.algs.every((a) => a === "sha256"))
        this.#notes.push(
          `chain ${c.chainId} has no keyed event: it protects against accidental changes only`,
        );
    }
    return {
      ok: this.#problems.length === 0 && this.#dropped === 0,
      problems: this.#problems,
      problemsDropped: this.#dropped,
      chains: this.#done,
      events: this.#events,
      beforeChain: this.#before,
      from: this.#from,
      to: this.#to,
      lastDigest,
      notes: this.#notes,
    };
  }
}

function safeIdTime(id: string): number | null {
  const t = uuidV7Time(id);
  return Number.isFinite(t) ? t : null;
}

function seqText(p: Problem): string {
  if (p.fromSeq === null) return "";
  return p.toSeq !== null && p.toSeq !== p.fromSeq ? `seq ${p.fromSeq}–${p.toSeq}` : `seq ${p.fromSeq}`;
}

function idsText(ids: string[], label: string): string {
  return `${label}${ids.length > 1 ? "s" : ""} ${ids.join(", ")}${ids.length >= MAX_IDS ? ", …" : ""}`;
}

function describeRun(p: Problem, label: string, alg?: string): string {
  const ids = idsText(p.rowIds, label);
  switch (p.kind) {
    case "modified":
      return `${seqText(p)} (${ids}): the values no longer match the hash: modified`;
    case "forged":
      return `${seqText(p)} (${ids}): hash recomputed without the key (plain SHA-256 in a keyed chain): forged`;
    case "reordered":
      return `${seqText(p)} (${ids}): the rows' hashes match at other positions than where they are stored: reordered`;
    case "no_key":
      return `${seqText(p)} (${ids}): made with key ${alg ?? "?"}, which this verifier was not given: not verified`;
    default:
      return `${seqText(p)} (${ids})`;
  }
}
