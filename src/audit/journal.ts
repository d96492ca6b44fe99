/**
 * The audit journal: append-only segment files on local disk, one length-prefixed, CRC32-checked
 * record per event, with group commit.
 *
 * Record layout (little-endian):
 *   u32 payload length | u32 CRC32 over (the 4 length bytes, then the payload) | payload (UTF-8 JSON)
 *
 * Durability: `append` resolves only after the batch holding its record has been written and
 * `fdatasync`ed (and, for a new segment, the directory fsynced), so an event whose statement result a
 * user saw survives `kill -9` and power loss. Group commit is leader/follower: the first append
 * after an idle moment is written and synced at the end of the current event-loop turn (every
 * append made in that turn shares it); appends that arrive while that sync is in flight form the
 * next batch — with `maxSyncsInFlight` > 1 written and synced at once alongside it (overlapping
 * syncs); batches settle in write order — an append resolves only when its batch
 * and every batch written before it are durable, and a failed batch fails every batch written
 * after it (they are cut away together; the chain is reset to before the first). With one sync in
 * flight at most (the default), the next batch starts when the sync returns — at once if
 * as many are queued as the last batch held, else after at most half the last sync's time (≤ 2 ms)
 * for the rest of that steady load's sessions (see #companions). `groupCommitMs` > 0 replaces this
 * with a fixed wait before each batch.
 *
 * Reading: `read(from, max)` returns the durable records after a position (up to the end that was
 * durable when the read began: the reader never chases the writer record by record). Records made
 * durable by this process are also kept in memory, as the event objects that were sealed, until
 * delivered (bounded: TAIL_MAX): a read that starts where they start takes them from there, with no
 * file read and no JSON parse; any other read (at startup, after a crash, beyond the bound) reads
 * the segment files, through one descriptor kept open per segment. A record cut short at the
 * end of a segment (a crash mid-write) or one whose checksum fails is skipped with one log line;
 * the reader resynchronises on the next valid record. The position the delivery worker has committed
 * is stored in `position.json` (write tmp, fsync, rename, fsync dir) and advances only after delivery;
 * segments entirely before it are removed.
 *
 * Concurrency: one writer (this object) and one reader (the delivery worker) per journal directory;
 * a lock the kernel releases when its owner dies (a listening unix socket, see dir-lock.ts) keeps a
 * second process out. Segments from earlier runs are sealed: every open starts a
 * new segment, so a torn tail is never appended after.
 */
import { closeSync, constants, fdatasync, fsync, open, read as readFd, writeSync } from "node:fs";
import * as fsp from "node:fs/promises";
import { join, resolve } from "node:path";
import { crc32 } from "node:zlib";
import type { Logger } from "pino";
import { PairgateError } from "../protocol/errors.js";
import type { RecordSealer } from "./chain.js";
import { type DirLock, DirLockedError, lockDir } from "./dir-lock.js";
import { replaceFixedSizeFile } from "./state-file.js";

export const JOURNAL_FAILED = "PAIRGATE_AUDIT_JOURNAL_FAILED" as const;

/** The journal could not make a record durable (disk full, permissions, I/O error). */
export class JournalError extends PairgateError {
  /** The system error code behind it, e.g. `ENOSPC`, `EACCES`, `EIO`, or `ELOCKED`. */
  readonly reason: string;
  constructor(message: string, reason: string, options?: { cause?: unknown }) {
    super(JOURNAL_FAILED, message, options);
    this.reason = reason;
  }
}

export interface Position {
  segment: number;
  offset: number;
}

/** The system calls the writer makes, injectable so tests can count fsyncs and inject failures. */
export interface JournalIo {
  write(fd: number, buf: Buffer, offset: number, length: number, position: number): Promise<number>;
  fdatasync(fd: number): Promise<void>;
}

export interface JournalOptions<T = unknown> {
  dir: string;
  logger: Logger;
  /** Longest a lone append waits for companions before its fdatasync (0: next turn of the event loop). */
  groupCommitMs?: number;
  /** Roll to a new segment when the current one would pass this size. */
  segmentBytes?: number;
  /** Flush at once when this many bytes are waiting. */
  maxBatchBytes?: number;
  /**
   * Batches whose fdatasync may be in flight at once (default DEFAULT_SYNCS_IN_FLIGHT): the next
   * batch is written and synced while the previous sync runs; 1 waits for each sync to return.
   */
  maxSyncsInFlight?: number;
  io?: Partial<JournalIo>;
  /**
   * Seals each record as its batch is made durable (the audit hash chain, chain.ts): the members it
   * returns are put first in the record's JSON object; a batch that fails is unsealed.
   */
  sealer?: RecordSealer<T>;
}

export interface JournalStats {
  appends: number;
  batches: number;
  fsyncs: number;
  bytes: number;
  failures: number;
}

export const HEADER_BYTES = 8;
/** Largest payload accepted (a captured statement can be as large as max_allowed_packet). */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024 + 4096;
const SEGMENT_RE = /^seg-(\d{16})\.pgj$/;
const POSITION_FILE = "position.json";
/** The position file always has this size, so it can be rewritten in place on a full disk. */
const POSITION_BYTES = 128;
/** The pid file of earlier versions: ignored (a pid proves nothing), removed when found. */
const LEGACY_LOCK_FILE = "journal.lock";

