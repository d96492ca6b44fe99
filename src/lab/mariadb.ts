/**
 * The MariaDB installation the lab runs: finding the binaries, a cached, initialised data
 * directory (the template every lab server copies), and the server's option file.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import { accessSync, constants, cpSync, existsSync, mkdirSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";
import { type ErrorCode, PairgateError } from "../protocol/errors.js";

export class LabError extends PairgateError {
  constructor(code: ErrorCode & `PAIRGATE_LAB_${string}`, message: string) {
    super(code, message);
  }
}

const EXTRA_DIRS = ["/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/local/mysql/bin"];

/** Finds an executable on PATH or in the sbin folders a non-root PATH often lacks. */
export function findExecutable(names: string[], envOverride?: string): string | null {
  const override = envOverride ? process.env[envOverride] : undefined;
  if (override) return override;
  const dirs = [...(process.env.PATH ?? "").split(delimiter).filter(Boolean), ...EXTRA_DIRS];
  for (const name of names) {
    for (const dir of dirs) {
      const p = join(dir, name);
      try {
        accessSync(p, constants.X_OK);
        return p;
      } catch {}
    }
  }
  return null;
}

export interface MariaDbBinaries {
  mariadbd: string;
  installDb: string;
  /** e.g. "10.11.19-MariaDB-0+deb12u1" */
  version: string;
}

const MISSING_HINT =
  "install the Debian packages mariadb-server and mariadb-client " +
  "(apt-get install -y mariadb-server mariadb-client), or run `bash scripts/ensure-deps.sh` as root";

let cachedBinaries: MariaDbBinaries | undefined;

export function mariadbBinaries(): MariaDbBinaries {
  if (cachedBinaries) return cachedBinaries;
  const mariadbd = findExecutable(["mariadbd", "mysqld"], "PAIRGATE_MARIADBD");
  if (!mariadbd) throw new LabError("PAIRGATE_LAB_NO_MARIADB", `mariadbd was not found: ${MISSING_HINT}`);
  const installDb = findExecutable(["mariadb-install-db", "mysql_install_db"], "PAIRGATE_MARIADB_INSTALL_DB");
  if (!installDb)
    throw new LabError("PAIRGATE_LAB_NO_MARIADB", `mariadb-install-db was not found: ${MISSING_HINT}`);
  const out = execFileSync(mariadbd, ["--version"], { encoding: "utf8" });
  const version = /Ver\s+(\S+)/.exec(out)?.[1] ?? "unknown";
  cachedBinaries = { mariadbd, installDb, version };
  return cachedBinaries;
}

export const runningAsRoot = typeof process.getuid === "function" && process.getuid() === 0;

/**
 * InnoDB file sizes shared by the template and every server: they must agree, or the server
 * would resize its files on first start. Small, so a server starts in a fraction of a second.
 */
export const INNODB_FILES = {
  innodb_log_file_size: "32M",
  innodb_data_file_path: "ibdata1:12M:autoextend",
} as const;

/** Bump when the template's content changes, so an old cached template is not reused. */
const TEMPLATE_FORMAT = 1;

/**
 * Initialises a data directory once per MariaDB version and OS user (in the OS temp folder,
 * shared by every lab and test of that user, never written after it is complete) and returns
 * its path.
 * Concurrent callers each build into a private folder and rename it into place; the loser of
 * the race throws its copy away.
 */
