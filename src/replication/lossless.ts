/**
 * Lossless replication for `replication setup | check` and `promote`: semi-synchronous replication
 * on both servers (AFTER_SYNC: a commit is acknowledged only once the secondary's relay log has it)
 * and parallel apply on the secondary, so what it received is applied quickly.
 */
import type { Connection, RowDataPacket } from "mysql2/promise";
import { losslessVerdict, parseSemiSync, type SemiSyncStatus } from "../topology/server-status.js";
import { type Dialect, PARALLEL_APPLY_THREADS } from "./server-family.js";

/** INSTALL PLUGIN of a plugin already there (MySQL 1125 ER_UDF_EXISTS / 1968 ER_PLUGIN_INSTALLED). */
function alreadyInstalled(err: unknown): boolean {
  const e = err as { errno?: number; message?: string };
  return e?.errno === 1125 || e?.errno === 1968 || /already exists|already installed/i.test(e?.message ?? "");
}

/** Semi-sync on this server, both sides, with `timeoutMs`. Runtime only: the option lines persist it. */
export async function enableSemiSync(conn: Connection, d: Dialect, timeoutMs: number): Promise<void> {
  for (const sql of d.semiSyncStatements(timeoutMs)) {
    try {
      await conn.query(sql);
    } catch (err) {
      if (/^INSTALL PLUGIN/i.test(sql) && alreadyInstalled(err)) continue;
      throw err;
    }
  }
}

export async function readSemiSync(conn: Connection, d: Dialect): Promise<SemiSyncStatus | null> {
  const [rows] = await conn.query<RowDataPacket[]>(d.semiSyncStatus());
  return parseSemiSync(rows);
}

export interface ParallelApply {
  threads: number;
  mode: string;
}

export async function readParallelApply(conn: Connection, d: Dialect): Promise<ParallelApply | null> {
  try {
    const [[r]] = await conn.query<RowDataPacket[]>(d.parallelApplyStatus());
    return r ? { threads: Number(r.threads), mode: String(r.mode) } : null;
  } catch {
    return null;
  }
}

/** Does the replica already apply in parallel as setup wants it? */
export function parallelApplyOk(p: ParallelApply | null, d: Dialect): boolean {
  if (!p) return false;
  if (p.threads < PARALLEL_APPLY_THREADS) return false;
  return d.flavor === "mysql" ? p.mode === "preserve_commit_order" : p.mode === "optimistic";
}

/** Waits (at most `timeoutMs`) until the primary's semi-sync is active with a replica; returns the last reading. */
export async function waitSemiSyncActive(
  conn: Connection,
  d: Dialect,
  timeoutMs: number,
): Promise<SemiSyncStatus | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const s = await readSemiSync(conn, d);
    if ((s?.active && (s.clients ?? 0) > 0) || Date.now() > deadline) return s;
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface LosslessReport {
  /** Semi-sync active on the primary, AFTER_SYNC: a commit acknowledged is on the secondary too. */
  lossless: boolean;
  reason: string;
  primary: SemiSyncStatus | null;
  secondary: SemiSyncStatus | null;
  parallelApply: ParallelApply | null;
  /** What keeps the pair from being lossless after a swap, or the replica from keeping up. */
  problems: string[];
}

export async function losslessReport(
  pc: Connection,
  pd: Dialect,
  sc: Connection,
  sd: Dialect,
): Promise<LosslessReport> {
  const primary = await readSemiSync(pc, pd);
  const secondary = await readSemiSync(sc, sd);
  const parallelApply = await readParallelApply(sc, sd);
  const v = losslessVerdict(primary);
  const problems: string[] = [];
  if (!v.lossless) problems.push(v.reason);
  if (!secondary?.replicaEnabled)
    problems.push("semi-sync is off on the secondary's replica side: it does not acknowledge");
  if (!secondary?.enabled)
    problems.push("semi-sync is off on the secondary's source side: not lossless after a promotion");
  if (!parallelApplyOk(parallelApply, sd))
    problems.push(
      `the secondary applies ${parallelApply ? `with ${parallelApply.threads} thread(s), ${parallelApply.mode}` : "serially"}: ` +
        `parallel apply (${PARALLEL_APPLY_THREADS} threads, ${sd.flavor === "mysql" ? "preserve commit order" : "optimistic"}) shortens the catch-up at a failover`,
    );
  return { lossless: v.lossless, reason: v.reason, primary, secondary, parallelApply, problems };
}

export function formatLossless(r: LosslessReport): string[] {
  const p = r.primary;
  const out = [
    `lossless: ${r.lossless ? "yes" : "NO"} — ${r.reason}` +
      (p ? ` [semi-sync timeout ${p.timeoutMs ?? "?"} ms, wait point ${p.waitPoint ?? "?"}]` : ""),
  ];
  if (r.parallelApply)
    out.push(`  secondary parallel apply: ${r.parallelApply.threads} thread(s), ${r.parallelApply.mode}`);
  for (const x of r.problems) out.push(`  note: ${x}`);
  return out;
}
