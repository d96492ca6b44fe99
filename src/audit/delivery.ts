/**
 * Delivery: drains the journal into the primary's audit table, exactly once.
 *
 * Each batch is one transaction on the primary: a multi-row `INSERT IGNORE` keyed by the event id
 * (a re-delivered event is a no-op), plus the replay of any captured writes. The journal position
 * is saved only after COMMIT, so a crash between the two re-delivers a batch the table already
 * holds, and the key makes that harmless. Several pairgate instances (one journal each) deliver into
 * the same table: their ids never collide (UUIDv7 with 74 random/counter bits).
 *
 * Captured writes (`captured_write` events, the application's own INSERTs taken during read-only
 * mode) are replayed in the same transaction, with their id recorded in `pairgate_replayed` (next to
 * the audit table) first; an id already there is skipped. The statement runs with the session
 * timestamp set to the time it was captured, so NOW() and CURRENT_TIMESTAMP defaults keep that time.
 * A replay the server refuses (duplicate key, missing table, privileges) is rolled back to a
 * savepoint and recorded with outcome `error`, so one bad statement never blocks the journal.
 *
 * While the primary is down, attempts fail fast and back off; nothing is lost or reordered.
 *
 * Each row carries its event's hash-chain members (chain_id, chain_seq, chain_prev, chain_hash,
 * chain_alg; chain.ts). A table made by an earlier version is migrated once, before the first
 * batch: the five columns and an index are added (ALTER TABLE … ADD COLUMN, instant on MariaDB ≥
 * 10.3 for the columns; the index is built online). Rows already there keep NULL chain members:
 * `pairgate audit verify` reports them as "before the chain".
 */
import type { Connection, QueryResult, ResultSetHeader, RowDataPacket } from "mysql2/promise";
import type { Logger } from "pino";
import type { ChainFields } from "./chain.js";
import type { AuditEvent } from "./event.js";
import type { Journal, Position } from "./journal.js";

export interface DeliveryHooks {
  /** Called after a batch's COMMIT and before the journal position is saved (tests simulate a crash here). */
  afterCommit?: (events: readonly AuditEvent[]) => void | Promise<void>;
}

export interface DeliveryOptions {
  journal: Journal<AuditEvent>;
  /** `schema.table` of the audit table. */
  table: string;
  /** A new connection to the primary with the service account. */
  connect: () => Promise<Connection>;
  logger: Logger;
  batchSize: number;
  intervalMs: number;
  /** Deadline of each statement on the primary (default 15 s). */
  queryTimeoutMs?: number;
  /** Longest wait between attempts while the primary cannot be reached. */
  maxBackoffMs?: number;
  hooks?: DeliveryHooks;
}

export interface DeliveryStartOptions {
  /** The topology's view; no periodic attempt is made while it returns false. */
  isPrimaryUp?: () => boolean;
}

/** Column sizes, so an oversized value is cut rather than refused in strict mode. */
const LIMITS = {
  operation: 64,
  outcome: 16,
  db_user: 255,
  client_addr: 255,
  backend: 16,
  object: 255,
  object_key: 255,
  app_user: 255,
  digest: 64,
  session_id: 64,
  instance_id: 128,
  site: 128,
} as const;

/** The columns the chain hash covers, in the row's order (id … detail): delivery writes them, verify reads them. */
export const HASHED_COLUMN_NAMES = [
  "id",
  "occurred_at",
  "operation",
  "outcome",
  "db_user",
  "client_addr",
  "backend",
  "object",
  "object_key",
  "app_user",
  "digest",
  "session_id",
  "instance_id",
  "site",
  "duration_ms",
  "detail",
] as const;

/** Columns the chain added (in this order), after the hashed ones. */
export const CHAIN_COLUMNS = ["chain_id", "chain_seq", "chain_prev", "chain_hash", "chain_alg"] as const;

const COLUMNS = [...HASHED_COLUMN_NAMES, ...CHAIN_COLUMNS] as const;

/** How many of a row's leading values the chain hash covers (id … detail). */
export const HASHED_COLUMNS = COLUMNS.length - CHAIN_COLUMNS.length;

