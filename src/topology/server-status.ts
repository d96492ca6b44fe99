/**
 * Server flavour and replication status: which statement to run on which server, and how to read
 * its row into a `ReplicationStatus`. Pure functions; the probe does the I/O.
 *
 * MariaDB: `SHOW ALL SLAVES STATUS` (every version since 10.0; a superset of `SHOW SLAVE STATUS`
 * that also carries `Gtid_Slave_Pos`). MySQL before 8.0.22: `SHOW SLAVE STATUS`; from 8.0.22:
 * `SHOW REPLICA STATUS` with the Source/Replica column names.
 */
import { localGtids } from "./gtid.js";
import type { ReplicationStatus } from "./types.js";

export type Flavor = "mariadb" | "mysql";

export interface ServerVersion {
  flavor: Flavor;
  major: number;
  minor: number;
  patch: number;
}

/** `10.11.19-MariaDB-0+deb12u1` → mariadb 10.11.19; `8.0.36` → mysql 8.0.36. */
export function parseVersion(version: string): ServerVersion {
  const m = /^(\d+)\.(\d+)\.(\d+)/.exec(version);
  const [major, minor, patch] = m ? [Number(m[1]), Number(m[2]), Number(m[3])] : [0, 0, 0];
  // MariaDB 10.x/11.x once announced itself as "5.5.5-10.x.y-MariaDB" on the wire; @@version is plain.
  return { flavor: /mariadb/i.test(version) ? "mariadb" : "mysql", major, minor, patch };
}

/** Is `v` at least major.minor.patch? */
export function versionAtLeast(v: ServerVersion, major: number, minor: number, patch: number): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}

/** The statement that shows the replica threads on this server. */
export function replicationStatement(v: ServerVersion): string {
  if (v.flavor === "mariadb") return "SHOW ALL SLAVES STATUS";
  return versionAtLeast(v, 8, 0, 22) ? "SHOW REPLICA STATUS" : "SHOW SLAVE STATUS";
}

/**
 * One query that says how long ago the replica last heard from its primary, in seconds, as the
 * server's own clock measures it. Null when the server has no such figure.
 * - MySQL 8: performance_schema's last heartbeat / last queued transaction timestamps.
 * - MariaDB: the IO thread's time in its "Waiting for master to send event" state (it re-enters the
 *   state after every event or heartbeat it reads), and the `Slave_last_heartbeat` status.
 */
export function lastContactStatement(v: ServerVersion): string | null {
  if (v.flavor === "mysql") {
    if (v.major < 8) return null;
    return (
      "SELECT TIMESTAMPDIFF(MICROSECOND, NULLIF(GREATEST(LAST_HEARTBEAT_TIMESTAMP," +
      " LAST_QUEUED_TRANSACTION_END_QUEUE_TIMESTAMP), '0000-00-00 00:00:00'), NOW(6)) / 1e6 AS waiting_s," +
      " NULL AS heartbeat_s FROM performance_schema.replication_connection_status LIMIT 1"
    );
  }
  return (
    "SELECT (SELECT MIN(TIME_MS) / 1000 FROM information_schema.PROCESSLIST" +
    " WHERE COMMAND = 'Slave_IO' AND STATE LIKE 'Waiting for master to send event%') AS waiting_s," +
    " (SELECT TIMESTAMPDIFF(SECOND, NULLIF(VARIABLE_VALUE, ''), NOW()) FROM information_schema.GLOBAL_STATUS" +
    " WHERE VARIABLE_NAME = 'SLAVE_LAST_HEARTBEAT') AS heartbeat_s"
  );
}

type Row = Record<string, unknown>;

/** A column of a status row as text, under the first of `names` the row has ("" when none). */
export function rowString(row: Row, ...names: string[]): string {
  for (const n of names) {
    const v = row[n];
    if (v !== undefined && v !== null) return Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
  }
  return "";
}

/** A numeric column under the first of `names` the row fills; null when empty or not a number. */
export function rowNumber(row: Row, ...names: string[]): number | null {
  for (const n of names) {
    const v = row[n];
    if (v === undefined || v === null || v === "") continue;
    const x = Number(v);
    return Number.isFinite(x) ? x : null;
  }
  return null;
}