export function segmentName(n: number): string {
  return `seg-${String(n).padStart(16, "0")}.pgj`;
}

/** Encode one record (header + payload). */
export function encodeRecord(payload: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(HEADER_BYTES + payload.length);
  buf.writeUInt32LE(payload.length, 0);
  payload.copy(buf, HEADER_BYTES);
  buf.writeUInt32LE(recordCrc(buf, 0, payload.length), 4);
  return buf;
}

/** CRC-32 (zlib's polynomial) table for the 4 length bytes, done here instead of a second native call. */
const CRC_TABLE = (() => {
  const t = new Int32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    t[n] = c;
  }
  return t;
})();

function recordCrc(buf: Buffer, at: number, len: number): number {
  // zlib's crc32(length bytes), then continued over the payload: the same value as two native calls.
  let c = -1;
  for (let i = at; i < at + 4; i++) c = CRC_TABLE[(c ^ buf[i]!) & 0xff]! ^ (c >>> 8);
  return crc32(buf.subarray(at + HEADER_BYTES, at + HEADER_BYTES + len), (c ^ -1) >>> 0);
}

/** Is there a complete record with a good checksum at `at`? Returns its payload length or -1. */
function validRecordAt(buf: Buffer, at: number): number {
  if (buf.length - at < HEADER_BYTES) return -1;
  const len = buf.readUInt32LE(at);
  if (len === 0 || len > MAX_RECORD_BYTES || at + HEADER_BYTES + len > buf.length) return -1;
  return recordCrc(buf, at, len) === buf.readUInt32LE(at + 4) ? len : -1;
}

export interface ParsedRecord {
  /** Offset of the record in `buf`. */
  at: number;
  payload: Buffer;
}

export interface SkippedRange {
  kind: "torn" | "corrupt";
  /** Offsets within `buf`: [from, to). */
  from: number;
  to: number;
}

export interface ParseResult {
  records: ParsedRecord[];
  /** Bytes of `buf` fully consumed (records and skipped ranges). */
  consumed: number;
  skipped: SkippedRange[];
  /** The buffer ended inside a record: read at least this many bytes from `consumed` next time. */
  needMore: number;
}

/**
 * Parse records from `buf`. `atEnd`: `buf` reaches the end of what will ever be in this segment, so
 * an incomplete record there is torn. A bad record makes the parser search byte by byte for the next
 * valid one (it needs the rest of the segment for that: with !atEnd it asks for it via needMore).
 * Pure: no I/O, no logging.
 */
export function parseRecords(buf: Buffer, atEnd: boolean, max = Number.POSITIVE_INFINITY): ParseResult {
  const records: ParsedRecord[] = [];
  const skipped: SkippedRange[] = [];
  let off = 0;
  while (records.length < max && off < buf.length) {
    const rem = buf.length - off;
    if (rem < HEADER_BYTES) {
      if (!atEnd) return { records, consumed: off, skipped, needMore: HEADER_BYTES };
      skipped.push({ kind: "torn", from: off, to: buf.length });
      off = buf.length;
      break;
    }
    const len = buf.readUInt32LE(off);
    const plausible = len > 0 && len <= MAX_RECORD_BYTES;
    if (plausible && rem < HEADER_BYTES + len && !atEnd) {
      return { records, consumed: off, skipped, needMore: HEADER_BYTES + len };
    }
    if (plausible && rem >= HEADER_BYTES + len && recordCrc(buf, off, len) === buf.readUInt32LE(off + 4)) {
      records.push({ at: off, payload: buf.subarray(off + HEADER_BYTES, off + HEADER_BYTES + len) });
      off += HEADER_BYTES + len;
      continue;
    }
    // A bad record: find the next valid one. That needs the rest of the segment.
    if (!atEnd) return { records, consumed: off, skipped, needMore: Number.POSITIVE_INFINITY };
    let next = -1;
    // Fast path: the length was right and only the payload is damaged.
    if (plausible && validRecordAt(buf, off + HEADER_BYTES + len) >= 0) next = off + HEADER_BYTES + len;
    for (let j = off + 1; next < 0 && j <= buf.length - HEADER_BYTES; j++) {
      if (validRecordAt(buf, j) >= 0) next = j;
    }
    if (next < 0) {
      // Nothing valid after it: the tail was cut short (or damaged) by a crash mid-write.
      skipped.push({ kind: "torn", from: off, to: buf.length });
      off = buf.length;
      break;
    }
    skipped.push({ kind: "corrupt", from: off, to: next });
    off = next;
  }
  return { records, consumed: off, skipped, needMore: 0 };
}

interface Waiter<T> {
  /** The whole record; with a sealer null (the record is made at flush from `json`). */
  buf: Buffer | null;
  /** The event's JSON (with a sealer; written straight into the batch's buffer at flush). */
  json: string;
  /** The JSON's length in UTF-8 bytes. */
  bytes: number;
  item: T;
  /** The sealer's prepare() result (the chain's canonical values). */
  prepared: unknown;
}

/** The appends of one batch settle together: one promise per batch, not one per event. */
interface Cohort {
  promise: Promise<void>;
  resolve: () => void;
  reject: (e: Error) => void;
}

