/**
 * `pairgate replication check`: is the pair healthy, and does the secondary hold what the primary
 * holds?
 *
 * Health: both replication threads running, from this primary, by GTID, over TLS; the last IO
 * and SQL errors; the lag.
 *
 * Consistency, compared at one GTID position while writes may go on. For each table:
 *   1. the secondary's replication is stopped;
 *   2. the primary opens a consistent snapshot and reads the GTID position P it corresponds to
 *      (MariaDB: Binlog_snapshot_file/position through BINLOG_GTID_POS, no lock; MySQL: under a
 *      brief FLUSH TABLES WITH READ LOCK, as mysqldump does);
 *   3. the secondary replicates up to exactly P and stops there (START SLAVE UNTIL master_gtid_pos
 *      = P, then MASTER_GTID_WAIT(P)): it now holds the state the primary's snapshot shows;
 *   4. the table is checksummed chunk by chunk on both (chunks cut by the primary's key, see
 *      checksum.ts), the secondary's replication starts again and the snapshot ends.
 * The secondary pauses for the time one table takes, then catches up. Only transactional tables
 * (InnoDB) are seen at P on the primary; a MyISAM/Aria table written during the check may show a
 * difference that is not drift. A check that is interrupted (SIGINT/SIGTERM) restarts replication
 * before it exits.
 */

import type { Connection } from "mysql2/promise";
import {
  boundarySql,
  type ColumnInfo,
  checksumSql,
  chunkWhere,
  describeRange,
  type TableShape,
} from "./checksum.js";
import { type Endpoint, formatEndpoint, sameEndpoint } from "./endpoint.js";
import { ReplicationError } from "./errors.js";
import { formatLossless, type LosslessReport, losslessReport } from "./lossless.js";
import {
  type AdminCredentials,
  type AdminSession,
  closeAll,
  connectPair,
  inspect,
  replicaStatus,
  rows,
  scalar,
} from "./server.js";
import { type Dialect, type ReplicaStatus, SYSTEM_SCHEMAS } from "./server-family.js";

export interface CheckOptions {
  primary: Endpoint;
  secondary: Endpoint;
  admin: AdminCredentials;
  sslCa?: string;
  chunkSize?: number;
  /** Only these databases. */
  databases?: string[];
  /** Longest wait for the secondary to reach a position (default 60 s). */
  timeoutMs?: number;
  /** Stop cleanly (replication restarted) on SIGINT/SIGTERM; the CLI sets it. */
  handleSignals?: boolean;
  onTable?: (t: TableResult) => void;
}

export interface ChunkDrift {
  chunk: number;
  range: string;
  primary: { rows: number; checksum: string };
  secondary: { rows: number; checksum: string };
}

export type TableStatus =
  | "consistent"
  | "drift"
  | "missing on the secondary"
  | "only on the secondary"
  | "definition differs"
  | "error";

export interface TableResult {
  table: string;
  status: TableStatus;
  /** "chunked by PRIMARY", "chunked by <unique key>", "whole table". */
  method: string;
  chunks: number;
  rows: number;
  /** The GTID position both servers were compared at. */
  position: string;
  drift: ChunkDrift[];
  message?: string;
}

export interface ReplicationHealth {
  ok: boolean;
  problems: string[];
  status: ReplicaStatus | null;
}

