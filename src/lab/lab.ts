/**
 * A local primary/secondary pair of real MariaDB servers: the demo's databases and the tests'.
 * Each server has its own folder under the lab dir (data, option file, socket, pid file, error
 * log); the secondary replicates from the primary with GTIDs over TLS verified against the lab's
 * CA, and runs read_only. Servers are detached processes: they outlive the command that started
 * them until `down()`.
 */
import { spawn } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  readSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import type { Connection, ConnectionOptions, RowDataPacket } from "mysql2/promise";
import mysql from "mysql2/promise";
import {
  copyTemplate,
  LabError,
  mariadbBinaries,
  renderClientFile,
  renderOptionFile,
  type ServerOptionFile,
} from "./mariadb.js";
import { isAlive, pidsWithArg, signal, sleep, waitForExit } from "./process.js";
import {
  type Credentials,
  DEMO_SCHEMA,
  type ProvisionOptions,
  provision,
  provisionStatements,
} from "./provision.js";
import { ensureTls, type TlsFiles } from "./tls.js";

export type Role = "primary" | "secondary";
export const ROLES: readonly Role[] = ["primary", "secondary"];

export interface ServerSpec {
  role: Role;
  port: number;
  serverId: number;
  dataDir: string;
}

export interface LabOptions {
  dir: string;
  primaryPort: number;
  secondaryPort: number;
  /** Address both servers listen on; 127.0.0.1 unless set. */
  host?: string;
  appUser: Credentials;
  serviceUser: Credentials;
  /** More application users (same grants as appUser), e.g. the config's users[1..]. */
  extraAppUsers?: Credentials[];
  /** More service accounts (same grants), e.g. when `secondary.user` differs from `primary.user`. */
  extraServiceUsers?: Credentials[];
  /** Schema of pairgate's audit table, where the service account may create and write: passtrix. */
  auditSchema?: string;
  /** How long a server may take to start, and to shut down before it gets SIGKILL. */
  startTimeoutMs?: number;
  shutdownTimeoutMs?: number;
  /** How long `up()`/`start()` wait for the replication threads. */
  replicationTimeoutMs?: number;
  /**
   * Where the secondary reaches the primary for replication, when not directly (the two-site
   * lab's WAN link); the primary's certificate must name its host.
   */
  replicationSource?: { host: string; port: number };
}

export interface ReplicationStatus {
  /** Slave_IO_Running: "Yes" | "No" | "Connecting" | "Preparing" */
  ioRunning: string;
  sqlRunning: string;
  secondsBehindMaster: number | null;
  masterHost: string;
  masterPort: number;
  masterUser: string;
  /** Master_SSL_Allowed: the channel is TLS. */
  sslAllowed: boolean;
  sslVerifyServerCert: boolean;
  /** Master_SSL_CA: the CA file the secondary verifies the primary's certificate with. */
  sslCa: string;
  usingGtid: string;
  gtidIoPos: string;
  lastIoError: string;
  lastSqlError: string;
}

export interface ServerStatus {
  role: Role;
  host: string;
  port: number;
  serverId: number;
  running: boolean;
  pid: number | null;
  socket: string;
  dataDir: string;
  errorLog: string;
  readOnly: boolean | null;
  gtidBinlogPos: string | null;
  gtidSlavePos: string | null;
  /** SHOW SLAVE STATUS; null when the server replicates from nobody (the primary) or is down. */
  replication: ReplicationStatus | null;
  /** Why the server could not be queried although its process runs. */
  error?: string;
}

export interface LabStatus {
  dir: string;
  primary: ServerStatus;
  secondary: ServerStatus;
}

interface LabState {
  version: 1;
  replicationUser: Credentials;
}

const REPLICATION_USER = "pairgate_repl";
/** Unix socket paths are limited to 108 bytes; beyond this a socket moves to the temp folder. */
const SOCKET_PATH_MAX = 100;

export class Lab {
  readonly dir: string;
  readonly host: string;
  readonly caFile: string;
  readonly tlsDir: string;
  /** The options this lab was made with (ports, users). */
  readonly options: Readonly<LabOptions>;
  private readonly opts: LabOptions;
  private readonly timeouts: { start: number; shutdown: number; replication: number };

