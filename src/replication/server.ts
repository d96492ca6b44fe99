/**
 * Admin sessions to the servers and what the commands need to know about each one: version and
 * family, binlog, GTID mode, server_id, TLS, read_only, the schemas that hold data.
 */
import { readFileSync } from "node:fs";
import type { Connection, ConnectionOptions, RowDataPacket } from "mysql2/promise";
import mysql from "mysql2/promise";
import { type Endpoint, formatEndpoint } from "./endpoint.js";
import { ReplicationError } from "./errors.js";
import { type Dialect, dialectFor, type ReplicaStatus, SYSTEM_SCHEMAS } from "./server-family.js";

export interface AdminCredentials {
  user: string;
  password: string;
}

export interface ConnectOptions {
  /** Verify the server's certificate against this CA; without it TLS is used unverified when offered. */
  sslCa?: string;
  connectTimeoutMs?: number;
  /** Row values as strings where JavaScript numbers would round (checksums, BIGINT keys, dates). */
  exactValues?: boolean;
}

export interface AdminSession {
  endpoint: Endpoint;
  conn: Connection;
  /** The session is encrypted. */
  tls: boolean;
  /** The server certificate was verified against the CA. */
  verified: boolean;
}

/** The name an operator reads in messages: "primary 127.0.0.1:3306". */
export function label(role: string, e: Endpoint): string {
  return `${role} ${formatEndpoint(e)}`;
}

function describeConnectError(e: unknown): string {
  const err = e as { code?: string; message?: string };
  switch (err.code) {
    case "ECONNREFUSED":
      return "connection refused (is the server running, on this port?)";
    case "ETIMEDOUT":
      return "no answer (a firewall, a wrong address, or the server is hung)";
    case "ENOTFOUND":
    case "EAI_AGAIN":
      return "the host name does not resolve";
    case "ER_ACCESS_DENIED_ERROR":
      return `access denied: ${err.message}`;
    default:
      return err.message ?? String(e);
  }
}

/**
 * An admin session over TCP. TLS is preferred: verified with `sslCa`, otherwise accepted unverified
 * when the server offers it, and plain only when the server has no TLS at all (preflight says so).
 */
export async function connectAdmin(
  role: string,
  endpoint: Endpoint,
  creds: AdminCredentials,
  opts: ConnectOptions = {},
): Promise<AdminSession> {
  const base: ConnectionOptions = {
    host: endpoint.host,
    port: endpoint.port,
    user: creds.user,
    password: creds.password,
    connectTimeout: opts.connectTimeoutMs ?? 10_000,
    multipleStatements: false,
    ...(opts.exactValues ? { supportBigNumbers: true, bigNumberStrings: true, dateStrings: true } : {}),
  };
  const fail = (e: unknown) =>
    new ReplicationError(
      "PAIRGATE_REPL_UNREACHABLE",
      `cannot reach the ${label(role, endpoint)} as ${creds.user}: ${describeConnectError(e)}`,
    );
  if (opts.sslCa) {
    let ca: Buffer;
    try {
      ca = readFileSync(opts.sslCa);
    } catch (e) {
      throw new ReplicationError(
        "PAIRGATE_REPL_CA",
        `cannot read --ssl-ca ${opts.sslCa}: ${(e as Error).message}`,
      );
    }
    try {
      const conn = await mysql.createConnection({ ...base, ssl: { ca, rejectUnauthorized: true } });
      return { endpoint, conn, tls: true, verified: true };
    } catch (e) {
      throw fail(e);
    }
  }
  try {
    const conn = await mysql.createConnection({ ...base, ssl: { rejectUnauthorized: false } });
    return { endpoint, conn, tls: true, verified: false };
  } catch (e) {
    if (
      !/does not support secure connection|HANDSHAKE_NO_SSL_SUPPORT/i.test(
        `${(e as Error).message} ${(e as { code?: string }).code}`,
      )
    )
      throw fail(e);
  }
  try {
    const conn = await mysql.createConnection(base);
    return { endpoint, conn, tls: false, verified: false };
  } catch (e) {
    throw fail(e);
  }
}

/**
 * Sessions to both servers at once. When either cannot be reached, the other is closed and the
 * error names every server that failed.
 */
export async function connectPair(
  primary: Endpoint,
  secondary: Endpoint,
  creds: AdminCredentials,
  opts: ConnectOptions = {},
): Promise<[AdminSession, AdminSession]> {
  const [p, s] = await Promise.allSettled([
    connectAdmin("primary", primary, creds, opts),
    connectAdmin("secondary", secondary, creds, opts),
  ]);
  if (p.status === "fulfilled" && s.status === "fulfilled") return [p.value, s.value];
  await closeAll(
    p.status === "fulfilled" ? p.value : undefined,
    s.status === "fulfilled" ? s.value : undefined,
  );
  const failed = [p, s]
    .filter((r): r is PromiseRejectedResult => r.status === "rejected")
    .map((r) => r.reason as Error);
  if (failed.length === 1) throw failed[0];
  throw new ReplicationError("PAIRGATE_REPL_UNREACHABLE", failed.map((e) => e.message).join("; "));
}

export async function rows(conn: Connection, sql: string, params?: unknown[]): Promise<RowDataPacket[]> {
  const [r] = await conn.query<RowDataPacket[]>(sql, params);
  return r;
}

export async function scalar(conn: Connection, sql: string, params?: unknown[]): Promise<string> {
  const r = (await rows(conn, sql, params))[0];
  if (!r) return "";
  const v = Object.values(r)[0];
  return v === null || v === undefined ? "" : Buffer.isBuffer(v) ? v.toString("utf8") : String(v);
}

