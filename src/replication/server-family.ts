/**
 * The replication statements of each server family, as pure functions: nothing here opens a
 * connection or runs a process. `dialectFor(@@version)` picks the implementation.
 *
 * | what                    | MariaDB (10.3+)                         | MySQL (8.0.23+)                                  |
 * |-------------------------|-----------------------------------------|--------------------------------------------------|
 * | replica status          | SHOW SLAVE STATUS (Slave_*, Master_*)   | SHOW REPLICA STATUS (Replica_*, Source_*)        |
 * | point at the primary    | CHANGE MASTER TO … MASTER_USE_GTID=slave_pos | CHANGE REPLICATION SOURCE TO … SOURCE_AUTO_POSITION=1 |
 * | TLS                     | MASTER_SSL, MASTER_SSL_CA, MASTER_SSL_VERIFY_SERVER_CERT | SOURCE_SSL, SOURCE_SSL_CA, SOURCE_SSL_VERIFY_SERVER_CERT |
 * | position logged         | @@gtid_binlog_pos                       | @@gtid_executed                                  |
 * | position applied        | @@gtid_slave_pos                        | @@gtid_executed                                  |
 * | seed position           | SET GLOBAL gtid_slave_pos = '…'         | SET GLOBAL gtid_purged = '…' (after RESET)       |
 * | wait for a position     | MASTER_GTID_WAIT(pos, s) → 0            | WAIT_FOR_EXECUTED_GTID_SET(set, s) → 0           |
 * | stop at a position      | START SLAVE UNTIL master_gtid_pos = '…' | START REPLICA UNTIL SQL_AFTER_GTIDS = '…'        |
 * | GTIDs                   | always on                               | gtid_mode=ON + enforce_gtid_consistency=ON       |
 * | dump                    | mariadb-dump --gtid --master-data=2     | mysqldump --set-gtid-purged=COMMENTED            |
 * | semi-sync (lossless)    | built in: rpl_semi_sync_master_* / _slave_* | plugins rpl_semi_sync_source / _replica (8.0.26+; master/slave before) |
 * | parallel apply          | slave_parallel_threads, slave_parallel_mode=optimistic | replica_parallel_workers, replica_preserve_commit_order |
 */
import mysql from "mysql2";
import {
  parseVersion,
  type ReplicaStatus,
  readReplicaRow,
  type ServerVersion,
  semiSyncStatement,
  versionAtLeast,
} from "../topology/server-status.js";

/** `replication setup`'s default semi-sync timeout: MariaDB's and MySQL's own default. */
export const DEFAULT_SEMI_SYNC_TIMEOUT_MS = 10_000;
/** Parallel apply threads on the secondary. */
export const PARALLEL_APPLY_THREADS = 4;

export type Flavor = "mariadb" | "mysql";
export type { ReplicaStatus, ServerVersion };

/** Schemas that belong to the server, never dumped, compared or dropped. */
export const SYSTEM_SCHEMAS: readonly string[] = ["mysql", "sys", "information_schema", "performance_schema"];

export interface ChangeSourceOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  /** CA file as a path on the secondary's host; with `verifyServerCert` the primary's certificate is checked. */
  sslCa?: string;
  verifyServerCert: boolean;
  connectRetrySeconds?: number;
  heartbeatSeconds?: number;
}

/** The replica's view of its replication, in one shape for both families. */

export interface SnapshotStatements {
  /** Run in order on one session: afterwards it holds a consistent snapshot. */
  begin: string[];
  /** One row, column `pos`: the GTID position the snapshot sees. */
  position: string;
  /** Run after reading the position, still inside the snapshot (MySQL releases its global lock). */
  after: string[];
}

export interface DumpArgs {
  host: string;
  port: number;
  user: string;
  databases: string[];
  tls: { enabled: boolean; ca?: string };
  /** Drop each database before creating it (a forced re-seed). */
  dropDatabases: boolean;
}

export interface ClientArgs {
  host: string;
  port: number;
  user: string;
  tls: { enabled: boolean; ca?: string };
}

export interface Dialect {
  readonly flavor: Flavor;
  readonly version: ServerVersion;
  /** The option-file group the server reads: [mariadbd] or [mysqld]. */
  readonly optionGroup: string;
  /** Name of the position variable the operator sees: gtid_slave_pos / gtid_executed. */
  readonly appliedPositionName: string;

