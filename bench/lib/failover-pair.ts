/**
 * What the failover bench does to and reads from the MariaDB pair: the bench table, binlog marks
 * and the secondary's own transactions (GTIDs with its server_id), replication state and catch-up,
 * restoring the pair between runs, acknowledged writes missing from the primary, and the moment a
 * restarted primary answers again.
 */
import { readFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import mysql, { type Connection, type RowDataPacket } from "mysql2/promise";
import type { Role } from "../../src/lab/index.js";
import type { Endpoint, TestPair } from "../../test/helpers/pair.js";
import { BENCH_TABLE } from "./failover-load.js";

export const BENCH_SCHEMA = "passtrix";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function withRoot<T>(pair: TestPair, role: Role, f: (c: Connection) => Promise<T>): Promise<T> {
  const c = await pair.rootConnection(role);
  try {
    return await f(c);
  } finally {
    await c.end().catch(() => c.destroy());
  }
}

async function one(c: Connection, sql: string, values: unknown[] = []): Promise<RowDataPacket> {
  const [rows] = await c.query<RowDataPacket[]>(sql, values);
  return rows[0] ?? ({} as RowDataPacket);
}

export async function serverId(pair: TestPair, role: Role): Promise<number> {
  return withRoot(pair, role, async (c) => Number((await one(c, "SELECT @@server_id AS id")).id));
}

export async function createBenchTable(pair: TestPair): Promise<void> {
  await withRoot(pair, "primary", (c) =>
    c.query(
      `CREATE TABLE IF NOT EXISTS ${BENCH_SCHEMA}.${BENCH_TABLE} (
        seq BIGINT UNSIGNED NOT NULL PRIMARY KEY,
        client SMALLINT UNSIGNED NOT NULL,
        sent_ms BIGINT NOT NULL,
        written_at TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)
      ) ENGINE=InnoDB`,
    ),
  );
}

export interface BinlogMark {
  file: string;
  pos: number;
}

export async function binlogMark(pair: TestPair, role: Role): Promise<BinlogMark> {
  return withRoot(pair, role, async (c) => {
    const r = await one(c, "SHOW MASTER STATUS");
    return { file: String(r.File), pos: Number(r.Position) };
  });
}

export interface OwnTransactions {
  count: number;
  /** The first and last of them, as domain-server_id-seqno. */
  first: string;
  last: string;
}

/**
 * The transactions written to `role`'s binlog since `mark` whose GTID carries `ownId` — on the
 * secondary, writes that landed there instead of arriving by replication. (@@gtid_binlog_pos keeps
 * only the last GTID of each domain, so once the primary's next transaction replicates, an own
 * GTID disappears from it; the binlog itself keeps every one.)
 */
export async function ownTransactionsSince(
  pair: TestPair,
  role: Role,
  mark: BinlogMark,
  ownId: number,
): Promise<OwnTransactions> {
  return withRoot(pair, role, async (c) => {
    const [logs] = await c.query<RowDataPacket[]>("SHOW BINARY LOGS");
    const files = logs.map((r) => String(r.Log_name)).filter((f) => f >= mark.file);
    const out: OwnTransactions = { count: 0, first: "", last: "" };
    for (const file of files) {
      const from = file === mark.file ? mark.pos : 4;
      const [events] = await c.query<RowDataPacket[]>(`SHOW BINLOG EVENTS IN ? FROM ${from}`, [file]);
      for (const e of events) {
        if (String(e.Event_type) !== "Gtid" || Number(e.Server_id) !== ownId) continue;
        const gtid = /GTID\s+(\d+-\d+-\d+)/.exec(String(e.Info))?.[1] ?? "?";
        out.count++;
        if (!out.first) out.first = gtid;
        out.last = gtid;
      }
    }
    return out;
  });
}

export async function gtidBinlogPos(pair: TestPair, role: Role): Promise<string> {
  return withRoot(pair, role, async (c) => String((await one(c, "SELECT @@gtid_binlog_pos AS p")).p));
}

export interface ReplicationState {
  io: string;
  sql: string;
  behind: number | null;
  lastIoError: string;
  lastSqlError: string;
}

export async function replicationState(pair: TestPair): Promise<ReplicationState> {
  return withRoot(pair, "secondary", async (c) => {
    const r = await one(c, "SHOW SLAVE STATUS");
    return {
      io: String(r.Slave_IO_Running ?? "-"),
      sql: String(r.Slave_SQL_Running ?? "-"),
      behind:
        r.Seconds_Behind_Master === null || r.Seconds_Behind_Master === undefined
          ? null
          : Number(r.Seconds_Behind_Master),
      lastIoError: String(r.Last_IO_Error ?? ""),
      lastSqlError: String(r.Last_SQL_Error ?? ""),
    };
  });
}

export function describeReplication(r: ReplicationState): string {
  if (r.io === "Yes" && r.sql === "Yes") return `running, ${r.behind ?? "?"} s behind`;
  const errs = [
    r.lastSqlError && `SQL error: ${r.lastSqlError}`,
    r.lastIoError && `IO error: ${r.lastIoError}`,
  ]
    .filter(Boolean)
    .join("; ");
  return `IO ${r.io}, SQL ${r.sql}${errs ? ` — ${errs}` : ""}`;
}

/** Waits until the secondary has applied everything the primary has binlogged; false on timeout. */
export async function waitCaughtUp(pair: TestPair, ms: number): Promise<boolean> {
  const pos = await gtidBinlogPos(pair, "primary");
  if (!pos) return true;
  return withRoot(pair, "secondary", async (c) => {
    const r = await one(c, "SELECT MASTER_GTID_WAIT(?, ?) AS r", [pos, Math.max(1, Math.ceil(ms / 1000))]);
    return Number(r.r) === 0;
  });
}

async function waitReplicationRunning(pair: TestPair, ms: number): Promise<ReplicationState> {
  const until = Date.now() + ms;
  for (;;) {
    const r = await replicationState(pair);
    if ((r.io === "Yes" && r.sql === "Yes") || (r.sql === "No" && r.lastSqlError) || Date.now() > until)
      return r;
    await sleep(100);
  }
}

/**
 * Brings the pair back to the bench's starting state: both servers up, the secondary read-only,
 * replication running and caught up, the bench table empty on both. A secondary whose replication
 * stopped because it took writes of its own (the divergence run) is resynchronised: its binlog is
 * reset (gtid_strict_mode refuses the primary's next GTIDs after its own) and replication resumes;
 * the TRUNCATE that follows replicates and removes the rows that landed only there. Returns notes.
 */
export async function restorePair(pair: TestPair, log: (m: string) => void): Promise<string[]> {
  const notes: string[] = [];
  for (const role of ["secondary", "primary"] as const) {
    if (pair.lab.pid(role) === null) {
      log(`restore: starting the ${role} again`);
      await pair.lab.start(role);
    }
  }
  await withRoot(pair, "secondary", (c) => c.query("SET GLOBAL read_only = ON"));
  const ownId = await serverId(pair, "secondary");
  const state = await withRoot(pair, "secondary", async (c) =>
    String((await one(c, "SELECT @@gtid_binlog_state AS s")).s),
  );
  const own = state.split(",").filter((g) => g.trim().split("-")[1] === String(ownId));
  const r = await replicationState(pair);
  if (own.length || (r.sql !== "Yes" && r.lastSqlError)) {
    const why = [
      own.length ? `transactions of its own in its binlog (${own.join(", ")})` : "",
      r.lastSqlError ? `replication stopped: ${r.lastSqlError}` : "",
    ]
      .filter(Boolean)
      .join("; ");
    notes.push(`before the run the secondary was resynchronised (RESET MASTER): ${why}`);
    log(`restore: resynchronising the secondary: ${why}`);
    await withRoot(pair, "secondary", async (c) => {
      await c.query("STOP SLAVE");
      await c.query("RESET MASTER");
      await c.query("START SLAVE");
    });
  } else if (r.io !== "Yes" || r.sql !== "Yes") {
    await withRoot(pair, "secondary", (c) => c.query("START SLAVE"));
  }
  const running = await waitReplicationRunning(pair, 30_000);
  if (running.io !== "Yes" || running.sql !== "Yes")
    throw new Error(`restore: replication does not run again: ${describeReplication(running)}`);
  if (!(await waitCaughtUp(pair, 60_000))) throw new Error("restore: the secondary did not catch up in 60 s");
  await withRoot(pair, "primary", (c) => c.query(`TRUNCATE TABLE ${BENCH_SCHEMA}.${BENCH_TABLE}`));
  if (!(await waitCaughtUp(pair, 60_000)))
    throw new Error(
      `restore: the secondary did not apply the TRUNCATE in 60 s (${describeReplication(await replicationState(pair))})`,
    );
  const left = await withRoot(pair, "secondary", async (c) =>
    Number((await one(c, `SELECT COUNT(*) AS n FROM ${BENCH_SCHEMA}.${BENCH_TABLE}`)).n),
  );
  if (left !== 0) throw new Error(`restore: ${left} rows left in the secondary's bench table`);
  return notes;
}

export interface AckCheck {
  acked: number;
  missingOnPrimary: number;
  /** Of the missing ones, how many the secondary holds (they landed there). */
  onSecondaryOnly: number;
  examples: number[];
  /** The sequence numbers on the primary. */
  onPrimary: ReadonlySet<number>;
}

/** The bench table's sequence numbers on `role`, from `from` on. */
export async function seqs(pair: TestPair, role: Role, from = 0): Promise<Set<number>> {
  return withRoot(pair, role, async (c) => {
    const [rows] = await c.query<RowDataPacket[]>(
      `SELECT seq FROM ${BENCH_SCHEMA}.${BENCH_TABLE} WHERE seq >= ?`,
      [from],
    );
    return new Set(rows.map((r) => Number(r.seq)));
  });
}

/** Every INSERT the client saw succeed must be on the primary. */
export async function checkAcked(pair: TestPair, acked: ReadonlySet<number>): Promise<AckCheck> {
  const onPrimary = await seqs(pair, "primary");
  const missing = [...acked].filter((s) => !onPrimary.has(s));
  let onSecondaryOnly = 0;
  if (missing.length) {
    const onSecondary = await seqs(pair, "secondary");
    onSecondaryOnly = missing.filter((s) => onSecondary.has(s)).length;
  }
  return {
    acked: acked.size,
    missingOnPrimary: missing.length,
    onSecondaryOnly,
    examples: missing.slice(0, 5),
    onPrimary,
  };
}

/**
 * Logs in to `endpoint` every 10 ms until a login succeeds; returns when that attempt began
 * (bench clock) — the moment the server answered, to within one attempt. Rejects after `ms`.
 */
export async function waitAnswering(
  endpoint: Endpoint,
  user: { username: string; password: string },
  ms: number,
): Promise<number> {
  const until = performance.now() + ms;
  let last = "";
  while (performance.now() < until) {
    const t = performance.now();
    try {
      const c = await mysql.createConnection({
        host: endpoint.host,
        port: endpoint.port,
        user: user.username,
        password: user.password,
        connectTimeout: 1000,
      });
      await c.end().catch(() => c.destroy());
      return t;
    } catch (e) {
      last = (e as Error).message;
      await sleep(10);
    }
  }
  throw new Error(`${endpoint.host}:${endpoint.port} did not accept a login within ${ms} ms (${last})`);
}

/** For an error message: the role's server process as the lab sees it, and the end of its error log. */
export function diagnose(pair: TestPair, role: Role): string {
  let tail = "";
  try {
    tail = readFileSync(pair.lab.errorLog(role), "utf8").trimEnd().split("\n").slice(-6).join(" ⏎ ");
  } catch (e) {
    tail = `(no error log: ${(e as Error).message})`;
  }
  return `${role}: pid ${pair.lab.pid(role) ?? "none"}; error log ends: ${tail}`;
}