/** What preflight and the commands read from a server. */
export interface ServerFacts {
  role: string;
  endpoint: Endpoint;
  version: string;
  versionComment: string;
  serverId: number;
  logBin: boolean;
  binlogFormat: string;
  /** log_slave_updates / log_replica_updates; null when the server does not say. */
  logReplicaUpdates: boolean | null;
  /** MySQL gtid_mode (OFF | OFF_PERMISSIVE | ON_PERMISSIVE | ON); null on MariaDB. */
  gtidMode: string | null;
  enforceGtidConsistency: string | null;
  /** MariaDB gtid_strict_mode; null on MySQL. */
  gtidStrictMode: boolean | null;
  /** TLS configured on the server (have_ssl=YES, or a certificate loaded), or this session is TLS. */
  tlsAvailable: boolean;
  sslCert: string;
  readOnly: boolean;
  /** What this server has logged (gtid_binlog_pos / gtid_executed). */
  loggedPos: string;
  /** Schemas other than the server's own. */
  userDatabases: string[];
}

const VARIABLES = [
  "version",
  "version_comment",
  "server_id",
  "log_bin",
  "binlog_format",
  "log_slave_updates",
  "log_replica_updates",
  "gtid_mode",
  "enforce_gtid_consistency",
  "gtid_strict_mode",
  "have_ssl",
  "ssl_cert",
  "read_only",
];

const on = (v: string | undefined) => v !== undefined && /^(on|1|yes)$/i.test(v);

export async function userDatabases(conn: Connection): Promise<string[]> {
  const r = await rows(
    conn,
    "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME NOT IN (?) ORDER BY SCHEMA_NAME",
    [SYSTEM_SCHEMAS],
  );
  return r.map((x) => String(x.name));
}

/**
 * How many tables (views and sequences included), routines and events each database holds. A
 * database with none (a fresh install's `test`) holds nothing a setup could overwrite.
 */
export async function databaseObjects(
  conn: Connection,
  databases: readonly string[],
): Promise<Map<string, number>> {
  const out = new Map<string, number>();
  if (databases.length === 0) return out;
  const r = await rows(
    conn,
    `SELECT s.SCHEMA_NAME AS name,
       (SELECT COUNT(*) FROM information_schema.TABLES t WHERE t.TABLE_SCHEMA = s.SCHEMA_NAME)
     + (SELECT COUNT(*) FROM information_schema.ROUTINES r WHERE r.ROUTINE_SCHEMA = s.SCHEMA_NAME)
     + (SELECT COUNT(*) FROM information_schema.EVENTS e WHERE e.EVENT_SCHEMA = s.SCHEMA_NAME) AS objects
     FROM information_schema.SCHEMATA s WHERE s.SCHEMA_NAME IN (?)`,
    [databases],
  );
  for (const x of r) out.set(String(x.name), Number(x.objects));
  return out;
}

export async function inspect(
  role: string,
  s: AdminSession,
): Promise<{ facts: ServerFacts; dialect: Dialect }> {
  const vars = new Map<string, string>();
  const list = VARIABLES.map((v) => `'${v}'`).join(", ");
  for (const r of await rows(s.conn, `SHOW GLOBAL VARIABLES WHERE Variable_name IN (${list})`))
    vars.set(String(r.Variable_name).toLowerCase(), String(r.Value ?? ""));
  const version = vars.get("version") ?? (await scalar(s.conn, "SELECT @@version"));
  const dialect = dialectFor(version);
  const sslCert = vars.get("ssl_cert") ?? "";
  const facts: ServerFacts = {
    role,
    endpoint: s.endpoint,
    version,
    versionComment: vars.get("version_comment") ?? "",
    serverId: Number(vars.get("server_id") ?? 0),
    logBin: on(vars.get("log_bin")),
    binlogFormat: vars.get("binlog_format") ?? "",
    logReplicaUpdates: vars.has("log_replica_updates")
      ? on(vars.get("log_replica_updates"))
      : vars.has("log_slave_updates")
        ? on(vars.get("log_slave_updates"))
        : null,
    gtidMode: dialect.flavor === "mysql" ? (vars.get("gtid_mode") ?? "OFF") : null,
    enforceGtidConsistency:
      dialect.flavor === "mysql" ? (vars.get("enforce_gtid_consistency") ?? "OFF") : null,
    gtidStrictMode: dialect.flavor === "mariadb" ? on(vars.get("gtid_strict_mode")) : null,
    tlsAvailable: vars.get("have_ssl") === "YES" || (!vars.has("have_ssl") && sslCert !== "") || s.tls,
    sslCert,
    readOnly: on(vars.get("read_only")),
    loggedPos: await scalar(s.conn, dialect.loggedPosition()),
    userDatabases: await userDatabases(s.conn),
  };
  return { facts, dialect };
}

export async function replicaStatus(conn: Connection, dialect: Dialect): Promise<ReplicaStatus | null> {
  const r = await rows(conn, dialect.replicaStatus());
  const st = dialect.parseReplicaStatus(r[0]);
  if (st && dialect.flavor === "mariadb" && !st.executedPos)
    st.executedPos = await scalar(conn, dialect.appliedPosition());
  return st;
}

export async function closeAll(...sessions: (AdminSession | undefined)[]): Promise<void> {
  await Promise.all(sessions.map((s) => s?.conn.end().catch(() => s.conn.destroy())));
}
