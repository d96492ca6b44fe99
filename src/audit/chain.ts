/**
 * The audit hash chain: each event a writer (one journal, i.e. one pairgate instance) makes durable
 * carries its chain's id, a sequence number, the previous event's hash and its own hash:
 *
 *   hash = H( "pairgate-audit-chain-v1" | chain id | seq | prev | canonical(row) )
 *
 * H is HMAC-SHA-256 with a key read from a file or an environment variable (never from the
 * config file), or plain SHA-256 when no key is configured. `canonical(row)` is a compact binary
 * encoding of exactly the values the delivered row holds (eventRow in delivery.ts), so the hash can
 * be recomputed from the audit table alone, from the journal, or from a dump.
 *
 * The writer (ChainWriter) is called by the journal as a RecordSealer: `seal()` once per event, in
 * the order the batch is written, inside the group commit; `reset()` undoes a batch that could not
 * be made durable, so a sequence number is never skipped and a hash never names an event that was
 * not written. The head is saved in `chain.json` (next to the segments) before each new segment is
 * created, so it survives the removal of delivered segments; at open the newest record on disk wins.
 *
 * Cost per event: one HMAC (or SHA-256) over ~200 bytes written into a reused buffer; the JSON the
 * journal stores is the one it made anyway, with the chain members put in front of it.
 */