export function ensureTemplate(): string {
  const bin = mariadbBinaries();
  const key = createHash("sha256")
    .update(JSON.stringify({ TEMPLATE_FORMAT, INNODB_FILES, uid: process.getuid?.(), bin }))
    .digest("hex")
    .slice(0, 10);
  const safeVersion = bin.version.replace(/[^A-Za-z0-9.+-]/g, "_");
  const template = join(tmpdir(), `pairgate-mariadb-template-${safeVersion}-${key}`);
  if (existsSync(join(template, "data", "mysql", "global_priv.MAI"))) return template;

  const work = `${template}.tmp-${process.pid}-${randomBytes(4).toString("hex")}`;
  const dataDir = join(work, "data");
  mkdirSync(work, { recursive: true });
  try {
    const userArgs = runningAsRoot ? ["--user=root"] : [];
    const innodbArgs = Object.entries(INNODB_FILES).map(([k, v]) => `--${k.replaceAll("_", "-")}=${v}`);
    const init = spawnSync(
      bin.installDb,
      [
        "--no-defaults",
        `--datadir=${dataDir}`,
        ...userArgs,
        "--auth-root-authentication-method=normal",
        "--skip-test-db",
        "--skip-name-resolve",
        ...innodbArgs,
      ],
      { encoding: "utf8" },
    );
    if (init.status !== 0)
      throw new LabError(
        "PAIRGATE_LAB_TEMPLATE",
        `mariadb-install-db failed (${init.status ?? init.signal}):\n${init.stdout}\n${init.stderr}`,
      );
    // Keep only root@localhost (reachable through the unix socket alone, since the servers run
    // with skip_name_resolve): no root over TCP, no root@<hostname>, no anonymous user.
    const cleanup = [
      "DELETE FROM mysql.global_priv WHERE NOT ((User='root' AND Host='localhost') OR User='mariadb.sys');",
      "DELETE FROM mysql.proxies_priv WHERE Host <> 'localhost';",
      "DELETE FROM mysql.db WHERE User = '';",
    ].join("\n");
    const boot = spawnSync(
      bin.mariadbd,
      [
        "--no-defaults",
        "--bootstrap",
        `--datadir=${dataDir}`,
        ...userArgs,
        "--skip-networking",
        "--log-warnings=0",
        ...innodbArgs,
      ],
      { input: cleanup, encoding: "utf8" },
    );
    if (boot.status !== 0)
      throw new LabError(
        "PAIRGATE_LAB_TEMPLATE",
        `cleaning the template's users failed (${boot.status ?? boot.signal}):\n${boot.stderr}`,
      );
    rmSync(join(dataDir, "ib_buffer_pool"), { force: true });
    try {
      renameSync(work, template);
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== "ENOTEMPTY" && code !== "EEXIST") throw e;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return template;
}

/** Copies the template's data directory to `dataDir` (which must not exist yet). */
export function copyTemplate(dataDir: string): void {
  const template = ensureTemplate();
  const tmp = `${dataDir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  cpSync(join(template, "data"), tmp, { recursive: true });
  renameSync(tmp, dataDir);
}

/**
 * The lab's semi-sync timeout: short, so a test that stops the secondary stalls the primary's
 * commits for at most this long before it falls back to asynchronous (`replication setup` defaults
 * to 10 s, MariaDB's own default).
 */
export const LAB_SEMI_SYNC_TIMEOUT_MS = 2000;

export interface ServerOptionFile {
  role: "primary" | "secondary";
  serverId: number;
  host: string;
  port: number;
  dataDir: string;
  socket: string;
  pidFile: string;
  errorLog: string;
  /**
   * The server's own folder for temporary files (internal Aria tables of big queries, filesort).
   * Not the shared /tmp: servers of other labs on the machine, or anything cleaning /tmp, must not
   * touch a live server's files (a vanished #sql-temptable-*.MAI crashed mariadbd in
   * ha_maria::drop_table, and failed the audit catalog's read with "Error on delete").
   */
  tmpDir?: string;
  tls: { ca: string; cert: string; key: string };
}

/**
 * The server's whole configuration. It is read with --defaults-file, so nothing from
 * /etc/mysql applies. Durability is set for a process crash (kill -9), not a power cut:
 * commits reach the OS at once, fsync is left to the OS — fast, and nothing a killed
 * mariadbd had committed is lost.
 */
export function renderOptionFile(o: ServerOptionFile): string {
  const lines = [
    `# Written by pairgate lab; rewritten on every \`lab up\`.`,
    "[mariadbd]",
    `datadir=${o.dataDir}`,
    `bind_address=${o.host}`,
    `port=${o.port}`,
    `socket=${o.socket}`,
    `pid_file=${o.pidFile}`,
    `log_error=${o.errorLog}`,
    ...(o.tmpDir ? [`tmpdir=${o.tmpDir}`] : []),
    ...(runningAsRoot ? ["user=root"] : []),
    `server_id=${o.serverId}`,
    "skip_name_resolve=ON",
    "performance_schema=OFF",
    "character_set_server=utf8mb4",
    "collation_server=utf8mb4_general_ci",
    "max_connections=2000",
    "max_allowed_packet=256M",
    "local_infile=ON",
    "innodb_buffer_pool_size=64M",
    ...Object.entries(INNODB_FILES).map(([k, v]) => `${k}=${v}`),
    "innodb_flush_log_at_trx_commit=2",
    "sync_binlog=0",
    "# replication: GTID, row-based, every server keeps a binlog so either can be promoted",
    "log_bin=mariadb-bin",
    "log_bin_index=mariadb-bin.index",
    "relay_log=relay-bin",
    "relay_log_index=relay-bin.index",
    "log_slave_updates=ON",
    "binlog_format=ROW",
    "gtid_domain_id=0",
    "gtid_strict_mode=ON",
    "binlog_expire_logs_seconds=604800",
    "slave_net_timeout=10",
    "# lossless: semi-synchronous replication, both directions so the roles can swap after a promotion.",
    "# A commit is acknowledged only once the secondary's relay log has it (AFTER_SYNC); after",
    `# ${LAB_SEMI_SYNC_TIMEOUT_MS} ms without the secondary's ack the primary falls back to asynchronous.`,
    "rpl_semi_sync_master_enabled=ON",
    "rpl_semi_sync_slave_enabled=ON",
    "rpl_semi_sync_master_wait_point=AFTER_SYNC",
    `rpl_semi_sync_master_timeout=${LAB_SEMI_SYNC_TIMEOUT_MS}`,
    "# with no semi-sync replica connected a commit does not wait at all (the secondary's own writes,",
    "# a primary whose secondary is down): nothing to be lossless with, so no stall either",
    "rpl_semi_sync_master_wait_no_slave=OFF",
    "# parallel apply on the replica, so received events are applied quickly",
    "slave_parallel_threads=4",
    "slave_parallel_mode=optimistic",
    "# TLS with the lab's CA",
    `ssl_ca=${o.tls.ca}`,
    `ssl_cert=${o.tls.cert}`,
    `ssl_key=${o.tls.key}`,
  ];
  if (o.role === "secondary") lines.push("# the secondary serves reads only", "read_only=ON");
  return `${lines.join("\n")}\n`;
}

/** An option file for the `mariadb` client: root over the server's unix socket. */
export function renderClientFile(socket: string): string {
  return `[client]\nuser=root\nsocket=${socket}\n`;
}