function newCohort(): Cohort {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export interface ReadResult<T> {
  events: T[];
  /** Where the next read starts; commit it once these events are delivered. */
  next: Position;
}

function errCode(e: unknown): string {
  return (e as NodeJS.ErrnoException)?.code ?? "EUNKNOWN";
}

const defaultIo: JournalIo = {
  // The write goes to the page cache (a few KB per batch, microseconds) on the event loop: through
  // the threadpool it cost a hand-off each way (futex wake-ups and context switches measured as a
  // fifth of the audited path's CPU on 2 vCPUs). The fdatasync, which waits for the disk, stays async.
  write: (fd, buf, offset, length, position) => {
    try {
      return Promise.resolve(writeSync(fd, buf, offset, length, position));
    } catch (e) {
      return Promise.reject(e);
    }
  },
  fdatasync: (fd) =>
    new Promise((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve()))),
};

function openFd(path: string, flags: number): Promise<number> {
  return new Promise((resolve, reject) =>
    open(path, flags, 0o600, (err, fd) => (err ? reject(err) : resolve(fd))),
  );
}

async function fsyncDir(dir: string): Promise<void> {
  const fd = await openFd(dir, constants.O_RDONLY);
  try {
    await new Promise<void>((resolve, reject) => fsync(fd, (err) => (err ? reject(err) : resolve())));
  } finally {
    closeQuiet(fd);
  }
}

function closeQuiet(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}

/**
 * Syncs in flight at once, by default. One: measured side by side under `npm run bench` (8 and 16
 * sessions, point selects, a loaded 2-vCPU machine), two in flight gave no more audited qps
 * (+12 % at 8 sessions, −20 % at 16, within the run-to-run spread of a disk shared with other
 * work) and cost 15–25 % more CPU per audited statement (more fdatasync calls, each a thread-pool
 * hand-off and ~65 µs of kernel time here, for smaller batches). A disk whose syncs take long and
 * overlap well (several in flight finish together) is where two pay: Journal's maxSyncsInFlight.
 */
export const DEFAULT_SYNCS_IN_FLIGHT = 1;

/** A batch ended longer ago than this: the load is not steady, the next append syncs at once. */
const COHORT_WINDOW_MS = 20;

/**
 * Durable events kept in memory for the reader (delivery) at most; older ones are read from disk.
 * A few seconds of a busy audited load (delivery takes them every second); ~10 MB while the primary
 * is away and they pile up.
 */
export const TAIL_MAX = 10_000;

interface TailEntry<T> {
  segment: number;
  offset: number;
  /** Offset just after the record. */
  end: number;
  item: T;
}

/** Journal directories open in this process (a second Journal on one directory is a bug). */
const openDirs = new Set<string>();

export class Journal<T = unknown> {
  readonly dir: string;
  readonly #log: Logger;
  readonly #groupCommitMs: number;
  readonly #segmentBytes: number;
  readonly #maxBatchBytes: number;
  readonly #io: JournalIo;
  readonly #sealer: RecordSealer<T> | null;

  /** Existing segment numbers, ascending. */
  #segments: number[] = [];
  #active = -1;
  #fd: number | null = null;
  /** Durable bytes in the active segment (everything before it is fdatasynced). */
  #size = 0;
  #mustRoll = true;

  #queue: Waiter<T>[] = [];
  /** What the queued appends returned (made with the first of them). */
  #queueCohort: Cohort | null = null;
  #queueBytes = 0;
  /** Batches written whose sync has not settled yet, at most #maxInflight. */
  #inflight = 0;
  readonly #maxInflight: number;
  /** Settles when the newest batch has (each batch settles after the one before it). */
  #settled: Promise<void> = Promise.resolve();
  /** A batch failed: the batches written after it fail with it, and none starts until they have. */
  #failure: JournalError | null = null;
  /** End of what has been written to the active segment (beyond #size while syncs are in flight). */
  #writeEnd = 0;
  #timer: NodeJS.Timeout | NodeJS.Immediate | null = null;
  #timerIsImmediate = false;
  /** Events in the last batch and those queued during its sync, its sync's duration (ms), when it ended. */
  #lastBatch = 1;
  #lastSyncMs = 0;
  #lastFlushEnd = Number.NEGATIVE_INFINITY;

  #committed: Position = { segment: 0, offset: 0 };
  #pending = 0;
  #healthy = true;
  #lastError: JournalError | null = null;
  #closed = false;
  #lock: DirLock | null = null;
  #reported = new Set<string>();
  /** Durable records of this run not yet delivered, in order (from #tailHead on). */
  #tail: TailEntry<T>[] = [];
  #tailHead = 0;
  /** The segment file the reader has open. */
  #readFd: { segment: number; fd: number } | null = null;
  readonly stats: JournalStats = { appends: 0, batches: 0, fsyncs: 0, bytes: 0, failures: 0 };

  private constructor(opts: JournalOptions<T>) {
    this.dir = resolve(opts.dir);
    this.#log = opts.logger;
    this.#groupCommitMs = opts.groupCommitMs ?? 0;
    this.#segmentBytes = opts.segmentBytes ?? 8 * 1024 * 1024;
    this.#maxBatchBytes = opts.maxBatchBytes ?? 1024 * 1024;
    this.#io = { ...defaultIo, ...opts.io };
    this.#sealer = opts.sealer ?? null;
    this.#maxInflight = Math.max(1, opts.maxSyncsInFlight ?? DEFAULT_SYNCS_IN_FLIGHT);
  }