const CHAIN_COLUMN_DDL: Record<(typeof CHAIN_COLUMNS)[number], string> = {
  chain_id:
    "chain_id CHAR(32) CHARACTER SET ascii NULL COMMENT 'hash chain (writer) id; NULL: delivered before the chain'",
  chain_seq: "chain_seq BIGINT UNSIGNED NULL COMMENT 'position in the chain: 1, 2, 3, ...'",
  chain_prev:
    "chain_prev CHAR(64) CHARACTER SET ascii NULL COMMENT 'hash of the previous event of the chain'",
  chain_hash:
    "chain_hash CHAR(64) CHARACTER SET ascii NULL COMMENT 'SHA-256 or HMAC-SHA-256 over the row and chain_prev'",
  chain_alg: "chain_alg VARCHAR(40) CHARACTER SET ascii NULL COMMENT 'sha256 or hmac-sha256:<key id>'",
};
const CHAIN_INDEX = "ix_pairgate_audit_chain";

/** Split an identifier like `schema.table` (backticks allowed) and quote each part. */
export function quoteQualified(name: string): { schema: string | null; table: string; sql: string } {
  const parts = name.replace(/`/g, "").split(".");
  const table = parts.pop()!;
  const schema = parts.length ? parts.join(".") : null;
  const q = (s: string) => `\`${s.replace(/`/g, "``")}\``;
  return { schema, table, sql: schema ? `${q(schema)}.${q(table)}` : q(table) };
}