export interface CheckReport {
  ok: boolean;
  primary: string;
  secondary: string;
  replication: ReplicationHealth;
  /** Semi-sync (lossless or not) and the secondary's parallel apply; informational, does not fail the check. */
  lossless: LosslessReport | null;
  consistency: {
    checked: boolean;
    reason?: string;
    chunkSize: number;
    tables: TableResult[];
    /** `schema.table` of every table that is not consistent. */
    drifted: string[];
  };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export function replicationHealth(st: ReplicaStatus | null, primary: Endpoint): ReplicationHealth {
  const problems: string[] = [];
  if (!st) return { ok: false, problems: ["the secondary does not replicate from anything"], status: null };
  if (!sameEndpoint({ host: st.sourceHost, port: st.sourcePort ?? 0 }, primary))
    problems.push(
      `the secondary replicates from ${st.sourceHost}:${st.sourcePort}, not from ${formatEndpoint(primary)}`,
    );
  if (st.ioRunning !== "Yes")
    problems.push(`IO thread: ${st.ioRunning}${st.lastIoError ? ` — ${st.lastIoError}` : ""}`);
  if (st.sqlRunning !== "Yes")
    problems.push(`SQL thread: ${st.sqlRunning}${st.lastSqlError ? ` — ${st.lastSqlError}` : ""}`);
  if (!st.sslAllowed) problems.push("replication is not encrypted (Master_SSL_Allowed: No)");
  if (st.usingGtid === "No") problems.push("replication does not use GTIDs");
  return { ok: problems.length === 0, problems, status: st };
}

interface TableRef {
  schema: string;
  table: string;
}

async function baseTables(conn: Connection, databases?: string[]): Promise<TableRef[]> {
  const filter = databases?.length ? " AND TABLE_SCHEMA IN (?)" : "";
  const r = await rows(
    conn,
    `SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t FROM information_schema.TABLES
     WHERE TABLE_TYPE = 'BASE TABLE' AND TABLE_SCHEMA NOT IN (?)${filter} ORDER BY TABLE_SCHEMA, TABLE_NAME`,
    databases?.length ? [SYSTEM_SCHEMAS, databases] : [SYSTEM_SCHEMAS],
  );
  return r.map((x) => ({ schema: String(x.s), table: String(x.t) }));
}

async function columnsOf(conn: Connection, t: TableRef): Promise<ColumnInfo[]> {
  const r = await rows(
    conn,
    `SELECT COLUMN_NAME AS n, COLUMN_TYPE AS ty, IS_NULLABLE AS nl FROM information_schema.COLUMNS
     WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? ORDER BY ORDINAL_POSITION`,
    [t.schema, t.table],
  );
  return r.map((x) => ({ name: String(x.n), type: String(x.ty), nullable: String(x.nl) === "YES" }));
}

/** The PRIMARY KEY, else the first UNIQUE key whose columns are all NOT NULL. */
async function chunkKey(
  conn: Connection,
  t: TableRef,
  cols: ColumnInfo[],
): Promise<{ name: string; cols: string[] } | null> {
  const r = await rows(
    conn,
    `SELECT INDEX_NAME AS i, COLUMN_NAME AS c FROM information_schema.STATISTICS
     WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME = 'PRIMARY' DESC, INDEX_NAME, SEQ_IN_INDEX`,
    [t.schema, t.table],
  );
  const byIndex = new Map<string, string[]>();
  for (const x of r) {
    const list = byIndex.get(String(x.i)) ?? [];
    list.push(String(x.c));
    byIndex.set(String(x.i), list);
  }
  const nullable = new Set(cols.filter((c) => c.nullable).map((c) => c.name));
  for (const [name, key] of byIndex) if (!key.some((c) => nullable.has(c))) return { name, cols: key };
  return null;
}

function sameColumns(a: ColumnInfo[], b: ColumnInfo[]): boolean {
  return a.length === b.length && a.every((c, i) => c.name === b[i].name && c.type === b[i].type);
}

/** Brings the stopped secondary to exactly `pos` and leaves it stopped there. */
async function replicateUntil(conn: Connection, d: Dialect, pos: string, timeoutMs: number): Promise<void> {
  if (pos) {
    await conn.query(d.startReplicaUntil(pos));
    const r = await scalar(conn, d.waitForPosition(pos, Math.max(1, Math.ceil(timeoutMs / 1000))));
    if (r !== "0")
      throw new Error(`the secondary did not reach ${pos} within ${Math.round(timeoutMs / 1000)} s`);
  }
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = await replicaStatus(conn, d);
    if (!st || st.sqlRunning === "No") return;
    if (Date.now() > deadline) throw new Error(`the secondary's SQL thread did not stop at ${pos}`);
    await sleep(20);
  }
}