  /**
   * Open (creating the directory if needed), recover the saved position, count the undelivered
   * events and start a new segment. Throws JournalError if the directory is unusable.
   */
  static async open<T = unknown>(opts: JournalOptions<T>): Promise<Journal<T>> {
    const j = new Journal<T>(opts);
    if (openDirs.has(j.dir)) throw new Error(`audit journal ${j.dir} is already open in this process`);
    openDirs.add(j.dir);
    try {
      await j.#init();
    } catch (e) {
      await j.#release();
      throw e;
    }
    return j;
  }

  async #init(): Promise<void> {
    try {
      await fsp.mkdir(this.dir, { recursive: true, mode: 0o700 });
      try {
        this.#lock = await lockDir(this.dir);
      } catch (e) {
        if (e instanceof DirLockedError) throw new JournalError(e.message, "ELOCKED", { cause: e });
        throw e;
      }
      await fsp.rm(join(this.dir, LEGACY_LOCK_FILE), { force: true });
      this.#segments = (await fsp.readdir(this.dir))
        .map((f) => SEGMENT_RE.exec(f)?.[1])
        .filter((s): s is string => s !== undefined)
        .map(Number)
        .sort((a, b) => a - b);
      await fsp.rm(join(this.dir, `${POSITION_FILE}.tmp`), { force: true });
    } catch (e) {
      if (e instanceof JournalError) throw e;
      throw new JournalError(`audit journal ${this.dir}: ${(e as Error).message}`, errCode(e), { cause: e });
    }
    this.#committed = await this.#loadPosition();
    try {
      // Written at once so a full disk later can still overwrite it in place.
      await this.#savePosition(this.#committed);
    } catch (e) {
      this.#log.warn({ err: e, dir: this.dir }, "audit journal: cannot save the position");
    }
    // Count what is still to deliver (this also reports torn or corrupt records once, at startup).
    let pos = this.#committed;
    for (;;) {
      const r = await this.read(pos, 10_000);
      this.#pending += r.events.length;
      if (r.events.length === 0 && samePos(r.next, pos)) break;
      pos = r.next;
    }
    if (this.#sealer) await this.#sealer.recover(await this.#newestRecord());
    try {
      await this.#roll();
      this.#mustRoll = false;
    } catch (e) {
      this.#fail(e);
      this.#log.error({ err: e, dir: this.dir }, "audit journal: cannot start a segment; appends will fail");
    }
  }