/**
 * Choose the default replication connection from the rows of `SHOW ALL SLAVES STATUS` (MariaDB's
 * multi-source): the unnamed one, else the first. MySQL's single row passes through.
 */
export function pickReplicationRow(rows: Row[]): Row | null {
  if (rows.length === 0) return null;
  return rows.find((r) => rowString(r, "Connection_name") === "") ?? rows[0];
}

/** Everything pairgate reads from a replica status row, the same for either server family. */
export interface ReplicaStatus {
  /** "Yes" | "No" | "Connecting" | "Preparing" */
  ioRunning: string;
  sqlRunning: string;
  ioState: string;
  sqlState: string;
  secondsBehind: number | null;
  sourceHost: string;
  sourcePort: number | null;
  sourceUser: string;
  sslAllowed: boolean;
  sslVerifyServerCert: boolean;
  sslCa: string;
  /** MariaDB Using_Gtid ("No" | "Slave_Pos" | "Current_Pos"); MySQL "Auto_Position" or "No". */
  usingGtid: string;
  /** Everything the IO thread received: Gtid_IO_Pos / Retrieved_Gtid_Set. */
  receivedPos: string;
  /** MySQL's Executed_Gtid_Set; MariaDB's Gtid_Slave_Pos (SHOW ALL SLAVES STATUS only, else ""). */
  executedPos: string;
  relayLogSpace: number | null;
  lastIoError: string;
  lastSqlError: string;
}

/**
 * Read a row of SHOW [ALL] SLAVE STATUS (MariaDB, MySQL before 8.0.22: Slave_*, Master_*) or
 * SHOW REPLICA STATUS (MySQL 8.0.22+: Replica_*, Source_*) — whichever names the row uses.
 */
export function readReplicaRow(row: Row): ReplicaStatus {
  const s = (...names: string[]) => rowString(row, ...names);
  const yes = (...names: string[]) => /^yes$/i.test(s(...names));
  return {
    ioRunning: s("Slave_IO_Running", "Replica_IO_Running") || "No",
    sqlRunning: s("Slave_SQL_Running", "Replica_SQL_Running") || "No",
    ioState: s("Slave_IO_State", "Replica_IO_State"),
    sqlState: s("Slave_SQL_Running_State", "Replica_SQL_Running_State"),
    secondsBehind: rowNumber(row, "Seconds_Behind_Master", "Seconds_Behind_Source"),
    sourceHost: s("Master_Host", "Source_Host"),
    sourcePort: rowNumber(row, "Master_Port", "Source_Port"),
    sourceUser: s("Master_User", "Source_User"),
    sslAllowed: yes("Master_SSL_Allowed", "Source_SSL_Allowed"),
    sslVerifyServerCert: yes("Master_SSL_Verify_Server_Cert", "Source_SSL_Verify_Server_Cert"),
    sslCa: s("Master_SSL_CA_File", "Source_SSL_CA_File"),
    usingGtid: s("Using_Gtid") || (s("Auto_Position") === "1" ? "Auto_Position" : "No"),
    // MySQL prints long GTID sets over several lines.
    receivedPos: s("Gtid_IO_Pos", "Retrieved_Gtid_Set").replace(/\s+/g, ""),
    executedPos: s("Gtid_Slave_Pos", "Executed_Gtid_Set").replace(/\s+/g, ""),
    relayLogSpace: rowNumber(row, "Relay_Log_Space"),
    lastIoError: s("Last_IO_Error"),
    lastSqlError: s("Last_SQL_Error"),
  };
}

/** The monitor's view of a replication row. */
export function parseReplicationRow(row: Row): ReplicationStatus {
  const r = readReplicaRow(row);
  return {
    ioRunning: r.ioRunning,
    sqlRunning: r.sqlRunning,
    secondsBehind: r.secondsBehind,
    lastIoError: r.lastIoError,
    lastSqlError: r.lastSqlError,
    sslAllowed: r.sslAllowed,
    gtidIoPos: r.receivedPos,
    gtidExecuted: r.executedPos,
    ioState: r.ioState,
    sourceHost: r.sourceHost,
    sourcePort: r.sourcePort,
    secondsSinceMasterContact: null,
  };
}