  constructor(opts: LabOptions) {
    if (opts.primaryPort === opts.secondaryPort)
      throw new LabError(
        "PAIRGATE_LAB_OPTIONS",
        `primary and secondary need different ports (${opts.primaryPort})`,
      );
    this.opts = opts;
    this.options = opts;
    this.dir = resolve(opts.dir);
    this.host = opts.host ?? "127.0.0.1";
    this.tlsDir = join(this.dir, "tls");
    this.caFile = join(this.tlsDir, "ca.pem");
    this.timeouts = {
      start: opts.startTimeoutMs ?? 60_000,
      shutdown: opts.shutdownTimeoutMs ?? 30_000,
      replication: opts.replicationTimeoutMs ?? 30_000,
    };
  }

  spec(role: Role): ServerSpec {
    return {
      role,
      port: role === "primary" ? this.opts.primaryPort : this.opts.secondaryPort,
      serverId: role === "primary" ? 1 : 2,
      dataDir: join(this.dir, role, "data"),
    };
  }

  /** Where the replicas connect to reach the primary (a wildcard bind is reached on loopback). */
  private get connectHost(): string {
    return this.host === "0.0.0.0" || this.host === "::" ? "127.0.0.1" : this.host;
  }

  socketPath(role: Role): string {
    const p = join(this.dir, role, "mariadbd.sock");
    if (Buffer.byteLength(p) <= SOCKET_PATH_MAX) return p;
    const h = createHash("sha256").update(this.dir).digest("hex").slice(0, 12);
    return join(tmpdir(), `pairgate-${h}-${role}.sock`);
  }
  optionFile(role: Role): string {
    return join(this.dir, role, "my.cnf");
  }
  /** `mariadb --defaults-file=<this>` opens a root session over the socket. */
  clientOptionFile(role: Role): string {
    return join(this.dir, role, "client.cnf");
  }
  errorLog(role: Role): string {
    return join(this.dir, role, "error.log");
  }
  pidFile(role: Role): string {
    return join(this.dir, role, "mariadbd.pid");
  }

  /** The pid of the role's running mariadbd, or null. */
  pid(role: Role): number | null {
    const arg = `--defaults-file=${this.optionFile(role)}`;
    try {
      const pid = Number(readFileSync(this.pidFile(role), "utf8").trim());
      if (isAlive(pid) && (pidsWithArg(arg).includes(pid) || !existsSync("/proc/self"))) return pid;
    } catch {}
    return pidsWithArg(arg)[0] ?? null;
  }