  dumpCommand: string[];
  clientCommand: string[];
  dumpArgs(a: DumpArgs): string[];
  clientArgs(a: ClientArgs): string[];
  /** The snapshot's GTID position written by the dump (the last one in the text), or null. */
  parseDumpPosition(text: string): string | null;

  replicaStatus(): string;
  parseReplicaStatus(row: Record<string, unknown> | undefined): ReplicaStatus | null;
  stopReplica(): string;
  stopIoThread(): string;
  startReplica(): string;
  startSqlThread(): string;
  resetReplicaAll(): string;
  startReplicaUntil(pos: string): string;
  changeSource(o: ChangeSourceOptions): string;
  /** Only the TLS settings, keeping host, user and position (an existing replica gains or changes TLS). */
  changeSourceTls(o: Pick<ChangeSourceOptions, "sslCa" | "verifyServerCert">): string;

  /** Empties the server's own binlog/GTID history (a replica about to be seeded). */
  resetBinlog(): string;
  /** Makes the seeded replica start right after the dump's position. */
  seedPosition(pos: string): string[];
  /** One row, column `pos`: what this server has logged (a primary's position). */
  loggedPosition(): string;
  /** One row, column `pos`: what this replica has applied. */
  appliedPosition(): string;
  /** One row, column `r`: 0 once `pos` is applied, non-zero on timeout. */
  waitForPosition(pos: string, timeoutSeconds: number): string;
  snapshot(): SnapshotStatements;

  createReplicationUser(user: string, host: string, password: string): string[];
  setReadOnly(on: boolean): string[];
  /** Read-only for the applications while the admin account still seeds the server. */
  setReadOnlyExceptAdmins(): string[];
  /** Columns user, host: accounts worth copying to a replica (roles and the server's own left out). */
  listAccounts(): string;
  /** Session settings before SHOW CREATE USER so its output can be run elsewhere. */
  showCreateUserPrelude(): string[];
  /** Columns schema, name: events a replica must not run (status ENABLED). */
  enabledEvents(schemas: string[]): string;
  /** Columns schema, name: events disabled because the server was a replica. */
  replicaDisabledEvents(): string;
  disableEventOnReplica(schema: string, name: string): string;
  enableEvent(schema: string, name: string): string;

  /**
   * Semi-synchronous replication on this server, both sides (it acknowledges as a replica and waits
   * as a source), so the roles can swap after a promotion: AFTER_SYNC (lossless), `timeoutMs` before
   * a commit stops waiting and the source falls back to asynchronous. MySQL: plugins installed first
   * (an "already exists" error from INSTALL PLUGIN is expected and ignored by the caller).
   */
  semiSyncStatements(timeoutMs: number): string[];
  /** The same settings as option-file lines, so they survive a restart. */
  semiSyncOptionLines(timeoutMs: number): string[];
  /** Rows (n, v): semi-sync status and settings (see topology/server-status.ts parseSemiSync). */
  semiSyncStatus(): string;
  /** The global variable that turns the replica side of semi-sync on or off ("" when none). */
  readonly replicaSemiSyncVariable: string;
  /** Parallel apply on a replica; run while its replication threads are stopped. */
  parallelApplyStatements(): string[];
  parallelApplyOptionLines(): string[];
  /** One row, columns threads and mode: the replica's parallel apply settings. */
  parallelApplyStatus(): string;
}

const lit = (v: string) => mysql.escape(v);
const id = (v: string) => mysql.escapeId(v);
const account = (user: string, host: string) => `${lit(user)}@${lit(host)}`;

function tlsClientArgs(flavor: Flavor, tls: { enabled: boolean; ca?: string }): string[] {
  if (!tls.enabled) return flavor === "mysql" ? ["--ssl-mode=DISABLED"] : [];
  if (flavor === "mysql")
    return tls.ca ? ["--ssl-mode=VERIFY_IDENTITY", `--ssl-ca=${tls.ca}`] : ["--ssl-mode=REQUIRED"];
  return tls.ca ? ["--ssl", `--ssl-ca=${tls.ca}`, "--ssl-verify-server-cert"] : ["--ssl"];
}