  /** The newest readable record on disk (the chain continues after it), or null. */
  async #newestRecord(): Promise<T | null> {
    for (let i = this.#segments.length - 1; i >= 0; i--) {
      const path = join(this.dir, segmentName(this.#segments[i]!));
      let buf: Buffer;
      try {
        buf = await fsp.readFile(path);
      } catch (e) {
        if (errCode(e) === "ENOENT") continue;
        throw new JournalError(`audit journal ${path}: ${(e as Error).message}`, errCode(e), { cause: e });
      }
      const { records } = parseRecords(buf, true);
      for (let k = records.length - 1; k >= 0; k--) {
        try {
          return JSON.parse(records[k]!.payload.toString("utf8")) as T;
        } catch {
          // a damaged record (reported by read()): the one before it
        }
      }
    }
    return null;
  }

  async #loadPosition(): Promise<Position> {
    const first = { segment: this.#segments[0] ?? 0, offset: 0 };
    let text: string;
    try {
      text = await fsp.readFile(join(this.dir, POSITION_FILE), "utf8");
    } catch (e) {
      if (errCode(e) !== "ENOENT")
        this.#log.warn({ err: e }, "audit journal: position unreadable, starting over");
      return first;
    }
    try {
      const p = JSON.parse(text) as Position;
      if (Number.isInteger(p.segment) && Number.isInteger(p.offset) && p.offset >= 0) {
        // Segments before the saved one were delivered; they may be left over if removal was interrupted.
        return { segment: p.segment, offset: p.offset };
      }
    } catch {
      // fall through
    }
    // Starting over is safe: delivery is idempotent on the event id.
    this.#log.warn({ dir: this.dir }, "audit journal: position file damaged, re-reading every segment");
    return first;
  }

  get healthy(): boolean {
    return this.#healthy;
  }

  get lastError(): JournalError | null {
    return this.#lastError;
  }

  /** Undelivered events (durable and after the committed position). */
  pending(): number {
    return this.#pending;
  }

  get committed(): Position {
    return { ...this.#committed };
  }

  /** Segment numbers on disk (for tests and status). */
  segments(): number[] {
    return [...this.#segments];
  }

  /**
   * Make `event` durable. Rejects with JournalError if it could not be written and synced.
   * `json`: the event's JSON.stringify when the caller already made it (the audit facade reuses
   * it for the audit log line): the event is serialised once.
   */
  append(event: T, json?: string): Promise<void> {
    if (this.#closed) return Promise.reject(new JournalError("audit journal is closed", "ECLOSED"));
    let buf: Buffer | null = null;
    let bytes: number;
    let prepared: unknown;
    try {
      json ??= JSON.stringify(event);
      bytes = Buffer.byteLength(json, "utf8");
      if (bytes > MAX_RECORD_BYTES) {
        return Promise.reject(new JournalError(`audit event of ${bytes} bytes is too large`, "E2BIG"));
      }
      // With a sealer the record is made at flush time, once the chain position is known, by
      // writing the JSON text straight into the batch's buffer (no per-event Buffer and copy).
      if (!this.#sealer) buf = encodeRecord(Buffer.from(json, "utf8"));
      prepared = this.#sealer?.prepare(event);
    } catch (e) {
      return Promise.reject(
        new JournalError(`audit event not serialisable: ${(e as Error).message}`, "EINVAL"),
      );
    }
    this.stats.appends++;
    this.#queue.push({ buf, json, bytes, item: event, prepared });
    this.#queueBytes += buf ? buf.length : bytes;
    const cohort = (this.#queueCohort ??= newCohort());
    this.#schedule();
    return cohort.promise;
  }

  /**
   * With groupCommitMs 0: how many appends the next batch waits for (see #schedule). Under a steady
   * load of N sessions, syncing whatever is queued the moment the last sync returns splits them
   * into two cohorts that alternate (each query waits for the other cohort's sync, then its own):
   * N/2 events per sync. Waiting, briefly, until as many appends are queued as were outstanding at
   * the end of the last sync (its batch and those queued meanwhile) merges them: N per sync. After
   * an idle moment the first append is synced at once.
   */
  #companions(): number {
    return performance.now() - this.#lastFlushEnd < COHORT_WINDOW_MS ? this.#lastBatch : 1;
  }

  #schedule(): void {
    if (this.#inflight >= this.#maxInflight || this.#failure !== null) return;
    const overlapping = this.#inflight > 0;
    if (
      this.#timer &&
      !this.#timerIsImmediate &&
      (this.#queueBytes >= this.#maxBatchBytes ||
        (this.#groupCommitMs === 0 && (overlapping || this.#queue.length >= this.#companions())))
    ) {
      // The batch is big enough (or complete): do not wait out the delay.
      clearTimeout(this.#timer as NodeJS.Timeout);
      this.#timer = null;
    }
    if (this.#timer) return;
    let wait = this.#groupCommitMs;
    // A sync already in flight: this batch overlaps it (see #maxInflight) instead of waiting for a cohort.
    if (wait === 0 && !overlapping && this.#queue.length < this.#companions() && this.#lastSyncMs >= 1) {
      // About half the last sync's time (timers have 1 ms steps), ≤ 2 ms: less than the sync it saves.
      wait = Math.min(Math.floor(this.#lastSyncMs / 2) || 1, 2);
    }
    this.#timerIsImmediate = this.#queueBytes >= this.#maxBatchBytes || wait === 0;
    this.#timer = this.#timerIsImmediate ? setImmediate(this.#onTimer) : setTimeout(this.#onTimer, wait);
  }

  readonly #onTimer = (): void => {
    this.#timer = null;
    if (this.#queue.length === 0 || this.#inflight >= this.#maxInflight || this.#failure !== null) return;
    // A new segment (full, or abandoned after a failure) is opened only with no sync in flight:
    // the roll saves the chain's durable head, which must be the head of everything written.
    const batch = this.#queue;
    const bytes = this.#queueBytes;
    const room = this.#sealer ? bytes + batch.length * (HEADER_BYTES + SEAL_BYTES_MAX) : bytes;
    if (this.#inflight > 0 && this.#needsRoll(room)) return;
    const cohort = this.#queueCohort!;
    this.#queue = [];
    this.#queueCohort = null;
    this.#queueBytes = 0;
    this.#inflight++;
    const prev = this.#settled;
    const done = this.#runBatch(batch, cohort, bytes, room, prev);
    this.#settled = done;
    void done.then(() => {
      this.#inflight--;
      if (this.#inflight === 0) {
        // Every batch after a failed one has been cut away with it: writing may start again.
        this.#failure = null;
        this.#writeEnd = this.#size;
      }
      // Appends that arrived meanwhile: the next batch (at once, or once its cohort is in).
      if (this.#queue.length > 0) this.#schedule();
    });
  };

  /**
   * Write and sync one batch, then settle it in write order: its appends resolve only once every
   * batch written before it is durable too (an acknowledged event never follows a lost one). Up to
   * #maxInflight batches run at once: the next one is written and its fdatasync started while the
   * previous sync is still in flight (the kernel joins them into its journal commit), so an
   * audited statement does not wait for another cohort's sync before its own. Never rejects.
   */
  async #runBatch(
    batch: Waiter<T>[],
    cohort: Cohort,
    bytes: number,
    room: number,
    prev: Promise<void>,
  ): Promise<void> {
    const sealer = this.#sealer;
    let mark: unknown;
    let after: unknown;
    /** Each record's length, for the in-memory tail. */
    let lengths: number[] = [];
    let start = 0;
    let len = 0;
    let error: unknown = null;
    const t0 = performance.now();
    try {
      if (sealer) {
        // The segment first (a roll saves the chain's durable head), then the seals, in write order.
        await this.#segmentFor(room);
        mark = sealer.mark();
        const sealed = sealBatch(batch, sealer);
        after = sealer.mark();
        lengths = sealed.lengths;
        start = this.#reserve((len = sealed.buf.length));
        await this.#writeDurable(sealed.buf, start);
      } else {
        await this.#segmentFor(room);
        lengths = batch.map((w) => w.buf!.length);
        const buf =
          batch.length === 1
            ? batch[0]!.buf!
            : Buffer.concat(
                batch.map((w) => w.buf!),
                bytes,
              );
        start = this.#reserve((len = buf.length));
        await this.#writeDurable(buf, start);
      }
    } catch (e) {
      error = e;
    }
    await prev;
    if (error === null && this.#failure !== null) error = this.#failure;
    if (error !== null) {
      if (this.#failure === null) {
        // The first batch that failed: cut it and everything written after it away. Not durable:
        // no sequence number or hash was spent on these events — unless their records could not
        // be cut off again (they may be read and delivered): then the numbers stay spent, so that
        // no two records ever share one.
        this.#failure = this.#fail(error);
        this.#mustRoll = true;
        let untruncated = false;
        if (len > 0 || this.#writeEnd > this.#size) {
          try {
            await fsp.truncate(join(this.dir, segmentName(this.#active)), this.#size);
          } catch (te) {
            untruncated = true;
            this.#log.error({ err: te }, "audit journal: cannot truncate a failed write");
          }
        }
        if (sealer && mark !== undefined && !untruncated) sealer.reset(mark);
      }
      cohort.reject(this.#failure as Error);
      return;
    }
    this.#size = start + len;
    sealer?.durable(after);
    this.#lastFlushEnd = performance.now();
    this.#lastSyncMs = this.#lastFlushEnd - t0;
    // The load this batch saw: its events and those that arrived during its sync. With N sessions
    // each waiting on its statement that is N, whether they came as one cohort or two.
    this.#lastBatch = batch.length + this.#queue.length;
    this.stats.batches++;
    this.stats.bytes += bytes;
    this.#pending += batch.length;
    this.#remember(batch, start, lengths);
    if (!this.#healthy) this.#log.info({ dir: this.dir }, "audit journal: writing again");
    this.#healthy = true;
    cohort.resolve();
  }

  /** Room for `len` bytes after everything written (durable or in flight); returns its offset. */
  #reserve(len: number): number {
    const at = this.#writeEnd;
    this.#writeEnd += len;
    return at;
  }

  /** Keep a durable batch's events for the reader, dropping the oldest past TAIL_MAX. */
  #remember(batch: Waiter<T>[], start: number, lengths: number[]): void {
    const tail = this.#tail;
    const last = tail.length > this.#tailHead ? tail[tail.length - 1]! : null;
    // Only a contiguous run is useful (a read serves entries one after the other): after a roll or
    // a gap (a failed batch cut away) it starts again.
    if (last && (last.segment !== this.#active || last.end !== start)) this.#dropTail();
    let at = start;
    for (let i = 0; i < batch.length; i++) {
      const end = at + lengths[i]!;
      this.#tail.push({ segment: this.#active, offset: at, end, item: batch[i]!.item });
      at = end;
    }
    const live = this.#tail.length - this.#tailHead;
    if (live > TAIL_MAX) this.#tailHead += live - TAIL_MAX;
    if (this.#tailHead > 4096 && this.#tailHead * 2 > this.#tail.length) {
      this.#tail = this.#tail.slice(this.#tailHead);
      this.#tailHead = 0;
    }
  }

  #dropTail(): void {
    this.#tail = [];
    this.#tailHead = 0;
  }

  /** Index of the tail entry starting at `p`, or -1. The entries are in position order. */
  #tailAt(p: Position): number {
    const tail = this.#tail;
    let lo = this.#tailHead;
    let hi = tail.length - 1;
    if (lo > hi) return -1;
    const first = tail[lo]!;
    // All entries share one segment (see #remember).
    if (first.segment !== p.segment || p.offset < first.offset || p.offset > tail[hi]!.offset) return -1;
    while (lo <= hi) {
      const mid = (lo + hi) >> 1;
      const o = tail[mid]!.offset;
      if (o === p.offset) return mid;
      if (o < p.offset) lo = mid + 1;
      else hi = mid - 1;
    }
    return -1;
  }

  #fail(e: unknown): JournalError {
    const err =
      e instanceof JournalError
        ? e
        : new JournalError(`audit journal write failed: ${(e as Error).message}`, errCode(e), { cause: e });
    this.stats.failures++;
    if (this.#healthy) this.#log.error({ err, dir: this.dir }, "audit journal: cannot make events durable");
    this.#healthy = false;
    this.#lastError = err;
    return err;
  }

  /** Would `bytes` more need a new segment (full, none open, or abandoned after a failure)? */
  #needsRoll(bytes: number): boolean {
    // After a failed write the segment is abandoned, unless nothing is in it (a full disk would
    // otherwise leave one empty segment per failed attempt).
    return (
      (this.#mustRoll && this.#writeEnd > 0) ||
      this.#fd === null ||
      (this.#writeEnd > 0 && this.#writeEnd + bytes > this.#segmentBytes)
    );
  }

  /** Roll to a new segment when `bytes` more would not fit in this one (or after a failure). */
  async #segmentFor(bytes: number): Promise<void> {
    if (this.#needsRoll(bytes)) await this.#roll();
    this.#mustRoll = false;
  }

  /** Write `buf` at `at` and fdatasync. A failure is cut away by #runBatch (in write order). */
  async #writeDurable(buf: Buffer, at: number): Promise<void> {
    const fd = this.#fd!;
    let done = 0;
    while (done < buf.length) {
      done += await this.#io.write(fd, buf, done, buf.length - done, at + done);
    }
    this.stats.fsyncs++;
    await this.#io.fdatasync(fd);
  }

  async #roll(): Promise<void> {
    this.#dropTail();
    if (this.#fd !== null) {
      closeQuiet(this.#fd);
      this.#fd = null;
    }
    const n = Math.max(this.#active, this.#segments.at(-1) ?? 0, this.#committed.segment) + 1;
    // The chain's head goes to disk before a segment that may hold the next events exists: the
    // older segments can be removed once delivered, the head stays known.
    await this.#sealer?.beforeSegment(n);
    const fd = await openFd(
      join(this.dir, segmentName(n)),
      constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL,
    );
    this.#segments.push(n);
    this.#active = n;
    this.#fd = fd;
    this.#size = 0;
    this.#writeEnd = 0;
    this.stats.fsyncs++;
    await fsyncDir(this.dir);
  }

  /**
   * Read up to `max` durable events after `from`. Skips torn and corrupt records (logging each once).
   * Never returns a record of the active segment beyond what has been fdatasynced.
   */
  async read(from: Position, max: number): Promise<ReadResult<T>> {
    const t = max > 0 ? this.#tailAt(from) : -1;
    if (t >= 0) {
      // What this process made durable, still in memory: no file read, no parse.
      const stop = Math.min(this.#tail.length, t + max);
      const events: T[] = new Array(stop - t);
      for (let i = t; i < stop; i++) events[i - t] = this.#tail[i]!.item;
      const lastEntry = this.#tail[stop - 1]!;
      return { events, next: { segment: lastEntry.segment, offset: lastEntry.end } };
    }
    const events: T[] = [];
    let pos = { ...from };
    // The durable end of the active segment when the read began: appends made durable during it
    // are left to the next read (chasing them made one file read per group commit).
    const activeEnd = this.#size;
    const active = this.#active;
    while (events.length < max) {
      const idx = this.#segments.findIndex((s) => s >= pos.segment);
      if (idx < 0) break;
      const seg = this.#segments[idx]!;
      if (seg !== pos.segment) pos = { segment: seg, offset: 0 };
      const sealed = seg !== this.#active;
      const path = join(this.dir, segmentName(seg));
      let limit: number;
      if (sealed) {
        try {
          limit = (await fsp.stat(path)).size;
        } catch (e) {
          if (errCode(e) !== "ENOENT") throw e;
          limit = 0;
        }
      } else {
        limit = seg === active ? activeEnd : this.#size;
      }
      if (pos.offset >= limit) {
        if (sealed && idx + 1 < this.#segments.length) {
          pos = { segment: this.#segments[idx + 1]!, offset: 0 };
          continue;
        }
        break;
      }
      // Read a chunk; grow it when a record spans its end.
      let want = Math.min(limit - pos.offset, 1024 * 1024);
      let parsed: ParseResult;
      let chunk: Buffer;
      for (;;) {
        chunk = await this.#readRange(seg, path, pos.offset, want);
        const atEnd = pos.offset + chunk.length >= limit && sealed;
        parsed = parseRecords(chunk, atEnd, max - events.length);
        if (parsed.needMore === 0 || parsed.consumed > 0 || parsed.records.length > 0) break;
        if (pos.offset + want >= limit) {
          // The active segment's durable part always ends on a record boundary; anything else is damage.
          parsed = parseRecords(chunk, true, max - events.length);
          break;
        }
        want = Math.min(limit - pos.offset, Math.max(want * 2, parsed.needMore));
      }
      for (const r of parsed.records) {
        try {
          events.push(JSON.parse(r.payload.toString("utf8")) as T);
        } catch (e) {
          this.#report(seg, pos.offset + r.at, "corrupt", r.payload.length + HEADER_BYTES, e);
        }
      }
      for (const s of parsed.skipped) this.#report(seg, pos.offset + s.from, s.kind, s.to - s.from);
      pos = { segment: seg, offset: pos.offset + parsed.consumed };
    }
    return { events, next: pos };
  }

  #report(segment: number, offset: number, kind: string, bytes: number, err?: unknown): void {
    const key = `${segment}:${offset}`;
    if (this.#reported.has(key)) return;
    this.#reported.add(key);
    this.#log.warn(
      { dir: this.dir, segment: segmentName(segment), offset, bytes, kind, err },
      kind === "torn"
        ? "audit journal: torn record at the end of a segment skipped (a write cut short by a crash)"
        : "audit journal: corrupt record skipped (checksum mismatch)",
    );
  }

  /**
   * Record that everything before `next` has been delivered (`count` events): save the position
   * atomically, then remove fully delivered segments.
   */
  async commit(next: Position, count: number): Promise<void> {
    await this.#savePosition(next);
    this.#committed = { ...next };
    this.#pending = Math.max(0, this.#pending - count);
    const tail = this.#tail;
    while (this.#tailHead < tail.length) {
      const e = tail[this.#tailHead]!;
      if (e.segment > next.segment || (e.segment === next.segment && e.offset >= next.offset)) break;
      this.#tailHead++;
    }
    if (this.#tailHead === tail.length) this.#dropTail();
    const gone = this.#segments.filter((s) => s < next.segment && s !== this.#active);
    for (const s of gone) {
      if (this.#readFd?.segment === s) this.#closeReader();
      try {
        await fsp.rm(join(this.dir, segmentName(s)), { force: true });
      } catch (e) {
        this.#log.warn(
          { err: e, segment: segmentName(s) },
          "audit journal: cannot remove a delivered segment",
        );
        continue;
      }
      this.#segments = this.#segments.filter((x) => x !== s);
    }
  }

  /**
   * Save the position: a fixed-size record written to a temporary file, fsynced and renamed over
   * the old one. When the disk is full (no room for the temporary file) the existing file is
   * overwritten in place instead (same size, one sector), so delivery can still advance and free
   * the delivered segments.
   */
  async #savePosition(p: Position): Promise<void> {
    const text = JSON.stringify({ segment: p.segment, offset: p.offset, savedAt: Date.now() }).padEnd(
      POSITION_BYTES - 1,
      " ",
    );
    await replaceFixedSizeFile(join(this.dir, POSITION_FILE), Buffer.from(`${text}\n`), () =>
      fsyncDir(this.dir),
    );
  }

  /** Wait for queued appends to be synced (or fail). */
  async flush(): Promise<void> {
    while (this.#queue.length > 0 || this.#inflight > 0 || this.#timer) {
      if (this.#inflight > 0) await this.#settled;
      else if (this.#timer) {
        if (this.#timerIsImmediate) clearImmediate(this.#timer as NodeJS.Immediate);
        else clearTimeout(this.#timer as NodeJS.Timeout);
        this.#timer = null;
        this.#onTimer();
      } else this.#onTimer();
    }
  }

  /** Flush, then close the segment and release the lock. Later appends reject. */
  async close(): Promise<void> {
    if (this.#closed) return;
    await this.flush();
    this.#closed = true;
    await this.#release();
  }

  /**
   * Read `length` bytes of segment `seg` at `offset` (fewer at its end), through a descriptor kept
   * open while the reader stays in that segment.
   */
  async #readRange(seg: number, path: string, offset: number, length: number): Promise<Buffer> {
    if (this.#readFd?.segment !== seg) {
      this.#closeReader();
      this.#readFd = { segment: seg, fd: await openFd(path, constants.O_RDONLY) };
    }
    const fd = this.#readFd.fd;
    const buf = Buffer.allocUnsafe(length);
    let got = 0;
    while (got < length) {
      const n = await new Promise<number>((resolve, reject) =>
        readFd(fd, buf, got, length - got, offset + got, (err, k) => (err ? reject(err) : resolve(k))),
      );
      if (n === 0) break;
      got += n;
    }
    return got === length ? buf : buf.subarray(0, got);
  }

  #closeReader(): void {
    if (this.#readFd) closeQuiet(this.#readFd.fd);
    this.#readFd = null;
  }

  async #release(): Promise<void> {
    this.#closeReader();
    this.#dropTail();
    if (this.#fd !== null) closeQuiet(this.#fd);
    this.#fd = null;
    const lock = this.#lock;
    this.#lock = null;
    await lock?.release();
    openDirs.delete(this.dir);
  }
}

/** Longest chain member text a sealer adds to a record (checked in sealBatch). */
export const SEAL_BYTES_MAX = 512;

/**
 * The batch's records with the seal members put first in each JSON object: `{` + seal + `,` + the
 * rest of the payload. One buffer, one CRC per record, no JSON parse or re-encode.
 */
function sealBatch<T>(batch: Waiter<T>[], sealer: RecordSealer<T>): { buf: Buffer; lengths: number[] } {
  const seals = batch.map((w) => sealer.seal(w.item, w.prepared));
  let total = 0;
  for (let i = 0; i < batch.length; i++) {
    const s = seals[i]!;
    if (s.length > SEAL_BYTES_MAX) throw new Error(`seal of ${s.length} bytes`);
    total += HEADER_BYTES + batch[i]!.bytes + s.length + 1;
  }
  const out = Buffer.allocUnsafe(total);
  const lengths: number[] = new Array(batch.length);
  let at = 0;
  for (let i = 0; i < batch.length; i++) {
    const w = batch[i]!;
    const s = seals[i]!;
    let o = at + HEADER_BYTES;
    out[o++] = 0x7b; // {
    o += out.write(s, o, "latin1");
    if (w.bytes > 2) {
      // The JSON written whole, its `{` then overwritten by the comma after the seal.
      out.write(w.json, o, "utf8");
      out[o] = 0x2c; // ,
      o += w.bytes;
    } else {
      out[o++] = 0x7d; // an empty object `{}`: no comma after the seal
    }
    const len = o - at - HEADER_BYTES;
    out.writeUInt32LE(len, at);
    out.writeUInt32LE(recordCrc(out, at, len), at + 4);
    lengths[i] = o - at;
    at = o;
  }
  return { buf: at === total ? out : out.subarray(0, at), lengths };
}

function samePos(a: Position, b: Position): boolean {
  return a.segment === b.segment && a.offset === b.offset;
}