  /** Both servers running, replication configured and running, every user and the demo schema in place. */
  async up(): Promise<void> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const tls = ensureTls(this.tlsDir, this.host);
    const state = this.loadState();
    await Promise.all(ROLES.map((role) => this.prepareAndStart(role, tls)));
    await this.provisionPrimary(state);
    await this.configureReplication(state);
    await this.waitForReplication(true);
  }

  /** Stops both servers (SIGTERM, then SIGKILL after the shutdown timeout); returns when no process is left. */
  async down(): Promise<void> {
    await Promise.all(ROLES.map((role) => this.stopServer(role)));
  }

  /** A real `kill -9` of the role's server. */
  async kill(role: Role): Promise<void> {
    const pid = this.pid(role);
    if (pid === null) return;
    signal(pid, "SIGKILL");
    if (!(await waitForExit(pid, 10_000)))
      throw new LabError("PAIRGATE_LAB_KILL", `${role} (pid ${pid}) is still alive 10 s after SIGKILL`);
  }

  /**
   * Starts one server again (after `kill` or `down`) with its existing data. When both then run,
   * waits for the secondary's replication threads, so a restarted secondary has resumed.
   */
  async start(role: Role): Promise<void> {
    if (!existsSync(this.spec(role).dataDir) || !existsSync(this.optionFile(role)))
      throw new LabError(
        "PAIRGATE_LAB_NOT_SET_UP",
        `the lab in ${this.dir} is not set up: run \`lab up\` first`,
      );
    await this.startServer(role);
    if (this.pid("primary") !== null && this.pid("secondary") !== null) {
      const secondary = await this.rootConnection("secondary");
      try {
        const st = await this.slaveStatus(secondary);
        if (st && (st.ioRunning === "No" || st.sqlRunning === "No") && !st.lastSqlError)
          await secondary.query("START SLAVE");
      } finally {
        await secondary.end();
      }
      await this.waitForReplication(false);
    }
  }

  /** A root session over the role's unix socket (root has no TCP account in the lab). */
  async rootConnection(role: Role, extra: Partial<ConnectionOptions> = {}): Promise<Connection> {
    return mysql.createConnection({
      socketPath: this.socketPath(role),
      user: "root",
      password: "",
      connectTimeout: 5000,
      ...extra,
    });
  }

  async status(): Promise<LabStatus> {
    const [primary, secondary] = await Promise.all(ROLES.map((r) => this.serverStatus(r)));
    return { dir: this.dir, primary, secondary };
  }

  // --- internals -----------------------------------------------------------------------------

  private loadState(): LabState {
    const file = join(this.dir, "lab.json");
    try {
      const s = JSON.parse(readFileSync(file, "utf8")) as LabState;
      if (s.version === 1 && s.replicationUser?.password) return s;
    } catch {}
    const state: LabState = {
      version: 1,
      replicationUser: { username: REPLICATION_USER, password: randomBytes(18).toString("base64url") },
    };
    writeFileSync(file, `${JSON.stringify(state, null, 2)}\n`, { mode: 0o600 });
    return state;
  }

  /**
   * Users, grants and the demo schema on the primary. Skipped when this primary's data already
   * got exactly these statements (a marker next to its data dir), so a repeated `up()` writes
   * nothing to the binlog.
   */
  private async provisionPrimary(state: LabState): Promise<void> {
    const options: ProvisionOptions = {
      appUser: this.opts.appUser,
      serviceUser: this.opts.serviceUser,
      replicationUser: state.replicationUser,
      auditSchema: this.opts.auditSchema ?? DEMO_SCHEMA,
      extraAppUsers: this.opts.extraAppUsers,
      extraServiceUsers: this.opts.extraServiceUsers,
    };
    const digest = createHash("sha256").update(provisionStatements(options, true).join(";\n")).digest("hex");
    const marker = this.provisionedMarker();
    if (existsSync(marker) && readFileSync(marker, "utf8").trim() === digest) return;
    const primary = await this.rootConnection("primary");
    try {
      await provision(primary, options);
    } finally {
      await primary.end();
    }
    writeFileSync(marker, `${digest}\n`);
  }

  private provisionedMarker(): string {
    return join(this.dir, "primary", "provisioned.sha256");
  }

  private optionFileFor(role: Role, tls: TlsFiles): ServerOptionFile {
    const spec = this.spec(role);
    return {
      role,
      serverId: spec.serverId,
      host: this.host,
      port: spec.port,
      dataDir: spec.dataDir,
      socket: this.socketPath(role),
      pidFile: this.pidFile(role),
      errorLog: this.errorLog(role),
      tmpDir: this.tmpDir(role),
      tls: { ca: tls.ca, cert: tls.cert, key: tls.key },
    };
  }

  /** The server's folder for temporary files, next to its data directory (mariadb.ts `tmpDir`). */
  tmpDir(role: Role): string {
    return join(dirname(this.spec(role).dataDir), "tmp");
  }

  /** Data dir from the template when new, option file (re)written; a running server whose options changed restarts. */
  private async prepareAndStart(role: Role, tls: TlsFiles): Promise<void> {
    const spec = this.spec(role);
    mkdirSync(join(this.dir, role), { recursive: true, mode: 0o700 });
    if (!existsSync(spec.dataDir)) {
      if (this.pid(role) !== null) await this.stopServer(role);
      if (role === "primary") rmSync(this.provisionedMarker(), { force: true });
      copyTemplate(spec.dataDir);
    }
    const text = renderOptionFile(this.optionFileFor(role, tls));
    const file = this.optionFile(role);
    const old = existsSync(file) ? readFileSync(file, "utf8") : null;
    if (old !== text) {
      if (this.pid(role) !== null) await this.stopServer(role);
      writeFileSync(file, text);
    }
    writeFileSync(this.clientOptionFile(role), renderClientFile(this.socketPath(role)));
    mkdirSync(this.tmpDir(role), { recursive: true, mode: 0o700 });
    await this.startServer(role);
  }

  private async startServer(role: Role): Promise<void> {
    if (this.pid(role) !== null) return;
    const { mariadbd } = mariadbBinaries();
    const log = this.errorLog(role);
    const logOffset = existsSync(log) ? statSync(log).size : 0;
    const child = spawn(mariadbd, [`--defaults-file=${this.optionFile(role)}`], {
      detached: true,
      stdio: "ignore",
    });
    let exited: string | null = null;
    child.on("exit", (code, sig) => {
      exited = `exited with ${sig ?? `code ${code}`}`;
    });
    child.on("error", (e) => {
      exited = `could not be spawned: ${e.message}`;
    });
    child.unref();
    const deadline = Date.now() + this.timeouts.start;
    for (;;) {
      if (exited !== null)
        throw new LabError(
          "PAIRGATE_LAB_START",
          `${role} mariadbd ${exited} (port ${this.spec(role).port})\n${readTail(log, logOffset)}`,
        );
      try {
        const c = await this.rootConnection(role, { connectTimeout: 1000 });
        await c.end();
        return;
      } catch {}
      if (Date.now() > deadline) {
        if (child.pid) signal(child.pid, "SIGKILL");
        throw new LabError(
          "PAIRGATE_LAB_START",
          `${role} mariadbd did not accept connections within ${this.timeouts.start} ms\n${readTail(log, logOffset)}`,
        );
      }
      await sleep(25);
    }
  }

  private async stopServer(role: Role): Promise<void> {
    const arg = `--defaults-file=${this.optionFile(role)}`;
    const pids = new Set<number>(pidsWithArg(arg));
    const pid = this.pid(role);
    if (pid !== null) pids.add(pid);
    await Promise.all(
      [...pids].map(async (p) => {
        signal(p, "SIGTERM");
        if (await waitForExit(p, this.timeouts.shutdown)) return;
        signal(p, "SIGKILL");
        if (!(await waitForExit(p, 10_000)))
          throw new LabError("PAIRGATE_LAB_STOP", `${role} (pid ${p}) survived SIGKILL`);
      }),
    );
  }

  private async slaveStatus(conn: Connection): Promise<ReplicationStatus | null> {
    const [rows] = await conn.query<RowDataPacket[]>("SHOW SLAVE STATUS");
    const r = rows[0];
    if (!r) return null;
    return {
      ioRunning: String(r.Slave_IO_Running),
      sqlRunning: String(r.Slave_SQL_Running),
      secondsBehindMaster: r.Seconds_Behind_Master === null ? null : Number(r.Seconds_Behind_Master),
      masterHost: String(r.Master_Host),
      masterPort: Number(r.Master_Port),
      masterUser: String(r.Master_User),
      sslAllowed: r.Master_SSL_Allowed === "Yes",
      sslVerifyServerCert: r.Master_SSL_Verify_Server_Cert === "Yes",
      sslCa: String(r.Master_SSL_CA_File ?? ""),
      usingGtid: String(r.Using_Gtid),
      gtidIoPos: String(r.Gtid_IO_Pos ?? ""),
      lastIoError: String(r.Last_IO_Error ?? ""),
      lastSqlError: String(r.Last_SQL_Error ?? ""),
    };
  }

  /** Points the secondary at the primary (GTID, TLS with the CA verified) unless it already is, and starts it. */
  private async configureReplication(state: LabState): Promise<void> {
    const conn = await this.rootConnection("secondary");
    try {
      const st = await this.slaveStatus(conn);
      const want = {
        host: this.opts.replicationSource?.host ?? this.connectHost,
        port: this.opts.replicationSource?.port ?? this.opts.primaryPort,
        user: state.replicationUser.username,
      };
      const same =
        st !== null &&
        st.masterHost === want.host &&
        st.masterPort === want.port &&
        st.masterUser === want.user &&
        st.sslAllowed &&
        st.sslVerifyServerCert &&
        st.usingGtid === "Slave_Pos" &&
        st.sslCa === this.caFile;
      if (!same) {
        await conn.query("STOP SLAVE");
        await conn.query(
          `CHANGE MASTER TO MASTER_HOST = ?, MASTER_PORT = ?, MASTER_USER = ?, MASTER_PASSWORD = ?,
             MASTER_USE_GTID = slave_pos, MASTER_SSL = 1, MASTER_SSL_CA = ?, MASTER_SSL_VERIFY_SERVER_CERT = 1,
             MASTER_CONNECT_RETRY = 1, MASTER_HEARTBEAT_PERIOD = 1`,
          [want.host, want.port, want.user, state.replicationUser.password, this.caFile],
        );
        await conn.query("START SLAVE");
      } else if (st.ioRunning === "No" || st.sqlRunning === "No") {
        await conn.query("START SLAVE");
      }
    } finally {
      await conn.end();
    }
  }

  /**
   * Waits until Slave_IO_Running and Slave_SQL_Running are both Yes; with `catchUp`, also until
   * the secondary has applied everything the primary had logged when the wait began.
   */
  private async waitForReplication(catchUp: boolean): Promise<void> {
    const deadline = Date.now() + this.timeouts.replication;
    const secondary = await this.rootConnection("secondary");
    try {
      let st: ReplicationStatus | null = null;
      for (;;) {
        st = await this.slaveStatus(secondary);
        if (st?.ioRunning === "Yes" && st.sqlRunning === "Yes") break;
        if (st?.sqlRunning === "No" && st.lastSqlError)
          throw new LabError(
            "PAIRGATE_LAB_REPLICATION",
            `the secondary's SQL thread stopped: ${st.lastSqlError}`,
          );
        if (Date.now() > deadline)
          throw new LabError(
            "PAIRGATE_LAB_REPLICATION",
            `replication did not start within ${this.timeouts.replication} ms: IO ${st?.ioRunning ?? "-"}, ` +
              `SQL ${st?.sqlRunning ?? "-"}${st?.lastIoError ? `, ${st.lastIoError}` : ""}`,
          );
        await sleep(50);
      }
      if (!catchUp) return;
      const primary = await this.rootConnection("primary");
      let pos: string;
      try {
        const [rows] = await primary.query<RowDataPacket[]>("SELECT @@GLOBAL.gtid_binlog_pos AS pos");
        pos = String(rows[0].pos);
      } finally {
        await primary.end();
      }
      if (!pos) return;
      const seconds = Math.max(1, Math.ceil((deadline - Date.now()) / 1000));
      const [rows] = await secondary.query<RowDataPacket[]>("SELECT MASTER_GTID_WAIT(?, ?) AS r", [
        pos,
        seconds,
      ]);
      if (Number(rows[0].r) !== 0)
        throw new LabError(
          "PAIRGATE_LAB_REPLICATION",
          `the secondary did not reach ${pos} within ${seconds} s`,
        );
    } finally {
      await secondary.end();
    }
  }

  private async serverStatus(role: Role): Promise<ServerStatus> {
    const spec = this.spec(role);
    const pid = this.pid(role);
    const s: ServerStatus = {
      role,
      host: this.host,
      port: spec.port,
      serverId: spec.serverId,
      running: pid !== null,
      pid,
      socket: this.socketPath(role),
      dataDir: spec.dataDir,
      errorLog: this.errorLog(role),
      readOnly: null,
      gtidBinlogPos: null,
      gtidSlavePos: null,
      replication: null,
    };
    if (pid === null) return s;
    let conn: Connection | undefined;
    try {
      conn = await this.rootConnection(role, { connectTimeout: 2000 });
      const [rows] = await conn.query<RowDataPacket[]>(
        "SELECT @@GLOBAL.read_only AS ro, @@GLOBAL.gtid_binlog_pos AS bin, @@GLOBAL.gtid_slave_pos AS slave",
      );
      s.readOnly = Number(rows[0].ro) === 1;
      s.gtidBinlogPos = String(rows[0].bin);
      s.gtidSlavePos = String(rows[0].slave);
      s.replication = await this.slaveStatus(conn);
    } catch (e) {
      s.error = (e as Error).message;
    } finally {
      await conn?.end().catch(() => {});
    }
    return s;
  }
}

/** The end of a log file from `offset` (what the last start wrote), at most ~4 KB. */
function readTail(file: string, offset: number): string {
  try {
    const size = statSync(file).size;
    const from = Math.max(offset, size - 4096);
    const buf = Buffer.alloc(size - from);
    const fd = openSync(file, "r");
    try {
      readSync(fd, buf, 0, buf.length, from);
    } finally {
      closeSync(fd);
    }
    return buf.toString("utf8");
  } catch {
    return `(no error log at ${file})`;
  }
}