/** Semi-synchronous replication as one server reports it (its source side, and its replica side). */
export interface SemiSyncStatus {
  /** rpl_semi_sync_master_enabled / rpl_semi_sync_source_enabled. */
  enabled: boolean;
  /** Rpl_semi_sync_master_status: ON while commits wait for a replica's acknowledgement. */
  active: boolean;
  /** Replicas connected in semi-sync mode (Rpl_semi_sync_master_clients). */
  clients: number | null;
  /** rpl_semi_sync_master_timeout in ms: how long a commit waits before falling back to async. */
  timeoutMs: number | null;
  /** AFTER_SYNC (lossless) or AFTER_COMMIT. */
  waitPoint: string | null;
  /** rpl_semi_sync_slave_enabled / rpl_semi_sync_replica_enabled. */
  replicaEnabled: boolean;
  /** Rpl_semi_sync_slave_status: the replica side acknowledges events now. */
  replicaActive: boolean;
}

const SEMI_SYNC_NAMES = [
  "RPL_SEMI_SYNC_MASTER_STATUS",
  "RPL_SEMI_SYNC_SOURCE_STATUS",
  "RPL_SEMI_SYNC_MASTER_CLIENTS",
  "RPL_SEMI_SYNC_SOURCE_CLIENTS",
  "RPL_SEMI_SYNC_SLAVE_STATUS",
  "RPL_SEMI_SYNC_REPLICA_STATUS",
  "RPL_SEMI_SYNC_MASTER_ENABLED",
  "RPL_SEMI_SYNC_SOURCE_ENABLED",
  "RPL_SEMI_SYNC_MASTER_TIMEOUT",
  "RPL_SEMI_SYNC_SOURCE_TIMEOUT",
  "RPL_SEMI_SYNC_MASTER_WAIT_POINT",
  "RPL_SEMI_SYNC_SOURCE_WAIT_POINT",
  "RPL_SEMI_SYNC_SLAVE_ENABLED",
  "RPL_SEMI_SYNC_REPLICA_ENABLED",
];

/**
 * One query for the semi-sync status and settings, as rows (n, v). MariaDB: information_schema;
 * MySQL 8: performance_schema (the plugins' names, master/slave or source/replica). A server
 * without semi-sync returns no rows.
 */
export function semiSyncStatement(v: ServerVersion): string {
  const list = SEMI_SYNC_NAMES.map((n) => `'${n}'`).join(",");
  if (v.flavor === "mariadb") {
    return (
      `SELECT UPPER(VARIABLE_NAME) AS n, VARIABLE_VALUE AS v FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME IN (${list})` +
      ` UNION ALL SELECT UPPER(VARIABLE_NAME), VARIABLE_VALUE FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME IN (${list})`
    );
  }
  return (
    `SELECT UPPER(VARIABLE_NAME) AS n, VARIABLE_VALUE AS v FROM performance_schema.global_status WHERE UPPER(VARIABLE_NAME) IN (${list})` +
    ` UNION ALL SELECT UPPER(VARIABLE_NAME), VARIABLE_VALUE FROM performance_schema.global_variables WHERE UPPER(VARIABLE_NAME) IN (${list})`
  );
}

/** The rows of `semiSyncStatement` as a status; null when the server has no semi-sync at all. */
export function parseSemiSync(rows: Row[]): SemiSyncStatus | null {
  if (rows.length === 0) return null;
  const m = new Map<string, string>();
  for (const r of rows) m.set(rowString(r, "n").toUpperCase(), rowString(r, "v"));
  const get = (a: string, b: string) => m.get(a) ?? m.get(b);
  const on = (x: string | undefined) => x !== undefined && /^(on|1|yes)$/i.test(x);
  const num = (x: string | undefined) =>
    x === undefined || x === "" || !Number.isFinite(Number(x)) ? null : Number(x);
  return {
    enabled: on(get("RPL_SEMI_SYNC_MASTER_ENABLED", "RPL_SEMI_SYNC_SOURCE_ENABLED")),
    active: on(get("RPL_SEMI_SYNC_MASTER_STATUS", "RPL_SEMI_SYNC_SOURCE_STATUS")),
    clients: num(get("RPL_SEMI_SYNC_MASTER_CLIENTS", "RPL_SEMI_SYNC_SOURCE_CLIENTS")),
    timeoutMs: num(get("RPL_SEMI_SYNC_MASTER_TIMEOUT", "RPL_SEMI_SYNC_SOURCE_TIMEOUT")),
    waitPoint: get("RPL_SEMI_SYNC_MASTER_WAIT_POINT", "RPL_SEMI_SYNC_SOURCE_WAIT_POINT") ?? null,
    replicaEnabled: on(get("RPL_SEMI_SYNC_SLAVE_ENABLED", "RPL_SEMI_SYNC_REPLICA_ENABLED")),
    replicaActive: on(get("RPL_SEMI_SYNC_SLAVE_STATUS", "RPL_SEMI_SYNC_REPLICA_STATUS")),
  };
}