const COMMON_DUMP = [
  "--single-transaction",
  "--routines",
  "--events",
  "--triggers",
  "--hex-blob",
  "--default-character-set=utf8mb4",
  "--max-allowed-packet=1G",
];

/** The last match of `re` (global) in `text`, group 1. */
function lastMatch(re: RegExp, text: string): string | null {
  let found: string | null = null;
  for (const m of text.matchAll(re)) found = m[1];
  return found;
}

class MariaDbDialect implements Dialect {
  readonly flavor = "mariadb" as const;
  readonly optionGroup = "[mariadbd]";
  readonly appliedPositionName = "gtid_slave_pos";
  readonly dumpCommand = ["mariadb-dump", "mysqldump"];
  readonly clientCommand = ["mariadb", "mysql"];
  constructor(readonly version: ServerVersion) {}

  dumpArgs(a: DumpArgs): string[] {
    return [
      `--host=${a.host}`,
      `--port=${a.port}`,
      `--user=${a.user}`,
      ...tlsClientArgs("mariadb", a.tls),
      ...COMMON_DUMP,
      // The snapshot's GTID position, as a comment (we set it ourselves once the data is in).
      "--gtid",
      "--master-data=2",
      ...(a.dropDatabases ? ["--add-drop-database"] : []),
      "--databases",
      ...a.databases,
    ];
  }
  clientArgs(a: ClientArgs): string[] {
    return [
      `--host=${a.host}`,
      `--port=${a.port}`,
      `--user=${a.user}`,
      ...tlsClientArgs("mariadb", a.tls),
      // The seed is the replica's starting state, not its own history: keep it out of its binlog.
      "--init-command=SET SESSION sql_log_bin = 0",
      "--binary-mode",
      "--max-allowed-packet=1G",
      "--batch",
    ];
  }
  parseDumpPosition(text: string): string | null {
    return lastMatch(/^-- SET GLOBAL gtid_slave_pos='([0-9,-]*)';/gm, text);
  }

