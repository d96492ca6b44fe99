/**
 * The two oracles of the generative hostile-SQL suite (issue 19) and the tap they read from.
 *
 * - read_only: the secondary, as root sees it over its unix socket: no GTID in its binlog whose
 *   server id is not the primary's (`@@gtid_binlog_state` keeps one entry per domain and server
 *   id, so a local write stays visible after replication moved the position on), `read_only`,
 *   the replication threads, the accounts (mysql.global_priv), the files in its datadir, a
 *   checksum of every table and the global variables (its configuration). While pairgate serves from the secondary, all of it must stay equal
 *   to the snapshot taken when the secondary took over.
 * - audit: a unique canary sits in every secret of the audited table; any bytes relayed to a client
 *   that hold it (raw, hex or base64) need an audit event (see the runner for the chain rule).
 *
 * Nothing here imports pairgate's sources: the oracles must not share a bug with what they judge.
 */
import { readdirSync, statSync } from "node:fs";
import { connect, createServer, type Server, type Socket } from "node:net";
import { join } from "node:path";
import type { Connection } from "mysql2/promise";
import type { TestPair } from "./pair.js";

// ---------------------------------------------------------------- the secondary's state

export interface SecondarySnapshot {
  readOnly: number;
  /** `@@gtid_binlog_state`: per domain and server id, the last GTID in the binlog. */
  binlogState: string;
  /** Entries of binlogState whose server id is not the primary's. */
  foreignGtids: string[];
  ioRunning: string;
  sqlRunning: string;
  lastSqlError: string;
  privChecksum: string;
  /** Files under the datadir (relay logs and replication bookkeeping excluded: they move on their own). */
  files: string[];
  /** `schema.table` → CHECKSUM TABLE. */
  tables: Record<string, string>;
  /** Global variables (the server's configuration), but the gtid_* positions that replication moves. */
  globals: Record<string, string>;
}