export function auditTableDdl(qualified: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualified} (
  id CHAR(36) NOT NULL COMMENT 'UUIDv7 event id: time-ordered, unique across pairgate instances',
  occurred_at DATETIME(3) NOT NULL COMMENT 'UTC',
  operation VARCHAR(64) NOT NULL,
  outcome VARCHAR(16) NOT NULL,
  db_user VARCHAR(255) NULL,
  client_addr VARCHAR(255) NULL,
  backend VARCHAR(16) NULL,
  object VARCHAR(255) NULL,
  object_key VARCHAR(255) NULL,
  app_user VARCHAR(255) NULL,
  digest VARCHAR(64) NULL,
  session_id VARCHAR(64) NULL,
  instance_id VARCHAR(128) NOT NULL,
  site VARCHAR(128) NOT NULL,
  duration_ms BIGINT NULL,
  detail MEDIUMTEXT NULL COMMENT 'JSON',
  delivered_at DATETIME(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
  ${CHAIN_COLUMNS.map((c) => CHAIN_COLUMN_DDL[c]).join(",\n  ")},
  PRIMARY KEY (id),
  KEY ${CHAIN_INDEX} (chain_id, chain_seq),
  KEY ix_pairgate_audit_time (occurred_at),
  KEY ix_pairgate_audit_op (operation, occurred_at),
  KEY ix_pairgate_audit_instance (instance_id, occurred_at)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='pairgate audit events'`;
}

export function replayedTableDdl(qualified: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualified} (
  id CHAR(36) NOT NULL COMMENT 'id of the captured_write event',
  instance_id VARCHAR(128) NOT NULL,
  replayed_at DATETIME(3) NOT NULL COMMENT 'UTC',
  outcome VARCHAR(16) NOT NULL,
  error TEXT NULL,
  PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COMMENT='pairgate: captured writes already replayed'`;
}

function clip(v: string | null | undefined, n: number): string | null {
  if (v === null || v === undefined) return null;
  return v.length > n ? v.slice(0, n) : v;
}

let lastMs = Number.NaN;
let lastDatetime = "";

/** `YYYY-MM-DD HH:MM:SS.mmm` in UTC, for a DATETIME(3). (The events of one group commit mostly share their millisecond.) */
export function utcDatetime(ms: number): string {
  if (ms === lastMs) return lastDatetime;
  const iso = new Date(ms).toISOString(); // 2024-01-02T03:04:05.678Z
  lastMs = ms;
  lastDatetime = `${iso.slice(0, 10)} ${iso.slice(11, 23)}`;
  return lastDatetime;
}

/** The ALTER TABLE that adds what `missing` lacks of the chain columns (and their index). */
export function chainMigrationDdl(
  qualified: string,
  missing: readonly string[],
  indexMissing: boolean,
): string {
  const parts = CHAIN_COLUMNS.filter((c) => missing.includes(c)).map(
    (c) => `ADD COLUMN ${CHAIN_COLUMN_DDL[c]}`,
  );
  if (indexMissing) parts.push(`ADD KEY ${CHAIN_INDEX} (chain_id, chain_seq)`);
  return `ALTER TABLE ${qualified} ${parts.join(", ")}`;
}

/**
 * The row of an event: COLUMNS' values. The first HASHED_COLUMNS are what the chain hash covers,
 * so they must come out the same from the event the journal seals and from the same event read
 * back from the journal (JSON round trip): the detail text is the JSON of the same members, and an
 * object with nothing left in it is NULL either way.
 */
export function eventRow(e: AuditEvent): unknown[] {
  const row: unknown[] = hashedPart(e);
  const c = e.chain;
  row.push(c?.id ?? null, c?.seq ?? null, c?.prev ?? null, c?.hash ?? null, c?.alg ?? null);
  return row;
}

/** The row up to `detail` (HASHED_COLUMNS values). */
function hashedPart(e: AuditEvent): (string | number | null)[] {
  let detail: string | null = null;
  // Most events have none of these: no object built, no JSON made (this runs once per event in the journal's seal).
  if (e.detail !== undefined || e.durationMs !== undefined || e.sql !== undefined || e.schema !== undefined) {
    const d: Record<string, unknown> = { ...e.detail };
    if (e.durationMs !== undefined) d.durationMs = e.durationMs;
    if (e.sql !== undefined) d.sql = e.sql;
    if (e.schema !== undefined) d.schema = e.schema;
    detail = detailText(d);
  }
  return [
    e.id,
    utcDatetime(e.occurredAt),
    clip(e.operation, LIMITS.operation),
    clip(e.outcome, LIMITS.outcome),
    clip(e.dbUser, LIMITS.db_user),
    clip(e.clientAddr, LIMITS.client_addr),
    clip(e.backend, LIMITS.backend),
    clip(e.object, LIMITS.object),
    clip(e.objectKey, LIMITS.object_key),
    clip(e.appUser, LIMITS.app_user),
    clip(e.digest, LIMITS.digest),
    clip(e.sessionId === null ? null : String(e.sessionId), LIMITS.session_id),
    clip(e.instanceId, LIMITS.instance_id),
    clip(e.site, LIMITS.site),
    e.durationMs == null ? null : Math.round(e.durationMs),
    detail,
  ];
}

function detailText(detail: Record<string, unknown>): string | null {
  const text = JSON.stringify(detail);
  return text === "{}" ? null : text;
}

/**
 * The hashed values of an event sealed by this process, on the event object itself under a symbol
 * (never serialised): an event delivered from the journal's in-memory tail (the same object) is
 * not turned into a row twice. A symbol, not a WeakMap: thousands of events wait in the tail for
 * delivery, and a WeakMap's entries are ephemerons every garbage collection must trace apart.
 */
const SEALED_VALUES = Symbol("pairgate.sealedValues");
type Sealed = AuditEvent & { [SEALED_VALUES]?: (string | number | null)[] };

/** The values the chain hash covers (chain.ts): the row up to `detail`. */
export function hashedValues(e: AuditEvent): (string | number | null)[] {
  const v = hashedPart(e);
  (e as Sealed)[SEALED_VALUES] = v;
  return v;
}

/** The row to insert: the values the chain hashed when this process sealed it, else made anew. */
function deliveredRow(e: AuditEvent): unknown[] {
  const v = (e as Sealed)[SEALED_VALUES];
  if (!v) return eventRow(e);
  const c = e.chain;
  return [...v, c?.id ?? null, c?.seq ?? null, c?.prev ?? null, c?.hash ?? null, c?.alg ?? null];
}

/** What mysql2's escape changes in a string (SqlString's CHARS_GLOBAL_REGEXP). */
const ESCAPED = /[\0\b\t\n\r\x1a"'\\]/;

/**
 * `(v1,v2,…)` as mysql2's placeholder formatting writes it (NULL, a number's text, a quoted string,
 * escaped by mysql2 itself when it holds a character to escape), made directly: formatting 500
 * rows × 21 placeholders ran a regex search and an escape call per value.
 */
function rowSql(conn: Connection, row: readonly unknown[]): string {
  let out = "(";
  for (let i = 0; i < row.length; i++) {
    const v = row[i];
    if (i > 0) out += ",";
    if (v === null || v === undefined) out += "NULL";
    else if (typeof v === "number") out += String(v);
    else if (typeof v === "string" && !ESCAPED.test(v)) out += `'${v}'`;
    else out += conn.escape(v);
  }
  return `${out})`;
}

interface MysqlError {
  errno?: number;
  code?: string;
  fatal?: boolean;
  sqlMessage?: string;
  message: string;
}

/** The whole transaction is gone (deadlock, lost connection): retry the batch, never record it as failed. */
function abortsTransaction(e: unknown): boolean {
  const err = e as MysqlError;
  return err.fatal === true || err.errno === undefined || err.errno === 1213 || err.errno === 1205;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** How often a full batch is looked for between intervals. */
const FULL_BATCH_CHECK_MS = 100;

export class Delivery {
  readonly #o: DeliveryOptions;
  readonly #table: string;
  readonly #replayed: string;
  #conn: Connection | null = null;
  #tablesReady = false;
  #chain: Promise<unknown> = Promise.resolve();
  #busy = false;
  #timer: NodeJS.Timeout | null = null;
  /** When the last delivery started (the interval counts from it). */
  #lastRunAt = 0;
  #isPrimaryUp: () => boolean = () => true;
  #failures = 0;
  #nextAttemptAt = 0;
  #stopping = false;
  #swept = false;

  lastDeliveryAt: number | null = null;
  lastError: string | null = null;
  /** Events delivered by this process (re-deliveries of an already stored id included). */
  delivered = 0;
  /** Captured writes replayed by this process (skipped ones not counted). */
  replayed = 0;
  /** The newest chained event this process delivered (an anchor the background verification may use). */
  lastDeliveredChain: ChainFields | null = null;

  constructor(opts: DeliveryOptions) {
    this.#o = opts;
    const t = quoteQualified(opts.table);
    this.#table = t.sql;
    this.#replayed = quoteQualified(t.schema ? `${t.schema}.pairgate_replayed` : "pairgate_replayed").sql;
  }

  start(opts: DeliveryStartOptions = {}): void {
    if (opts.isPrimaryUp) this.#isPrimaryUp = opts.isPrimaryUp;
    this.#stopping = false;
    if (this.#timer) return;
    // Checked every FULL_BATCH_CHECK_MS: a full batch goes at once, less waits out intervalMs.
    this.#timer = setInterval(() => this.#tick(), Math.min(this.#o.intervalMs, FULL_BATCH_CHECK_MS));
    this.#timer.unref();
    this.#tick();
  }

  /** The primary became available: try at once, forgetting the backoff. */
  kick(): void {
    this.#failures = 0;
    this.#nextAttemptAt = 0;
    this.#tick();
  }

  #tick(): void {
    if (this.#busy || this.#stopping) return;
    // The first attempt also runs with nothing pending, to move past damaged records left at startup.
    // An unhealthy journal (full disk) may get its space back once delivered segments are removed.
    const pending = this.#o.journal.pending();
    if (pending === 0 && this.#swept && this.#o.journal.healthy) return;
    // Less than a full batch waits for the interval (no chasing the writer with small INSERTs); a
    // full one is delivered at once, so a steady load's events leave the in-memory tail within
    // ~100 ms instead of up to intervalMs (events that survive that long are promoted to V8's old
    // generation and cost a major GC each).
    if (pending < this.#o.batchSize && Date.now() - this.#lastRunAt < this.#o.intervalMs) return;
    if (Date.now() < this.#nextAttemptAt || !this.#isPrimaryUp()) return;
    this.deliverNow().catch(() => {
      // logged and backed off in #drainSafely
    });
  }

  /** Deliver everything durable now (waits for a delivery already running). Rejects if the primary cannot take it. */
  deliverNow(): Promise<{ delivered: number }> {
    const run = this.#chain.then(() => this.#drainSafely());
    this.#chain = run.catch(() => {});
    return run.then((delivered) => ({ delivered }));
  }

  async #drainSafely(): Promise<number> {
    this.#busy = true;
    this.#lastRunAt = Date.now();
    try {
      const n = await this.#drain();
      if (this.#failures > 0)
        this.#o.logger.info({ delivered: n }, "audit delivery: primary reachable again");
      this.#failures = 0;
      this.#nextAttemptAt = 0;
      this.lastError = null;
      this.#swept = true;
      return n;
    } catch (e) {
      this.#failures++;
      const base = Math.min(
        this.#o.maxBackoffMs ?? 30_000,
        this.#o.intervalMs * 2 ** Math.min(this.#failures - 1, 10),
      );
      this.#nextAttemptAt = Date.now() + base * (0.75 + Math.random() * 0.5);
      this.lastError = (e as Error).message;
      const log = this.#failures === 1 ? "warn" : "debug";
      this.#o.logger[log](
        { err: e, failures: this.#failures, pending: this.#o.journal.pending() },
        "audit delivery failed; events stay in the journal and will be retried",
      );
      throw e;
    } finally {
      this.#busy = false;
    }
  }

  async #drain(): Promise<number> {
    const j = this.#o.journal;
    let total = 0;
    while (!this.#stopping) {
      const from = j.committed;
      const { events, next } = await j.read(from, this.#o.batchSize);
      if (events.length === 0) {
        if (next.segment === from.segment && next.offset === from.offset) break;
        await j.commit(next, 0); // only damaged records between: move past them
        continue;
      }
      await this.#deliverBatch(events);
      await this.#o.hooks?.afterCommit?.(events);
      await j.commit(next, events.length);
      for (let i = events.length - 1; i >= 0; i--) {
        const c = events[i]!.chain;
        if (c) {
          if (
            !this.lastDeliveredChain ||
            c.id !== this.lastDeliveredChain.id ||
            c.seq > this.lastDeliveredChain.seq
          )
            this.lastDeliveredChain = c;
          break;
        }
      }
      total += events.length;
      this.delivered += events.length;
      this.lastDeliveryAt = Date.now();
      // A short batch took everything durable when it was read: what became durable since waits for
      // the next tick, so batches stay large under load instead of one per group commit.
      if (events.length < this.#o.batchSize) break;
    }
    return total;
  }

  /** Every statement has a deadline: a primary cut off mid-batch must not hold delivery (or stop()) for minutes. */
  #q<T extends QueryResult = ResultSetHeader>(conn: Connection, sql: string, values?: unknown[]) {
    return conn.query<T>({ sql, values, timeout: this.#o.queryTimeoutMs ?? 15_000 });
  }

  async #connection(): Promise<{ conn: Connection; fresh: boolean }> {
    if (this.#conn) return { conn: this.#conn, fresh: false };
    const conn = await this.#o.connect();
    conn.on("error", () => {
      // A dropped connection: the next batch reconnects.
      if (this.#conn === conn) this.#conn = null;
    });
    this.#conn = conn;
    return { conn, fresh: true };
  }

  #dropConnection(): void {
    const c = this.#conn;
    this.#conn = null;
    this.#tablesReady = false;
    c?.destroy();
  }

  async #ensureTables(conn: Connection): Promise<void> {
    if (this.#tablesReady) return;
    try {
      await this.#q(conn, auditTableDdl(this.#table));
    } catch (e) {
      const schema = quoteQualified(this.#o.table).schema;
      if ((e as MysqlError).errno !== 1049 || !schema) throw e;
      await this.#q(conn, `CREATE DATABASE IF NOT EXISTS \`${schema.replace(/`/g, "``")}\``);
      await this.#q(conn, auditTableDdl(this.#table));
    }
    await this.#migrate(conn);
    await this.#q(conn, replayedTableDdl(this.#replayed));
    this.#tablesReady = true;
  }

  /** Add the chain columns to a table made before them (once; another instance may race us). */
  async #migrate(conn: Connection): Promise<void> {
    const t = quoteQualified(this.#o.table);
    for (let attempt = 1; ; attempt++) {
      const [cols] = await this.#q<RowDataPacket[]>(
        conn,
        "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ?",
        [t.schema, t.table],
      );
      const have = new Set(cols.map((r) => String(r.c).toLowerCase()));
      const missing = CHAIN_COLUMNS.filter((c) => !have.has(c));
      if (missing.length === 0) return;
      const [keys] = await this.#q<RowDataPacket[]>(
        conn,
        "SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = COALESCE(?, DATABASE()) AND TABLE_NAME = ? AND INDEX_NAME = ? LIMIT 1",
        [t.schema, t.table, CHAIN_INDEX],
      );
      const ddl = chainMigrationDdl(this.#table, missing, keys.length === 0);
      try {
        await this.#q(conn, ddl);
        this.#o.logger.info(
          { table: this.#o.table, added: missing },
          "audit table migrated: hash-chain columns added (rows already there are reported as before the chain)",
        );
        return;
      } catch (e) {
        const errno = (e as MysqlError).errno;
        // Another instance migrated it between our look and our ALTER: look again.
        if ((errno === 1060 || errno === 1061) && attempt < 3) continue;
        if (errno === 1142 || errno === 1044)
          throw new Error(
            `the audit table ${this.#o.table} lacks the hash-chain columns and the service account may not ALTER it; events stay in the journal until it is done. Run as an administrator: ${ddl}`,
            { cause: e },
          );
        throw e;
      }
    }
  }

  async #deliverBatch(events: AuditEvent[]): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const { conn, fresh } = await this.#connection();
      try {
        await this.#ensureTables(conn);
        await this.#transaction(conn, events);
        return;
      } catch (e) {
        const err = e as MysqlError;
        if (err.fatal || err.errno === undefined) this.#dropConnection();
        // A kept connection that died while the primary restarted: one immediate retry on a new one.
        // A deadlock between instances: retry.
        const retry = (err.fatal && !fresh) || err.errno === 1213 || err.errno === 1205;
        if (!retry || attempt >= 3) throw e;
        if (!err.fatal) await sleep(10 * attempt);
      }
    }
  }

  async #transaction(conn: Connection, events: AuditEvent[]): Promise<void> {
    await this.#q(conn, "START TRANSACTION");
    try {
      const head = `INSERT IGNORE INTO ${this.#table} (${COLUMNS.join(",")}) VALUES `;
      // Keep each statement well under max_allowed_packet.
      let sql = "";
      let bytes = 0;
      const flush = async () => {
        if (sql === "") return;
        await this.#q(conn, head + sql);
        sql = "";
        bytes = 0;
      };
      for (const e of events) {
        const row = deliveredRow(e);
        const size = 400 + (typeof row[15] === "string" ? row[15].length : 0);
        if (bytes + size > 512 * 1024) await flush();
        sql += sql === "" ? rowSql(conn, row) : `,${rowSql(conn, row)}`;
        bytes += size;
      }
      await flush();
      for (const e of events) {
        if (e.operation === "captured_write" && typeof e.sql === "string") await this.#replay(conn, e);
      }
      await this.#q(conn, "COMMIT");
    } catch (e) {
      await this.#q(conn, "ROLLBACK").catch(() => {});
      throw e;
    }
  }

  async #replay(conn: Connection, e: AuditEvent): Promise<void> {
    await this.#q(conn, "SAVEPOINT pairgate_replay");
    const [mark] = await this.#q<ResultSetHeader>(
      conn,
      `INSERT IGNORE INTO ${this.#replayed} (id, instance_id, replayed_at, outcome, error) VALUES (?, ?, UTC_TIMESTAMP(3), 'ok', NULL)`,
      [e.id, e.instanceId],
    );
    if (mark.affectedRows === 0) {
      await this.#q(conn, "RELEASE SAVEPOINT pairgate_replay");
      return; // replayed by an earlier delivery of this event
    }
    try {
      if (e.schema) await this.#q(conn, `USE \`${e.schema.replace(/`/g, "``")}\``);
      await this.#q(conn, "SET @@session.timestamp = ?", [e.occurredAt / 1000]);
      try {
        await this.#q(conn, e.sql!);
      } finally {
        await this.#q(conn, "SET @@session.timestamp = DEFAULT");
      }
      await this.#q(conn, "RELEASE SAVEPOINT pairgate_replay");
      this.replayed++;
    } catch (err) {
      if (abortsTransaction(err)) throw err;
      const msg = (err as MysqlError).sqlMessage ?? (err as Error).message;
      this.#o.logger.warn(
        { eventId: e.id, errno: (err as MysqlError).errno, error: msg },
        "audit delivery: a captured write was refused by the primary; recorded as not replayed",
      );
      await this.#q(conn, "ROLLBACK TO SAVEPOINT pairgate_replay");
      await this.#q(
        conn,
        `INSERT INTO ${this.#replayed} (id, instance_id, replayed_at, outcome, error) VALUES (?, ?, UTC_TIMESTAMP(3), 'error', ?)`,
        [e.id, e.instanceId, msg.slice(0, 2000)],
      );
    }
  }

  /** Stop the timer, let a running batch finish, close the connection. */
  async stop(): Promise<void> {
    this.#stopping = true;
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
    await this.#chain;
    const c = this.#conn;
    this.#conn = null;
    this.#tablesReady = false;
    if (c) await c.end().catch(() => c.destroy());
  }
}

export type { Position };
