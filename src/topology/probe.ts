/**
 * One backend's health probe: a persistent mysql2 connection with the service account, a check that
 * reads `@@read_only`, `@@server_id`, `@@version` and (on a replica) its replication status.
 *
 * Time rules: connecting and every query run under our own timers. A timer that fires destroys the
 * socket (not a polite `end()`: on a blackholed link a FIN would wait forever), so a silent server
 * costs at most `connectTimeoutMs` or `queryTimeoutMs` per check and never hangs the monitor.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import mysql, { type Connection } from "mysql2";
import type { BackendConfig } from "../config/load.js";
import { PairgateError } from "../protocol/errors.js";
import { FENCE_READ_SQL, type FenceMark, readFenceRow } from "./fence.js";
import { loopAwareDeadline, MAX_EXTENSIONS } from "./loop-aware-deadline.js";
import {
  LOCAL_WRITES_STATEMENT,
  lastContactStatement,
  parseReplicationRow,
  parseSemiSync,
  parseVersion,
  pickReplicationRow,
  replicationStatement,
  type SemiSyncStatus,
  type ServerVersion,
  secondaryLocalGtids,
  semiSyncStatement,
} from "./server-status.js";
import type { ReplicationStatus } from "./types.js";

export interface ProbeTimeouts {
  connectTimeoutMs: number;
  queryTimeoutMs: number;
}

export interface ProbeResult {
  readOnly: boolean;
  serverId: number;
  version: string;
  /** Null when not asked for, or when this server is not a replica. */
  replication: ReplicationStatus | null;
  /** A replication query that failed without failing the check (a missing privilege), once per change. */
  replicationError: string | null;
  /** Semi-sync status and settings; null when the server has none or they could not be read. */
  semiSync?: SemiSyncStatus | null;
  /** The promotion fence mark (epoch 0 when none); null when it could not be read (privilege). */
  fence?: FenceMark | null;
  /**
   * MariaDB's `@@gtid_binlog_pos` of a server checked as the primary (what a caught-up secondary
   * has applied); null when not read (a replica's check, MySQL).
   */
  gtidBinlogPos?: string | null;
}

/** A check that ran out of time. */
export class ProbeTimeoutError extends PairgateError {
  constructor(what: string, ms: number) {
    super("PAIRGATE_PROBE_TIMEOUT", `${what} timed out after ${ms} ms`);
  }
}

/** A check that ran out of time, or a socket that did (Node's ETIMEDOUT): no answer, not a refusal. */
export function isTimeout(err: unknown): boolean {
  return err instanceof ProbeTimeoutError || (err as { code?: string } | null)?.code === "ETIMEDOUT";
}

/** SQL errors that mean "this query is not allowed or not known here", not "the server is sick". */
const SOFT_SQL_ERRORS = new Set([
  1044, // ER_DBACCESS_DENIED_ERROR
  1049, // ER_BAD_DB_ERROR
  1142, // ER_TABLEACCESS_DENIED_ERROR
  1227, // ER_SPECIFIC_ACCESS_DENIED_ERROR
  1054, // ER_BAD_FIELD_ERROR
  1146, // ER_NO_SUCH_TABLE
  1064, // ER_PARSE_ERROR
  1109, // ER_UNKNOWN_TABLE
  1193, // ER_UNKNOWN_SYSTEM_VARIABLE
]);

function isSoftSqlError(err: unknown): boolean {
  const e = err as { errno?: number; fatal?: boolean };
  return typeof e?.errno === "number" && SOFT_SQL_ERRORS.has(e.errno) && !e.fatal;
}

/** Close the socket now: no FIN handshake, no waiting for a silent peer. */
function hardDestroy(conn: Connection): void {
  const c = conn as unknown as { stream?: { destroy?: () => void }; destroy: () => void };
  try {
    c.stream?.destroy?.();
  } catch {
    // already gone
  }
  try {
    c.destroy();
  } catch {
    // already gone
  }
}

/** What the monitor needs of a probe (tests pass their own through TopologyOptions.probeFactory). */
export interface ProbeLike {
  readonly address: string;
  check(wantReplication: boolean): Promise<ProbeResult>;
  reconfigure(cfg: BackendConfig, timeouts: ProbeTimeouts): void;
  close(): void;
}

export class Probe implements ProbeLike {
  private conn: Connection | null = null;
  /** A connection still in its handshake (stop() must not wait for its timeout). */
  private connecting: Connection | null = null;
  private version: ServerVersion | null = null;
  /** The moment the replica's IO thread last heard from its primary, by our clock (epoch ms). */
  private lastContactAt: number | null = null;
  private lastFingerprint: string | null = null;
  private closed = false;

  constructor(
    private cfg: BackendConfig,
    private timeouts: ProbeTimeouts,
    /** Called when the idle monitor connection dies between checks: a fault's first sign. */
    private readonly onLost: (err: Error) => void,
    private readonly baseDir = process.cwd(),
  ) {}

  get address(): string {
    return `${this.cfg.host}:${this.cfg.port}`;
  }

