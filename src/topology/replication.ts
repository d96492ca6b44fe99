/**
 * Server flavour and replication status: which statement to run on which server, and how to read
 * its row into a `ReplicationStatus`. Pure functions; the probe does the I/O.
 *
 * MariaDB: `SHOW ALL SLAVES STATUS` (every version since 10.0; a superset of `SHOW SLAVE STATUS`
 * that also carries `Gtid_Slave_Pos`). MySQL before 8.0.22: `SHOW SLAVE STATUS`; from 8.0.22:
 * `SHOW REPLICA STATUS` with the Source/Replica column names.
 */
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