export async function checkReplication(o: CheckOptions): Promise<CheckReport> {
  const chunkSize = o.chunkSize ?? 1000;
  const timeoutMs = o.timeoutMs ?? 60_000;
  let ps: AdminSession | undefined;
  let ss: AdminSession | undefined;
  let aborted = false;
  let semiReplica = false;
  const onSignal = () => {
    aborted = true;
  };
  if (o.handleSignals) {
    process.on("SIGINT", onSignal);
    process.on("SIGTERM", onSignal);
  }
  try {
    [ps, ss] = await connectPair(o.primary, o.secondary, o.admin, { sslCa: o.sslCa, exactValues: true });
    const pc = ps.conn;
    const sc = ss.conn;
    const pd = (await inspect("primary", ps)).dialect;
    const sd = (await inspect("secondary", ss)).dialect;
    const health = replicationHealth(await replicaStatus(sc, sd), o.primary);
    const report: CheckReport = {
      ok: false,
      primary: formatEndpoint(o.primary),
      secondary: formatEndpoint(o.secondary),
      replication: health,
      lossless: await losslessReport(pc, pd, sc, sd).catch(() => null),
      consistency: { checked: false, chunkSize, tables: [], drifted: [] },
    };
    if (!health.ok || health.status?.ioRunning !== "Yes" || health.status.sqlRunning !== "Yes") {
      report.consistency.reason = "replication is broken: the servers cannot be compared at one position";
      return report;
    }
    report.consistency.checked = true;
    const add = (t: TableResult) => {
      report.consistency.tables.push(t);
      if (t.status !== "consistent") report.consistency.drifted.push(t.table);
      o.onTable?.(t);
    };
    // MariaDB 10.11: a semi-sync replica stopped by `START SLAVE UNTIL` right after it connected can
    // leave the primary's binlog dump thread stuck ("Killed", never finalized), which refuses every
    // later connection of that replica. So the replica side of semi-sync is off for the whole check
    // (the primary is asynchronous meanwhile; every per-table stop then follows a plain connect),
    // switched off only once the current semi-sync connection has settled, and back on at the end.
    semiReplica = await replicaSemiSyncOn(sc, sd);
    if (semiReplica) {
      await semiSyncSettled(pc, 3000);
      await sc.query(`SET GLOBAL ${sd.replicaSemiSyncVariable} = OFF`);
      await sc.query(sd.stopReplica());
      await sc.query(sd.startReplica());
    }
    const onPrimary = await baseTables(pc, o.databases);
    const onSecondary = await baseTables(sc, o.databases);
    const name = (t: TableRef) => `${t.schema}.${t.table}`;
    const primaryNames = new Set(onPrimary.map(name));
    const secondaryNames = new Set(onSecondary.map(name));
    for (const t of onSecondary)
      if (!primaryNames.has(name(t)))
        add({
          table: name(t),
          status: "only on the secondary",
          method: "-",
          chunks: 0,
          rows: 0,
          position: "",
          drift: [],
        });

    for (const t of onPrimary) {
      if (aborted)
        throw new ReplicationError("PAIRGATE_REPL_INTERRUPTED", "check interrupted; replication restarted");
      if (!secondaryNames.has(name(t))) {
        add({
          table: name(t),
          status: "missing on the secondary",
          method: "-",
          chunks: 0,
          rows: 0,
          position: "",
          drift: [],
        });
        continue;
      }
      const [pcols, scols] = await Promise.all([columnsOf(pc, t), columnsOf(sc, t)]);
      if (!sameColumns(pcols, scols)) {
        add({
          table: name(t),
          status: "definition differs",
          method: "-",
          chunks: 0,
          rows: 0,
          position: "",
          drift: [],
          message: "the columns (names or types) differ between the servers",
        });
        continue;
      }
      const key = await chunkKey(pc, t, pcols);
      const shape: TableShape = { ...t, columns: pcols, key: key?.cols ?? null, keyName: key?.name ?? null };
      add(await checkTable(pc, pd, sc, sd, shape, chunkSize, timeoutMs, () => aborted));
    }
    report.ok = health.ok && report.consistency.drifted.length === 0;
    return report;
  } finally {
    if (o.handleSignals) {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    if (semiReplica && ss) {
      const sc = ss.conn;
      const sd = (await inspect("secondary", ss)).dialect;
      await sc.query(sd.stopReplica());
      await sc.query(`SET GLOBAL ${sd.replicaSemiSyncVariable} = ON`);
      await sc.query(sd.startReplica());
    }
    await closeAll(ps, ss);
  }
}

async function checkTable(
  pc: Connection,
  pd: Dialect,
  sc: Connection,
  sd: Dialect,
  t: TableShape,
  chunkSize: number,
  timeoutMs: number,
  aborted: () => boolean,
): Promise<TableResult> {
  const result: TableResult = {
    table: `${t.schema}.${t.table}`,
    status: "consistent",
    method: t.key
      ? `chunked by ${t.keyName === "PRIMARY" ? "PRIMARY KEY" : `unique key ${t.keyName}`} (${t.key.join(", ")})`
      : "whole table (no usable key)",
    chunks: 0,
    rows: 0,
    position: "",
    drift: [],
  };
  const snap = pd.snapshot();
  await sc.query(sd.stopReplica());
  try {
    for (const s of snap.begin) await pc.query(s);
    result.position = await scalar(pc, snap.position);
    for (const s of snap.after) await pc.query(s);
    await replicateUntil(sc, sd, result.position, timeoutMs);

    let lower: unknown[] | null = null;
    for (let chunk = 1; ; chunk++) {
      if (aborted())
        throw new ReplicationError("PAIRGATE_REPL_INTERRUPTED", "check interrupted; replication restarted");
      let upper: unknown[] | null = null;
      if (t.key) {
        const b = boundarySql(t, lower, chunkSize);
        const r = (await rows(pc, b.sql, b.params))[0];
        if (r) upper = t.key.map((k) => r[k]);
      }
      const q = checksumSql(t, chunkWhere(t.key, lower, upper));
      const [[p], [s]] = await Promise.all([rows(pc, q.sql, q.params), rows(sc, q.sql, q.params)]);
      const pr = { rows: Number(p.cnt), checksum: String(p.crc) };
      const sr = { rows: Number(s.cnt), checksum: String(s.crc) };
      result.chunks = chunk;
      result.rows += pr.rows;
      if (pr.rows !== sr.rows || pr.checksum !== sr.checksum)
        result.drift.push({ chunk, range: describeRange(t.key, lower, upper), primary: pr, secondary: sr });
      if (upper === null) break;
      lower = upper;
    }
    if (result.drift.length) result.status = "drift";
  } catch (e) {
    if (e instanceof ReplicationError) throw e;
    result.status = "error";
    result.message = (e as Error).message;
  } finally {
    await pc.query("ROLLBACK").catch(() => {});
    await sc.query(sd.startReplica());
  }
  return result;
}

/** Waits (at most `ms`) until the primary counts a semi-sync replica: its handshake is over. */
async function semiSyncSettled(pc: Connection, ms: number): Promise<void> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    try {
      const n = await scalar(
        pc,
        "SELECT VARIABLE_VALUE AS v FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN ('RPL_SEMI_SYNC_MASTER_CLIENTS', 'RPL_SEMI_SYNC_SOURCE_CLIENTS')",
      );
      if (Number(n) >= 1) return;
    } catch {
      return; // no such status here: nothing to wait for
    }
    await sleep(50);
  }
}