import { createHash, createHmac, hash as oneShot, randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { join, resolve } from "node:path";
import type { AuditEvent } from "./event.js";
import { replaceFixedSizeFile } from "./state-file.js";

/** The chain members every sealed event carries (journal record and audit table row). */
export interface ChainFields {
  /** The chain (writer) id: random, made once per journal folder. */
  id: string;
  /** 1, 2, 3, … with no gap, per chain. */
  seq: number;
  /** Hex SHA-256/HMAC of the previous event of this chain (64 zeros for seq 1). */
  prev: string;
  hash: string;
  /** "sha256" or "hmac-sha256:<key id>". */
  alg: string;
}

export const GENESIS = "0".repeat(64);
const DOMAIN = Buffer.from("pairgate-audit-chain-v1\0", "latin1");
const STATE_FILE = "chain.json";
const STATE_BYTES = 256;

/** A chain key: the secret and a public id derived from it (which key made a row's hash). */
export interface ChainKey {
  key: Buffer;
  /** 16 hex digits of HMAC(key, "pairgate audit chain key id"): names the key without revealing it. */
  id: string;
}

export function makeChainKey(secret: Buffer): ChainKey {
  if (secret.length < 16) throw new Error("the audit chain key must be at least 16 bytes");
  const id = createHmac("sha256", secret).update("pairgate audit chain key id").digest("hex").slice(0, 16);
  return { key: secret, id };
}

export interface ChainKeySource {
  /** A file holding the key (its bytes, trailing newline removed). */
  keyFile?: string;
  /** The name of an environment variable holding the key. */
  keyEnv?: string;
}

/**
 * Read the key a config names (file or environment variable). Null when none is named.
 * Throws with a message that names the source (never the key) when it is named but unusable.
 */
export function loadChainKey(
  src: ChainKeySource,
  baseDir = process.cwd(),
  env: NodeJS.ProcessEnv = process.env,
): ChainKey | null {
  if (src.keyFile) {
    const path = resolve(baseDir, src.keyFile);
    let raw: Buffer;
    try {
      raw = readFileSync(path);
    } catch (e) {
      throw new Error(`audit chain key file ${path}: ${(e as Error).message}`);
    }
    return makeChainKey(trimNewline(raw));
  }
  if (src.keyEnv) {
    const v = env[src.keyEnv];
    if (v === undefined || v === "")
      throw new Error(`audit chain key: environment variable ${src.keyEnv} is not set`);
    return makeChainKey(Buffer.from(v, "utf8"));
  }
  return null;
}

function trimNewline(b: Buffer): Buffer {
  let end = b.length;
  while (end > 0 && (b[end - 1] === 0x0a || b[end - 1] === 0x0d)) end--;
  return b.subarray(0, end);
}

export function algOf(key: ChainKey | null): string {
  return key ? `hmac-sha256:${key.id}` : "sha256";
}

/**
 * Values of a row in canonical order: what eventRow (delivery.ts) produces, i.e. the table's
 * columns id … detail. Strings or null; duration_ms as its decimal text.
 */
export type CanonicalValues = ReadonlyArray<string | number | null | undefined>;

/** A growable scratch buffer: the canonical encoding is written here, hashed, never kept. */
let scratch = Buffer.allocUnsafe(4096);
/** 64 bytes for HMAC's inner pad in front of the message, 64 + 32 for the outer hash. */
const PAD = 64;
const outer = Buffer.allocUnsafe(PAD + 32);
const padsOf = new WeakMap<ChainKey, { ipad: Buffer; opad: Buffer }>();

/** HMAC's key pads (RFC 2104), made once per key. */
function pads(key: ChainKey): { ipad: Buffer; opad: Buffer } {
  let p = padsOf.get(key);
  if (!p) {
    const k = Buffer.alloc(PAD);
    (key.key.length > PAD ? createHash("sha256").update(key.key).digest() : key.key).copy(k);
    p = { ipad: Buffer.from(k.map((x) => x ^ 0x36)), opad: Buffer.from(k.map((x) => x ^ 0x5c)) };
    padsOf.set(key, p);
  }
  return p;
}

const NON_ASCII = /[^\x00-\x7f]/;

/**
 * The hash of one event: HMAC-SHA-256 (with a key) or SHA-256 over
 *   the domain tag | u32 BE byte length of the chain id | the chain id | seq (u64 BE) | prev (32 bytes)
 *   | per value: 0x00 (NULL) or 0x01 + u32 BE byte length | then the values' UTF-8 bytes, one after another.
 * Lengths first and the bytes in one piece: on the journal's hot path that is one Buffer write for
 * all the text (the values are ASCII nearly always), not one per value, and one-shot hashes (HMAC
 * from its definition with two) instead of a Hash object per event.
 */
export function chainHash(
  key: ChainKey | null,
  chainId: string,
  seq: number,
  prev: string,
  values: CanonicalValues,
): string {
  let text = "";
  for (const v of values) if (v != null) text += typeof v === "string" ? v : String(v);
  const ascii = !NON_ASCII.test(text);
  const need = PAD + DOMAIN.length + 4 + chainId.length + 8 + 32 + values.length * 5 + text.length * 3;
  if (scratch.length < need) scratch = Buffer.allocUnsafe(Math.max(need, scratch.length * 2));
  const b = scratch;
  // With a key the message starts after the inner pad; without one at 0.
  const start = key ? PAD : 0;
  if (key) pads(key).ipad.copy(b, 0);
  let o = start + DOMAIN.copy(b, start);
  const idLen = b.write(chainId, o + 4, "utf8");
  b.writeUInt32BE(idLen, o);
  o += 4 + idLen;
  b.writeUInt32BE(Math.floor(seq / 0x100000000), o);
  b.writeUInt32BE(seq >>> 0, o + 4);
  o += 8;
  o += b.write(prev, o, 32, "hex");
  for (const v of values) {
    if (v == null) {
      b[o++] = 0;
      continue;
    }
    const s = typeof v === "string" ? v : String(v);
    b[o] = 1;
    b.writeUInt32BE(ascii ? s.length : Buffer.byteLength(s, "utf8"), o + 1);
    o += 5;
  }
  if (ascii) o += b.write(text, o, "latin1");
  // Value by value: a lone surrogate at the end of one and the start of the next must not pair up.
  else for (const v of values) if (v != null) o += b.write(typeof v === "string" ? v : String(v), o, "utf8");
  if (!key) return oneShot("sha256", b.subarray(0, o), "hex");
  // HMAC(K, m) = H((K ^ opad) | H((K ^ ipad) | m))
  const inner = oneShot("sha256", b.subarray(0, o), "hex");
  pads(key).opad.copy(outer, 0);
  outer.write(inner, PAD, 32, "hex");
  return oneShot("sha256", outer, "hex");
}

/** What the journal asks of the chain (src/audit/journal.ts calls it; nothing else does). */
export interface RecordSealer<T> {
  /**
   * At append, outside the batch: what seal() will need (the canonical values). May throw: only
   * this item's append fails, never its batch.
   */
  prepare(item: T): unknown;
  /** The JSON members to put first in `item`'s record (no braces, no trailing comma); advances the head. */
  seal(item: T, prepared: unknown): string;
  /** The head before a batch, for reset(). */
  mark(): unknown;
  /** Undo the seals since `mark`: the batch was not made durable. */
  reset(mark: unknown): void;
  /** The batch sealed so far is durable; `head`: up to that mark() only (later batches are still in flight). */
  durable(head?: unknown): void;
  /** A new segment numbered `segment` is about to be created: persist the durable head. */
  beforeSegment(segment: number): Promise<void>;
  /** At open, with the newest record found in the journal (null when none). */
  recover(last: T | null): Promise<void>;
}

export interface ChainHead {
  chainId: string;
  seq: number;
  hash: string;
  alg: string;
  /** When the event at `seq` was made durable (ms), null if not in this run. */
  at: number | null;
}

interface HeadState {
  seq: number;
  hash: string;
}

/**
 * One writer's chain. `rowValues` maps an event to its canonical values (eventRow, injected to keep
 * this module free of delivery's imports).
 */
export class ChainWriter implements RecordSealer<AuditEvent> {
  readonly #dir: string;
  readonly #key: ChainKey | null;
  readonly #alg: string;
  readonly #rowValues: (e: AuditEvent) => CanonicalValues;
  #chainId = "";
  #head: HeadState = { seq: 0, hash: GENESIS };
  #durable: HeadState = { seq: 0, hash: GENESIS };
  #durableAt: number | null = null;

  constructor(opts: { dir: string; key: ChainKey | null; rowValues: (e: AuditEvent) => CanonicalValues }) {
    this.#dir = opts.dir;
    this.#key = opts.key;
    this.#alg = algOf(opts.key);
    this.#rowValues = opts.rowValues;
  }

  get alg(): string {
    return this.#alg;
  }

  /** The newest durable event of this chain (seq 0: nothing recorded yet). */
  head(): ChainHead {
    return {
      chainId: this.#chainId,
      seq: this.#durable.seq,
      hash: this.#durable.hash,
      alg: this.#alg,
      at: this.#durableAt,
    };
  }

  prepare(e: AuditEvent): CanonicalValues {
    return this.#rowValues(e);
  }

  seal(e: AuditEvent, prepared: unknown = this.#rowValues(e)): string {
    const seq = this.#head.seq + 1;
    const prev = this.#head.hash;
    const hash = chainHash(this.#key, this.#chainId, seq, prev, prepared as CanonicalValues);
    this.#head = { seq, hash };
    e.chain = { id: this.#chainId, seq, prev, hash, alg: this.#alg };
    return `"chain":{"id":"${this.#chainId}","seq":${seq},"prev":"${prev}","hash":"${hash}","alg":"${this.#alg}"}`;
  }

  mark(): unknown {
    return this.#head;
  }

  reset(mark: unknown): void {
    this.#head = mark as HeadState;
  }

  durable(head?: unknown): void {
    this.#durable = (head as HeadState | undefined) ?? this.#head;
    this.#durableAt = Date.now();
  }

  async beforeSegment(segment: number): Promise<void> {
    // Fixed size, so that on a full disk it can be overwritten in place (as position.json is).
    const text = `${JSON.stringify({ chainId: this.#chainId, seq: this.#durable.seq, hash: this.#durable.hash, segment, savedAt: Date.now() })}`;
    const data = Buffer.from(`${text.padEnd(STATE_BYTES - 1, " ")}\n`);
    // The directory's fsync follows in the journal's roll (it creates the segment next).
    await replaceFixedSizeFile(join(this.#dir, STATE_FILE), data);
  }

  async recover(last: AuditEvent | null): Promise<void> {
    let state: { chainId?: unknown; seq?: unknown; hash?: unknown } | null = null;
    try {
      state = JSON.parse(await fsp.readFile(join(this.#dir, STATE_FILE), "utf8"));
    } catch {
      state = null; // none yet, or damaged: the journal's newest record (if any) says where we are
    }
    const fromState =
      state &&
      typeof state.chainId === "string" &&
      /^[0-9a-f]{32}$/.test(state.chainId) &&
      Number.isSafeInteger(state.seq) &&
      typeof state.hash === "string" &&
      /^[0-9a-f]{64}$/.test(state.hash)
        ? { chainId: state.chainId, seq: state.seq as number, hash: state.hash }
        : null;
    const c = last?.chain;
    const fromJournal = c && /^[0-9a-f]{32}$/.test(c.id) ? { chainId: c.id, seq: c.seq, hash: c.hash } : null;
    let pick = fromState;
    if (fromJournal && (!pick || pick.chainId !== fromJournal.chainId || fromJournal.seq >= pick.seq))
      pick = fromJournal;
    if (pick) {
      this.#chainId = pick.chainId;
      this.#head = { seq: pick.seq, hash: pick.hash };
    } else {
      this.#chainId = randomBytes(16).toString("hex");
      this.#head = { seq: 0, hash: GENESIS };
    }
    this.#durable = this.#head;
  }
}