  /** New settings: the connection is dropped when the server's address or credentials changed. */
  reconfigure(cfg: BackendConfig, timeouts: ProbeTimeouts): void {
    const a = this.cfg;
    const changed =
      a.host !== cfg.host ||
      a.port !== cfg.port ||
      a.user !== cfg.user ||
      a.password !== cfg.password ||
      JSON.stringify(a.tls ?? null) !== JSON.stringify(cfg.tls ?? null);
    this.cfg = cfg;
    this.timeouts = timeouts;
    if (changed) this.drop();
  }

  /** Drop the connection (the next check reconnects). */
  drop(): void {
    const c = this.conn;
    this.conn = null;
    if (c) hardDestroy(c);
  }

  /** Drop everything, including a connection still being opened: its check fails at once. */
  private dropAll(): void {
    this.drop();
    const c = this.connecting;
    this.connecting = null;
    if (c) {
      hardDestroy(c);
      // A socket destroyed before it connected may not report it: make the pending connect fail now.
      c.emit("error", Object.assign(new Error("monitor stopped"), { code: "PAIRGATE_MONITOR_STOPPED" }));
    }
  }

  close(): void {
    this.closed = true;
    this.dropAll();
  }

  /** One check. Throws on any failure; the connection is dropped first. */
  async check(wantReplication: boolean): Promise<ProbeResult> {
    try {
      const conn = this.conn ?? (await this.connect());
      const [row] = await this.query(
        conn,
        "SELECT @@global.read_only AS ro, @@global.server_id AS sid, @@global.version AS ver",
      );
      const version = String(row.ver);
      const v = parseVersion(version);
      this.version = v;
      const result: ProbeResult = {
        readOnly: Number(row.ro) !== 0,
        serverId: Number(row.sid),
        version,
        replication: null,
        replicationError: null,
        semiSync: null,
        fence: null,
      };
      if (wantReplication) await this.readReplication(conn, v, result);
      else if (v.flavor === "mariadb") {
        const rows = await this.softQuery(conn, "SELECT @@global.gtid_binlog_pos AS b");
        result.gtidBinlogPos = rows?.[0] ? String(rows[0].b ?? "") : null;
      }
      result.semiSync = parseSemiSync((await this.softQuery(conn, semiSyncStatement(v))) ?? []);
      const fenceRows = await this.softQuery(conn, FENCE_READ_SQL, true);
      result.fence = fenceRows === null ? null : readFenceRow(fenceRows);
      return result;
    } catch (err) {
      this.drop();
      throw err;
    }
  }

  /**
   * A query whose failure for lack of privilege or object does not fail the check: null then (an
   * empty result when `missingIsEmpty` and the object does not exist: no fence table is epoch 0).
   */
  private async softQuery(
    conn: Connection,
    sql: string,
    missingIsEmpty = false,
  ): Promise<Record<string, unknown>[] | null> {
    try {
      return await this.query(conn, sql);
    } catch (err) {
      if (!isSoftSqlError(err)) throw err;
      const errno = (err as { errno?: number }).errno;
      if (missingIsEmpty && (errno === 1146 || errno === 1049)) return [];
      return null;
    }
  }

  private async readReplication(conn: Connection, v: ServerVersion, out: ProbeResult): Promise<void> {
    let rows: Record<string, unknown>[];
    try {
      rows = await this.query(conn, replicationStatement(v));
    } catch (err) {
      if (!isSoftSqlError(err)) throw err;
      out.replicationError = (err as Error).message;
      return;
    }
    const row = pickReplicationRow(rows);
    if (!row) {
      this.lastContactAt = null;
      this.lastFingerprint = null;
      return;
    }
    const rep = parseReplicationRow(row);
    out.replication = rep;
    if (v.flavor === "mariadb") {
      try {
        const [g] = await this.query(conn, LOCAL_WRITES_STATEMENT);
        rep.localGtids = secondaryLocalGtids(g, row, out.serverId);
        if (rep.localGtids.length > 0) {
          // A transaction the SQL thread applied between the replica status and the binlog read is
          // in gtid_binlog_pos but not in the received position read before it: a GTID of the
          // primary's taken for a local write (seen once in a long generative run, "0-1-216",
          // cleared 0.1 s later). Confirmed against a replica status read after the binlog's.
          const again = pickReplicationRow(await this.query(conn, replicationStatement(v)));
          if (again) rep.localGtids = secondaryLocalGtids(g, again, out.serverId);
        }
      } catch (err) {
        if (!isSoftSqlError(err)) throw err;
      }
    }
    const sql = lastContactStatement(v);
    let waiting: number | null = null;
    let heartbeat: number | null = null;
    if (sql) {
      try {
        const [r] = await this.query(conn, sql);
        waiting = r?.waiting_s == null ? null : Number(r.waiting_s);
        heartbeat = r?.heartbeat_s == null ? null : Number(r.heartbeat_s);
      } catch (err) {
        if (!isSoftSqlError(err)) throw err;
      }
    }
    const now = Date.now();
    // Without PROCESS privilege or heartbeat status, our own eyes: anything the IO thread received
    // (a binlog position, a GTID, a heartbeat) since the last check means it heard from the primary.
    const fingerprint = [
      row.Master_Log_File ?? row.Source_Log_File,
      row.Read_Master_Log_Pos ?? row.Read_Source_Log_Pos,
      rep.gtidIoPos,
      row.Slave_received_heartbeats,
    ].join("|");
    if (this.lastFingerprint !== null && fingerprint !== this.lastFingerprint) {
      if (this.lastContactAt === null || now > this.lastContactAt) this.lastContactAt = now;
    }
    this.lastFingerprint = fingerprint;
    if (waiting !== null && Number.isFinite(waiting)) {
      // The IO thread is connected and idle since `waiting` seconds: that is the last contact.
      const at = now - waiting * 1000;
      if (this.lastContactAt === null || at > this.lastContactAt) this.lastContactAt = at;
    } else if (heartbeat !== null && Number.isFinite(heartbeat)) {
      const hbAt = now - heartbeat * 1000;
      if (this.lastContactAt === null || hbAt > this.lastContactAt) this.lastContactAt = hbAt;
    }
    rep.secondsSinceMasterContact =
      this.lastContactAt === null ? null : Math.max(0, Math.round((now - this.lastContactAt) / 100) / 10);
  }