  replicaStatus(): string {
    return "SHOW SLAVE STATUS";
  }
  parseReplicaStatus(row: Record<string, unknown> | undefined): ReplicaStatus | null {
    return row ? readReplicaRow(row) : null;
  }
  stopReplica(): string {
    return "STOP SLAVE";
  }
  stopIoThread(): string {
    return "STOP SLAVE IO_THREAD";
  }
  startReplica(): string {
    return "START SLAVE";
  }
  startSqlThread(): string {
    return "START SLAVE SQL_THREAD";
  }
  resetReplicaAll(): string {
    return "RESET SLAVE ALL";
  }
  startReplicaUntil(pos: string): string {
    // Both threads stop at the position (MariaDB refuses UNTIL master_gtid_pos with one thread running).
    return `START SLAVE UNTIL master_gtid_pos = ${lit(pos)}`;
  }
  changeSource(o: ChangeSourceOptions): string {
    const parts = [
      `MASTER_HOST = ${lit(o.host)}`,
      `MASTER_PORT = ${o.port}`,
      `MASTER_USER = ${lit(o.user)}`,
      `MASTER_PASSWORD = ${lit(o.password)}`,
      "MASTER_USE_GTID = slave_pos",
      ...this.tlsParts(o),
      `MASTER_CONNECT_RETRY = ${o.connectRetrySeconds ?? 5}`,
      `MASTER_HEARTBEAT_PERIOD = ${o.heartbeatSeconds ?? 1}`,
    ];
    return `CHANGE MASTER TO ${parts.join(", ")}`;
  }
  changeSourceTls(o: Pick<ChangeSourceOptions, "sslCa" | "verifyServerCert">): string {
    return `CHANGE MASTER TO ${this.tlsParts(o).join(", ")}`;
  }
  private tlsParts(o: Pick<ChangeSourceOptions, "sslCa" | "verifyServerCert">): string[] {
    return [
      "MASTER_SSL = 1",
      `MASTER_SSL_CA = ${lit(o.sslCa ?? "")}`,
      `MASTER_SSL_VERIFY_SERVER_CERT = ${o.verifyServerCert ? 1 : 0}`,
    ];
  }
  resetBinlog(): string {
    return "RESET MASTER";
  }
  seedPosition(pos: string): string[] {
    return [`SET GLOBAL gtid_slave_pos = ${lit(pos)}`];
  }
  loggedPosition(): string {
    return "SELECT @@GLOBAL.gtid_binlog_pos AS pos";
  }
  appliedPosition(): string {
    return "SELECT @@GLOBAL.gtid_slave_pos AS pos";
  }
  waitForPosition(pos: string, timeoutSeconds: number): string {
    return `SELECT MASTER_GTID_WAIT(${lit(pos)}, ${Math.max(0, timeoutSeconds)}) AS r`;
  }
  snapshot(): SnapshotStatements {
    // A consistent snapshot also fixes the binlog coordinates it corresponds to (Binlog_snapshot_*
    // session status, no global lock needed); BINLOG_GTID_POS turns them into a GTID position.
    const status = (name: string) =>
      `(SELECT VARIABLE_VALUE FROM information_schema.SESSION_STATUS WHERE VARIABLE_NAME = '${name}')`;
    return {
      begin: [
        "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "START TRANSACTION WITH CONSISTENT SNAPSHOT",
      ],
      position: `SELECT BINLOG_GTID_POS(${status("BINLOG_SNAPSHOT_FILE")}, ${status("BINLOG_SNAPSHOT_POSITION")}) AS pos`,
      after: [],
    };
  }
  createReplicationUser(user: string, host: string, password: string): string[] {
    const a = account(user, host);
    return [
      `CREATE USER IF NOT EXISTS ${a} IDENTIFIED BY ${lit(password)} REQUIRE SSL`,
      `ALTER USER ${a} IDENTIFIED BY ${lit(password)} REQUIRE SSL`,
      `GRANT REPLICATION SLAVE ON *.* TO ${a}`,
    ];
  }
  setReadOnly(on: boolean): string[] {
    return [`SET GLOBAL read_only = ${on ? "ON" : "OFF"}`];
  }
  setReadOnlyExceptAdmins(): string[] {
    // Accounts with READ_ONLY ADMIN (the admin account) still write.
    return this.setReadOnly(true);
  }
  semiSyncStatements(timeoutMs: number): string[] {
    return [
      "SET GLOBAL rpl_semi_sync_master_wait_point = 'AFTER_SYNC'",
      `SET GLOBAL rpl_semi_sync_master_timeout = ${Math.max(1, Math.round(timeoutMs))}`,
      "SET GLOBAL rpl_semi_sync_master_wait_no_slave = OFF",
      "SET GLOBAL rpl_semi_sync_master_enabled = ON",
      "SET GLOBAL rpl_semi_sync_slave_enabled = ON",
    ];
  }
  semiSyncOptionLines(timeoutMs: number): string[] {
    return [
      "rpl_semi_sync_master_enabled = ON",
      "rpl_semi_sync_slave_enabled = ON",
      "rpl_semi_sync_master_wait_point = AFTER_SYNC",
      `rpl_semi_sync_master_timeout = ${Math.max(1, Math.round(timeoutMs))}`,
      "rpl_semi_sync_master_wait_no_slave = OFF",
    ];
  }
  semiSyncStatus(): string {
    return semiSyncStatement(this.version);
  }
  readonly replicaSemiSyncVariable = "rpl_semi_sync_slave_enabled";
  parallelApplyStatements(): string[] {
    return [
      `SET GLOBAL slave_parallel_threads = ${PARALLEL_APPLY_THREADS}`,
      "SET GLOBAL slave_parallel_mode = 'optimistic'",
    ];
  }
  parallelApplyOptionLines(): string[] {
    return [`slave_parallel_threads = ${PARALLEL_APPLY_THREADS}`, "slave_parallel_mode = optimistic"];
  }
  parallelApplyStatus(): string {
    return "SELECT @@global.slave_parallel_threads AS threads, @@global.slave_parallel_mode AS mode";
  }
  listAccounts(): string {
    return "SELECT User AS user, Host AS host FROM mysql.user WHERE is_role = 'N' AND User <> '' ORDER BY User, Host";
  }
  showCreateUserPrelude(): string[] {
    return [];
  }
  enabledEvents(schemas: string[]): string {
    return eventsIn(schemas, "'ENABLED'");
  }
  replicaDisabledEvents(): string {
    return "SELECT EVENT_SCHEMA AS `schema`, EVENT_NAME AS name FROM information_schema.EVENTS WHERE STATUS = 'SLAVESIDE_DISABLED'";
  }
  disableEventOnReplica(schema: string, name: string): string {
    return `ALTER EVENT ${id(schema)}.${id(name)} DISABLE ON SLAVE`;
  }
  enableEvent(schema: string, name: string): string {
    return `ALTER EVENT ${id(schema)}.${id(name)} ENABLE`;
  }
}