/** Is a pair whose primary reports `s` lossless now, and why (or why not), in words. */
export function losslessVerdict(s: SemiSyncStatus | null): { lossless: boolean; reason: string } {
  if (!s) return { lossless: false, reason: "the primary has no semi-synchronous replication: asynchronous" };
  if (!s.enabled)
    return { lossless: false, reason: "semi-synchronous replication is off on the primary: asynchronous" };
  if (!s.active)
    return {
      lossless: false,
      reason:
        `semi-synchronous replication fell back to asynchronous (no replica acknowledged within ${s.timeoutMs ?? "?"} ms, ` +
        `${s.clients ?? 0} semi-sync replica(s) connected): a commit acknowledged now may be lost at a failover`,
    };
  if (s.clients === 0)
    // With rpl_semi_sync_master_wait_no_slave=OFF the status stays ON while no replica is
    // connected, but no commit waits for anyone: asynchronous in fact.
    return {
      lossless: false,
      reason:
        "no semi-synchronous replica is connected: commits are not waiting for the secondary (asynchronous until it reconnects)",
    };
  if (s.waitPoint && s.waitPoint.toUpperCase() !== "AFTER_SYNC")
    return {
      lossless: false,
      reason: `semi-synchronous replication is active but waits ${s.waitPoint}: not lossless (use AFTER_SYNC)`,
    };
  return {
    lossless: true,
    reason: `semi-synchronous replication active (${s.clients ?? "?"} replica(s) acknowledge every commit, AFTER_SYNC)`,
  };
}

/**
 * What the local-writes alarm reads on a MariaDB replica, in one statement. The binlog position
 * comes first and the applied position last (a SELECT evaluates its list left to right): a
 * transaction replicated between the two reads is then in both, never in the binlog alone.
 */
export const LOCAL_WRITES_STATEMENT =
  "SELECT @@global.gtid_binlog_pos AS b, @@global.gtid_binlog_state AS s, @@global.gtid_slave_pos AS a";

/**
 * The secondary's transactions of its own (issue 19's alarm that cannot be fooled), from the row
 * of LOCAL_WRITES_STATEMENT and the replica status row:
 * - every entry of `@@gtid_binlog_state` (one per domain and server id, the last GTID each wrote)
 *   whose server id is not the primary's (`Master_Server_Id`; before the replica first connected,
 *   0, and then the entries with the secondary's own server id). A local write stays there after
 *   replication moved `gtid_binlog_pos` and `Gtid_Slave_Pos` on, which hid it from the old check;
 * - and, as before, binlog positions beyond anything received or applied (a write made under the
 *   primary's server id shows there, for as long as the primary has not gone past it).
 * Sorted, as operators read them.
 */
export function secondaryLocalGtids(vars: Row | undefined, replicaRow: Row, ownServerId: number): string[] {
  const binlogPos = rowString(vars ?? {}, "b");
  const binlogState = rowString(vars ?? {}, "s");
  const appliedNow = rowString(vars ?? {}, "a");
  const r = readReplicaRow(replicaRow);
  const primaryId = rowNumber(replicaRow, "Master_Server_Id", "Source_Server_Id");
  const foreign = (id: string) =>
    primaryId !== null && primaryId > 0 ? id !== String(primaryId) : id === String(ownServerId);
  const out = new Set<string>();
  for (const part of binlogState.split(",")) {
    const m = /^(\d+)-(\d+)-(\d+)$/.exec(part.trim());
    if (m && foreign(m[2])) out.add(part.trim());
  }
  const applied = [r.executedPos, appliedNow].filter((p) => p.trim()).join(",");
  for (const g of localGtids(binlogPos, r.receivedPos, applied, ownServerId)) out.add(g);
  return [...out].sort();
}