/** Files that change without any client: relay logs, the replica's bookkeeping, InnoDB's own. */
const MOVING_FILES =
  /(^|\/)(relay-bin\.\d+|relay-bin\.index|relay-bin\.~rec~|relay-log\.info|master\.info|multi-master\.info|ib_buffer_pool|ibtmp1|#sql[^/]*|aria_log_control|ddl_recovery\.log|ddl_recovery-backup\.log)$/;

function listFiles(dir: string, prefix = ""): string[] {
  const out: string[] = [];
  let entries: import("node:fs").Dirent[];
  try {
    entries = readdirSync(dir, { withFileTypes: true });
  } catch {
    return out;
  }
  for (const e of entries) {
    const rel = prefix ? `${prefix}/${e.name}` : e.name;
    if (e.isDirectory()) out.push(`${rel}/`, ...listFiles(join(dir, e.name), rel));
    else if (!MOVING_FILES.test(rel)) out.push(rel);
  }
  return out.sort();
}

/** Mode of the replica threads: "on" for running or trying to connect, else what the server says. */
function threadState(v: unknown): string {
  const s = String(v ?? "");
  return /^(Yes|Connecting|Preparing)$/i.test(s) ? "on" : s || "none";
}

export class SecondaryWatch {
  private root: Connection | null = null;
  readonly dataDir: string;

  constructor(
    private readonly pair: TestPair,
    readonly primaryServerId: number,
  ) {
    this.dataDir = join(pair.dir, "secondary", "data");
  }

  private async conn(): Promise<Connection> {
    if (this.root) return this.root;
    const c = await this.pair.rootConnection("secondary");
    c.on("error", () => {
      if (this.root === c) this.root = null;
    });
    this.root = c;
    return c;
  }

  private async q<T = Record<string, unknown>>(sql: string): Promise<T[]> {
    try {
      const [rows] = await (await this.conn()).query({ sql, timeout: 15_000 });
      return rows as T[];
    } catch {
      // A killed root session (a hostile KILL) is not the secondary changing: reconnect once.
      this.root?.destroy();
      this.root = null;
      const [rows] = await (await this.conn()).query({ sql, timeout: 15_000 });
      return rows as T[];
    }
  }

  /** The cheap part, for every statement: GTIDs, read_only, replication threads. */
  async quick(): Promise<
    Pick<
      SecondarySnapshot,
      "readOnly" | "binlogState" | "foreignGtids" | "ioRunning" | "sqlRunning" | "lastSqlError"
    >
  > {
    const [g] = await this.q<{ ro: number; st: string }>(
      "SELECT @@global.read_only AS ro, @@global.gtid_binlog_state AS st",
    );
    const [s] = await this.q<Record<string, unknown>>("SHOW SLAVE STATUS");
    const binlogState = String(g.st ?? "");
    return {
      readOnly: Number(g.ro),
      binlogState,
      foreignGtids: foreignGtids(binlogState, this.primaryServerId),
      ioRunning: threadState(s?.Slave_IO_Running),
      sqlRunning: threadState(s?.Slave_SQL_Running),
      lastSqlError: String(s?.Last_SQL_Error ?? ""),
    };
  }

  async full(): Promise<SecondarySnapshot> {
    const quick = await this.quick();
    const [p] = await this.q<{ Checksum: unknown }>("CHECKSUM TABLE mysql.global_priv");
    const tables = await this.q<{ s: string; t: string }>(
      "SELECT TABLE_SCHEMA AS s, TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_TYPE IN ('BASE TABLE', 'SEQUENCE', 'SYSTEM VERSIONED')" +
        " AND TABLE_SCHEMA NOT IN ('information_schema', 'performance_schema', 'sys')" +
        " AND NOT (TABLE_SCHEMA = 'mysql' AND TABLE_NAME IN ('general_log', 'slow_log', 'innodb_index_stats', 'innodb_table_stats', 'table_stats', 'column_stats', 'index_stats'))" +
        " ORDER BY 1, 2",
    );
    const sums: Record<string, string> = {};
    if (tables.length > 0) {
      const list = tables
        .map((t) => `\`${t.s.replace(/`/g, "``")}\`.\`${t.t.replace(/`/g, "``")}\``)
        .join(", ");
      for (const r of await this.q<{ Table: string; Checksum: unknown }>(`CHECKSUM TABLE ${list}`))
        sums[r.Table] = String(r.Checksum);
    }
    const globals: Record<string, string> = {};
    for (const r of await this.q<{ n: string; v: unknown }>(
      "SELECT VARIABLE_NAME AS n, VARIABLE_VALUE AS v FROM information_schema.GLOBAL_VARIABLES WHERE VARIABLE_NAME NOT LIKE 'GTID\\_%'",
    ))
      globals[r.n] = String(r.v);
    return {
      ...quick,
      privChecksum: String(p?.Checksum),
      files: listFiles(this.dataDir),
      tables: sums,
      globals,
    };
  }

  /** Wait until the SQL thread applied everything the IO thread received. */
  async caughtUp(timeoutMs = 15_000): Promise<void> {
    const end = Date.now() + timeoutMs;
    for (;;) {
      const [s] = await this.q<Record<string, unknown>>("SHOW ALL SLAVES STATUS");
      const io = String(s?.Gtid_IO_Pos ?? "");
      const applied = String(s?.Gtid_Slave_Pos ?? "");
      if (!s || io === applied || String(s.Slave_SQL_Running) !== "Yes") return;
      if (Date.now() > end) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  /** Root on the secondary, for repairs after a violation and for the self-test's injections. */
  async exec(sql: string): Promise<void> {
    await this.q(sql);
  }

  close(): void {
    this.root?.destroy();
    this.root = null;
  }
}

/** Entries of a `gtid_binlog_state` whose server id is not `primaryServerId`. */
export function foreignGtids(binlogState: string, primaryServerId: number): string[] {
  return binlogState
    .split(",")
    .map((s) => s.trim())
    .filter((s) => /^\d+-\d+-\d+$/.test(s) && s.split("-")[1] !== String(primaryServerId));
}

/** What differs between two snapshots, as lines ("" when nothing). */
export function diffSnapshots(a: Partial<SecondarySnapshot>, b: Partial<SecondarySnapshot>): string[] {
  const out: string[] = [];
  for (const k of ["readOnly", "binlogState", "ioRunning", "sqlRunning", "privChecksum"] as const) {
    if (a[k] !== undefined && b[k] !== undefined && a[k] !== b[k])
      out.push(`${k}: ${JSON.stringify(a[k])} → ${JSON.stringify(b[k])}`);
  }
  if (a.files && b.files) {
    const was = new Set(a.files);
    const is = new Set(b.files);
    const added = b.files.filter((f) => !was.has(f));
    const removed = a.files.filter((f) => !is.has(f));
    if (added.length) out.push(`files added: ${added.join(" ")}`);
    if (removed.length) out.push(`files removed: ${removed.join(" ")}`);
  }
  if (a.tables && b.tables) {
    for (const t of new Set([...Object.keys(a.tables), ...Object.keys(b.tables)])) {
      if (a.tables[t] !== b.tables[t])
        out.push(`table ${t}: checksum ${a.tables[t] ?? "(none)"} → ${b.tables[t] ?? "(none)"}`);
    }
  }
  if (a.globals && b.globals) {
    for (const k of new Set([...Object.keys(a.globals), ...Object.keys(b.globals)])) {
      if (a.globals[k] !== b.globals[k])
        out.push(`global ${k}: ${JSON.stringify(a.globals[k])} → ${JSON.stringify(b.globals[k])}`);
    }
  }
  return out;
}

/** Total size of the datadir's files (for a report, not an oracle). */
export function dirSize(dir: string): number {
  let n = 0;
  for (const f of listFiles(dir))
    if (!f.endsWith("/")) n += statSync(join(dir, f), { throwIfNoEntry: false })?.size ?? 0;
  return n;
}

// ---------------------------------------------------------------- the canary

export interface Canary {
  value: string;
  /** What to look for in relayed bytes: the canary, its hex (both cases), its base64 prefix. */
  needles: Buffer[];
}

export function makeCanary(tag: string): Canary {
  const value = `cnry${tag}`;
  const raw = Buffer.from(value);
  const b64 = raw.subarray(0, raw.length - (raw.length % 3)).toString("base64");
  return {
    value,
    needles: [
      raw,
      Buffer.from(raw.toString("hex").toUpperCase()),
      Buffer.from(raw.toString("hex")),
      Buffer.from(b64),
    ],
  };
}

export function holdsCanary(bytes: Buffer, canary: Canary): boolean {
  return canary.needles.some((n) => bytes.includes(n));
}

// ---------------------------------------------------------------- the tap

/**
 * A TCP relay in front of pairgate that keeps every byte relayed to each client, by the client's
 * local port (what the session knows of itself). The bytes are recorded before they are passed
 * on, so once a client has its answer, the tap has it too.
 */
export class CaptureTap {
  private readonly received = new Map<number, Buffer[]>();
  private readonly sockets = new Set<Socket>();

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  static start(target: { host: string; port: number }): Promise<CaptureTap> {
    return new Promise((resolve, reject) => {
      let tap: CaptureTap;
      const server = createServer((client) => tap.accept(client, target));
      server.once("error", reject);
      server.listen(0, "127.0.0.1", () => {
        const a = server.address();
        tap = new CaptureTap(server, typeof a === "object" && a ? a.port : 0);
        resolve(tap);
      });
    });
  }

  private accept(client: Socket, target: { host: string; port: number }): void {
    const key = client.remotePort ?? 0;
    const chunks: Buffer[] = [];
    this.received.set(key, chunks);
    const upstream = connect(target);
    this.sockets.add(client);
    this.sockets.add(upstream);
    client.on("data", (c) => upstream.write(c));
    upstream.on("data", (c) => {
      chunks.push(Buffer.from(c));
      client.write(c);
    });
    const end = () => {
      client.destroy();
      upstream.destroy();
      this.sockets.delete(client);
      this.sockets.delete(upstream);
    };
    for (const s of [client, upstream]) {
      s.on("close", end);
      s.on("error", end);
    }
  }

  /** Everything relayed to the client on `localPort` since the last take. */
  take(localPort: number): Buffer {
    const chunks = this.received.get(localPort);
    if (!chunks || chunks.length === 0) return Buffer.alloc(0);
    const out = Buffer.concat(chunks);
    chunks.length = 0;
    return out;
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((r) => this.server.close(() => r()));
  }
}