function eventsIn(schemas: string[], status: string): string {
  const list = schemas.length ? schemas.map(lit).join(", ") : "NULL";
  return `SELECT EVENT_SCHEMA AS \`schema\`, EVENT_NAME AS name FROM information_schema.EVENTS WHERE STATUS = ${status} AND EVENT_SCHEMA IN (${list})`;
}

class MySqlDialect implements Dialect {
  readonly flavor = "mysql" as const;
  readonly optionGroup = "[mysqld]";
  readonly appliedPositionName = "gtid_executed";
  readonly dumpCommand = ["mysqldump"];
  readonly clientCommand = ["mysql"];
  constructor(readonly version: ServerVersion) {}

  dumpArgs(a: DumpArgs): string[] {
    return [
      `--host=${a.host}`,
      `--port=${a.port}`,
      `--user=${a.user}`,
      ...tlsClientArgs("mysql", a.tls),
      ...COMMON_DUMP,
      // The snapshot's GTID set, as a comment (we set gtid_purged ourselves on the replica).
      "--set-gtid-purged=COMMENTED",
      ...(a.dropDatabases ? ["--add-drop-database"] : []),
      "--databases",
      ...a.databases,
    ];
  }
  clientArgs(a: ClientArgs): string[] {
    return [
      `--host=${a.host}`,
      `--port=${a.port}`,
      `--user=${a.user}`,
      ...tlsClientArgs("mysql", a.tls),
      "--init-command=SET SESSION sql_log_bin = 0",
      "--binary-mode",
      "--max-allowed-packet=1G",
      "--batch",
    ];
  }
  parseDumpPosition(text: string): string | null {
    // mysqldump 8: `SET @@GLOBAL.GTID_PURGED=/*!80000 '+'*/ 'uuid:1-5,\nuuid2:1-3';` (inside /* */ when COMMENTED).
    const m = lastMatch(/SET @@GLOBAL\.GTID_PURGED=(?:\/\*!\d+ '\+'\*\/ )?'\+?([^']*)'/g, text);
    return m === null ? null : m.replace(/\s+/g, "");
  }

  private get replicaWords(): boolean {
    return versionAtLeast(this.version, 8, 0, 22);
  }
  replicaStatus(): string {
    return this.replicaWords ? "SHOW REPLICA STATUS" : "SHOW SLAVE STATUS";
  }
  parseReplicaStatus(row: Record<string, unknown> | undefined): ReplicaStatus | null {
    return row ? readReplicaRow(row) : null;
  }
  stopReplica(): string {
    return "STOP REPLICA";
  }
  stopIoThread(): string {
    return "STOP REPLICA IO_THREAD";
  }
  startReplica(): string {
    return "START REPLICA";
  }
  startSqlThread(): string {
    return "START REPLICA SQL_THREAD";
  }
  resetReplicaAll(): string {
    return "RESET REPLICA ALL";
  }
  startReplicaUntil(pos: string): string {
    return `START REPLICA UNTIL SQL_AFTER_GTIDS = ${lit(pos)}`;
  }
  changeSource(o: ChangeSourceOptions): string {
    const parts = [
      `SOURCE_HOST = ${lit(o.host)}`,
      `SOURCE_PORT = ${o.port}`,
      `SOURCE_USER = ${lit(o.user)}`,
      `SOURCE_PASSWORD = ${lit(o.password)}`,
      "SOURCE_AUTO_POSITION = 1",
      ...this.tlsParts(o),
      `SOURCE_CONNECT_RETRY = ${o.connectRetrySeconds ?? 5}`,
      `SOURCE_HEARTBEAT_PERIOD = ${o.heartbeatSeconds ?? 1}`,
    ];
    return `CHANGE REPLICATION SOURCE TO ${parts.join(", ")}`;
  }
  changeSourceTls(o: Pick<ChangeSourceOptions, "sslCa" | "verifyServerCert">): string {
    return `CHANGE REPLICATION SOURCE TO ${this.tlsParts(o).join(", ")}`;
  }
  private tlsParts(o: Pick<ChangeSourceOptions, "sslCa" | "verifyServerCert">): string[] {
    return [
      "SOURCE_SSL = 1",
      `SOURCE_SSL_CA = ${lit(o.sslCa ?? "")}`,
      `SOURCE_SSL_VERIFY_SERVER_CERT = ${o.verifyServerCert ? 1 : 0}`,
    ];
  }
  resetBinlog(): string {
    // RESET MASTER is gone in 8.4; its replacement exists from 8.2.
    return versionAtLeast(this.version, 8, 2, 0) ? "RESET BINARY LOGS AND GTIDS" : "RESET MASTER";
  }
  seedPosition(pos: string): string[] {
    return [`SET GLOBAL gtid_purged = ${lit(pos)}`];
  }
  loggedPosition(): string {
    return "SELECT @@GLOBAL.gtid_executed AS pos";
  }
  appliedPosition(): string {
    return "SELECT @@GLOBAL.gtid_executed AS pos";
  }
  waitForPosition(pos: string, timeoutSeconds: number): string {
    return `SELECT WAIT_FOR_EXECUTED_GTID_SET(${lit(pos)}, ${Math.max(0, timeoutSeconds)}) AS r`;
  }
  snapshot(): SnapshotStatements {
    // gtid_executed is not tied to a snapshot: hold the global read lock while both are taken (as mysqldump does).
    return {
      begin: [
        "SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ",
        "FLUSH TABLES WITH READ LOCK",
        "START TRANSACTION WITH CONSISTENT SNAPSHOT",
      ],
      position: "SELECT @@GLOBAL.gtid_executed AS pos",
      after: ["UNLOCK TABLES"],
    };
  }
  createReplicationUser(user: string, host: string, password: string): string[] {
    const a = account(user, host);
    const auth = `IDENTIFIED WITH caching_sha2_password BY ${lit(password)} REQUIRE SSL`;
    return [
      `CREATE USER IF NOT EXISTS ${a} ${auth}`,
      `ALTER USER ${a} ${auth}`,
      `GRANT REPLICATION SLAVE ON *.* TO ${a}`,
    ];
  }
  setReadOnly(on: boolean): string[] {
    // super_read_only also stops accounts with SUPER / CONNECTION_ADMIN from writing.
    return on
      ? ["SET GLOBAL read_only = ON", "SET GLOBAL super_read_only = ON"]
      : ["SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = OFF"];
  }
  setReadOnlyExceptAdmins(): string[] {
    // super_read_only would stop the seed itself (the admin account has SUPER): it comes at the end.
    return ["SET GLOBAL super_read_only = OFF", "SET GLOBAL read_only = ON"];
  }
  /** 8.0.26 renamed the plugins and their variables (source/replica). */
  private get semiNames() {
    return versionAtLeast(this.version, 8, 0, 26)
      ? {
          source: "rpl_semi_sync_source",
          replica: "rpl_semi_sync_replica",
          sourceSo: "semisync_source.so",
          replicaSo: "semisync_replica.so",
          waitNoReplica: "rpl_semi_sync_source_wait_no_replica",
        }
      : {
          source: "rpl_semi_sync_master",
          replica: "rpl_semi_sync_slave",
          sourceSo: "semisync_master.so",
          replicaSo: "semisync_slave.so",
          waitNoReplica: "rpl_semi_sync_master_wait_no_slave",
        };
  }
  semiSyncStatements(timeoutMs: number): string[] {
    const n = this.semiNames;
    return [
      `INSTALL PLUGIN ${n.source} SONAME '${n.sourceSo}'`,
      `INSTALL PLUGIN ${n.replica} SONAME '${n.replicaSo}'`,
      `SET GLOBAL ${n.source}_wait_point = 'AFTER_SYNC'`,
      `SET GLOBAL ${n.source}_timeout = ${Math.max(1, Math.round(timeoutMs))}`,
      `SET GLOBAL ${n.waitNoReplica} = OFF`,
      `SET GLOBAL ${n.source}_enabled = ON`,
      `SET GLOBAL ${n.replica}_enabled = ON`,
    ];
  }
  semiSyncOptionLines(timeoutMs: number): string[] {
    const n = this.semiNames;
    return [
      `plugin_load_add = ${n.sourceSo}`,
      `plugin_load_add = ${n.replicaSo}`,
      `${n.source}_enabled = ON`,
      `${n.replica}_enabled = ON`,
      `${n.source}_wait_point = AFTER_SYNC`,
      `${n.source}_timeout = ${Math.max(1, Math.round(timeoutMs))}`,
      `${n.waitNoReplica} = OFF`,
    ];
  }
  semiSyncStatus(): string {
    return semiSyncStatement(this.version);
  }
  get replicaSemiSyncVariable(): string {
    return `${this.semiNames.replica}_enabled`;
  }
  private get parallelNames() {
    return versionAtLeast(this.version, 8, 0, 26)
      ? { workers: "replica_parallel_workers", order: "replica_preserve_commit_order" }
      : { workers: "slave_parallel_workers", order: "slave_preserve_commit_order" };
  }
  parallelApplyStatements(): string[] {
    const n = this.parallelNames;
    // Before 8.0.27 the default type (DATABASE) parallelises only across schemas.
    const type = versionAtLeast(this.version, 8, 0, 27)
      ? []
      : [
          `SET GLOBAL ${versionAtLeast(this.version, 8, 0, 26) ? "replica" : "slave"}_parallel_type = 'LOGICAL_CLOCK'`,
        ];
    return [...type, `SET GLOBAL ${n.workers} = ${PARALLEL_APPLY_THREADS}`, `SET GLOBAL ${n.order} = ON`];
  }
  parallelApplyOptionLines(): string[] {
    const n = this.parallelNames;
    return [`${n.workers} = ${PARALLEL_APPLY_THREADS}`, `${n.order} = ON`];
  }
  parallelApplyStatus(): string {
    const n = this.parallelNames;
    return `SELECT @@global.${n.workers} AS threads, IF(@@global.${n.order}, 'preserve_commit_order', 'unordered') AS mode`;
  }
  listAccounts(): string {
    return (
      "SELECT User AS user, Host AS host FROM mysql.user WHERE User NOT IN " +
      "('mysql.sys', 'mysql.session', 'mysql.infoschema', '') ORDER BY User, Host"
    );
  }
  showCreateUserPrelude(): string[] {
    // caching_sha2_password hashes hold bytes that do not survive as text.
    return ["SET SESSION print_identified_with_as_hex = ON"];
  }
  enabledEvents(schemas: string[]): string {
    return eventsIn(schemas, "'ENABLED'");
  }
  replicaDisabledEvents(): string {
    return (
      "SELECT EVENT_SCHEMA AS `schema`, EVENT_NAME AS name FROM information_schema.EVENTS " +
      "WHERE STATUS IN ('SLAVESIDE_DISABLED', 'REPLICA_SIDE_DISABLED')"
    );
  }
  disableEventOnReplica(schema: string, name: string): string {
    return `ALTER EVENT ${id(schema)}.${id(name)} ${this.replicaWords ? "DISABLE ON REPLICA" : "DISABLE ON SLAVE"}`;
  }
  enableEvent(schema: string, name: string): string {
    return `ALTER EVENT ${id(schema)}.${id(name)} ENABLE`;
  }
}

/** The dialect of a server from its `@@version` ("10.11.19-MariaDB-…", "8.0.36"). */
export function dialectFor(version: string): Dialect {
  const v = parseVersion(version);
  return v.flavor === "mariadb" ? new MariaDbDialect(v) : new MySqlDialect(v);
}

/** Oldest versions the commands support; null when `version` is supported. */
export function unsupportedVersion(v: ServerVersion): string | null {
  if (v.flavor === "mariadb" && !versionAtLeast(v, 10, 3, 0)) return "MariaDB 10.3 or later is needed";
  if (v.flavor === "mysql" && !versionAtLeast(v, 8, 0, 23))
    return "MySQL 8.0.23 or later is needed (CHANGE REPLICATION SOURCE TO)";
  return null;
}