async function replicaSemiSyncOn(sc: Connection, sd: Dialect): Promise<boolean> {
  try {
    return Number(await scalar(sc, `SELECT @@global.${sd.replicaSemiSyncVariable} AS v`)) === 1;
  } catch {
    return false; // no semi-sync on this server (MySQL without the plugin)
  }
}

export function formatCheckReport(r: CheckReport): string[] {
  const out: string[] = [];
  const st = r.replication.status;
  out.push(`replication ${r.primary} → ${r.secondary}: ${r.replication.ok ? "healthy" : "BROKEN"}`);
  if (st) {
    out.push(
      `  IO ${st.ioRunning}, SQL ${st.sqlRunning}, lag ${st.secondsBehind ?? "-"} s, GTID ${st.usingGtid}, ` +
        `TLS ${st.sslAllowed ? (st.sslVerifyServerCert ? "yes (certificate verified)" : "yes (not verified)") : "NO"}`,
    );
    if (st.lastIoError) out.push(`  last IO error: ${st.lastIoError}`);
    if (st.lastSqlError) out.push(`  last SQL error: ${st.lastSqlError}`);
  }
  for (const p of r.replication.problems) out.push(`  problem: ${p}`);
  if (r.lossless) out.push(...formatLossless(r.lossless));
  const c = r.consistency;
  if (!c.checked) {
    out.push(`consistency: not checked — ${c.reason}`);
  } else {
    const good = c.tables.filter((t) => t.status === "consistent").length;
    out.push(
      `consistency: ${good} of ${c.tables.length} tables consistent (chunks of ${c.chunkSize} rows, compared at one GTID position)`,
    );
    for (const t of c.tables) {
      if (t.status === "consistent") continue;
      out.push(`  DRIFT ${t.table}: ${t.status}${t.message ? ` — ${t.message}` : ""}`);
      for (const d of t.drift)
        out.push(
          `    chunk ${d.chunk} (${d.range}): primary ${d.primary.rows} rows, secondary ${d.secondary.rows} rows` +
            (d.primary.rows === d.secondary.rows ? ", contents differ" : "") +
            ` [at ${t.position}]`,
        );
    }
  }
  out.push(r.ok ? "OK: the pair is healthy and consistent" : "NOT OK");
  return out;
}