  private connect(): Promise<Connection> {
    const { connectTimeoutMs } = this.timeouts;
    const cfg = this.cfg;
    return new Promise<Connection>((resolvePromise, reject) => {
      let settled = false;
      const conn = mysql.createConnection({
        host: cfg.host,
        port: cfg.port,
        user: cfg.user,
        password: cfg.password,
        // mysql2's own timer is a backstop; ours fires first and destroys the socket (it may be
        // extended while pairgate's loop stalls, so the backstop leaves room for that).
        connectTimeout: connectTimeoutMs * (MAX_EXTENSIONS + 2) + 1000,
        ssl: cfg.tls
          ? {
              ca: cfg.tls.ca ? readFileSync(resolve(this.baseDir, cfg.tls.ca), "utf8") : undefined,
              rejectUnauthorized: cfg.tls.rejectUnauthorized,
            }
          : undefined,
        enableKeepAlive: true,
        keepAliveInitialDelay: 1000,
        supportBigNumbers: true,
        bigNumberStrings: true,
        dateStrings: true,
        connectAttributes: { program_name: "pairgate-monitor" },
      });
      this.connecting = conn;
      const timer = loopAwareDeadline(connectTimeoutMs, () => {
        if (settled) return;
        settled = true;
        if (this.connecting === conn) this.connecting = null;
        hardDestroy(conn);
        reject(new ProbeTimeoutError(`connect to ${cfg.host}:${cfg.port}`, connectTimeoutMs));
      });
      const lost = (err: Error) => {
        if (!settled) {
          settled = true;
          if (this.connecting === conn) this.connecting = null;
          timer.clear();
          hardDestroy(conn);
          reject(err);
          return;
        }
        if (this.conn === conn) {
          this.conn = null;
          hardDestroy(conn);
          // A query running on this connection fails now, not at its timeout: a crash is
          // noticed in milliseconds even when a TCP hop in between closed the connection.
          this.failQueryInFlight?.(err);
          if (!this.closed) this.onLost(err);
        }
      };
      conn.on("error", lost);
      conn.on("end", () => lost(Object.assign(new Error("server closed the connection"), { code: "EOF" })));
      conn.connect((err) => {
        if (settled) return;
        if (err) return lost(err);
        settled = true;
        if (this.connecting === conn) this.connecting = null;
        timer.clear();
        if (this.closed) {
          hardDestroy(conn);
          reject(new Error("monitor stopped"));
          return;
        }
        this.conn = conn;
        resolvePromise(conn);
      });
    });
  }

  /** Rejects the query running on the monitor connection, if any. */
  private failQueryInFlight: ((err: Error) => void) | null = null;

  private query(conn: Connection, sql: string): Promise<Record<string, unknown>[]> {
    const { queryTimeoutMs } = this.timeouts;
    return new Promise((resolvePromise, reject) => {
      let settled = false;
      const fail = (err: Error) => {
        if (settled) return;
        settled = true;
        timer.clear();
        if (this.failQueryInFlight === fail) this.failQueryInFlight = null;
        reject(err);
      };
      const timer = loopAwareDeadline(queryTimeoutMs, () => {
        if (settled) return;
        if (this.conn === conn) this.conn = null;
        hardDestroy(conn);
        fail(new ProbeTimeoutError(`query on ${this.address}`, queryTimeoutMs));
      });
      this.failQueryInFlight = fail;
      conn.query(sql, (err, rows) => {
        if (settled) return;
        if (err) {
          fail(err);
          return;
        }
        settled = true;
        timer.clear();
        if (this.failQueryInFlight === fail) this.failQueryInFlight = null;
        resolvePromise(Array.isArray(rows) ? (rows as Record<string, unknown>[]) : []);
      });
    });
  }

  /** For tests and logs: the flavour seen at the last successful check. */
  get serverVersion(): ServerVersion | null {
    return this.version;
  }
}
