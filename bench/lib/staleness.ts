/**
 * Staleness at a failover (issue 12): versioned updates of 64 keys through the proxy (8 writers,
 * each owning 8 keys; a version counts once its OK arrived), kill -9 of the primary, then readers
 * through the proxy from the moment of the kill:
 * - a *session* reader: one connection opened before the kill, reading all keys every ~10 ms
 *   (reconnecting after an error) — what a pooled application connection sees;
 * - a *login* reader: a new connection for every read — what a fresh request sees.
 * For each: the first successful read (ms after the kill), the keys stale in it and how many versions
 * behind, when reads became fresh (every key at or above its last acknowledged version), failed
 * reads / failed logins. Then, with the primary still dead: acknowledged versions missing on the
 * secondary as it is, and "after a promotion" — the secondary's IO thread stopped and everything it
 * received applied (what `pairgate promote` does before RESET SLAVE).
 */
import { performance } from "node:perf_hooks";
import mysql, { type Connection, type RowDataPacket } from "mysql2/promise";
import type { TestPair } from "../../test/helpers/pair.js";
import { BENCH_SCHEMA, withRoot } from "./failover-pair.js";

export const STALE_KEYS = 64;
const WRITERS = 8;
const TABLE = `${BENCH_SCHEMA}.bench_staleness`;

export interface StalenessTarget {
  label: string;
  /** Semi-synchronous replication on the primary for this run (else asynchronous). */
  semiSync: boolean;
  start(): Promise<{ port: number; stop(): Promise<void> }>;
}

export interface ReaderFigures {
  firstReadMs: number;
  staleAtFirst: number;
  maxBehindAtFirst: number;
  /** First read with no stale key, ms after the kill (NaN: never within the window). */
  freshAtMs: number;
  reads: number;
  staleReads: number;
  failed: number;
  errors: string[];
}

export interface StalenessResult {
  label: string;
  semiSync: boolean;
  ackedWrites: number;
  writesPerSecond: number;
  session: ReaderFigures;
  login: ReaderFigures;
  missingOnSecondary: number;
  missingAfterPromotion: number;
  error: string | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function emptyReader(): ReaderFigures {
  return {
    firstReadMs: Number.NaN,
    staleAtFirst: 0,
    maxBehindAtFirst: 0,
    freshAtMs: Number.NaN,
    reads: 0,
    staleReads: 0,
    failed: 0,
    errors: [],
  };
}

function connectOpts(pair: TestPair, port: number) {
  return {
    host: "127.0.0.1",
    port,
    user: pair.appUser.username,
    password: pair.appUser.password,
    database: BENCH_SCHEMA,
    connectTimeout: 10_000,
  };
}

/** Counts stale keys of one read against the acknowledged versions. */
function judge(rows: RowDataPacket[], acked: readonly number[]): { stale: number; behind: number } {
  let stale = 0;
  let behind = 0;
  for (const r of rows) {
    const d = acked[Number(r.k)] - Number(r.ver);
    if (d > 0) {
      stale++;
      if (d > behind) behind = d;
    }
  }
  return { stale, behind };
}

function note(f: ReaderFigures, at: number, rows: RowDataPacket[], acked: readonly number[]): void {
  const j = judge(rows, acked);
  f.reads++;
  if (j.stale) f.staleReads++;
  if (Number.isNaN(f.firstReadMs)) {
    f.firstReadMs = at;
    f.staleAtFirst = j.stale;
    f.maxBehindAtFirst = j.behind;
  }
  if (!j.stale && Number.isNaN(f.freshAtMs)) f.freshAtMs = at;
  if (j.stale) f.freshAtMs = Number.NaN; // fresh means: from then on
}

export async function runStaleness(
  pair: TestPair,
  target: StalenessTarget,
  log: (m: string) => void,
  windowMs = 6000,
): Promise<StalenessResult> {
  const result: StalenessResult = {
    label: target.label,
    semiSync: target.semiSync,
    ackedWrites: 0,
    writesPerSecond: 0,
    session: emptyReader(),
    login: emptyReader(),
    missingOnSecondary: Number.NaN,
    missingAfterPromotion: Number.NaN,
    error: null,
  };
  await withRoot(pair, "primary", async (c) => {
    await c.query(`SET GLOBAL rpl_semi_sync_master_enabled = ${target.semiSync ? "ON" : "OFF"}`);
    await c.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await c.query(`CREATE TABLE ${TABLE} (k INT PRIMARY KEY, ver INT NOT NULL)`);
    await c.query(
      `INSERT INTO ${TABLE} VALUES ${Array.from({ length: STALE_KEYS }, (_, k) => `(${k}, 0)`).join(",")}`,
    );
  });
  const proxy = await target.start();
  const acked = new Array<number>(STALE_KEYS).fill(0);
  let killedAt = 0;
  try {
    let stopWriting = false;
    let writes = 0;
    const writers = Array.from({ length: WRITERS }, async (_, w) => {
      const c = await mysql.createConnection(connectOpts(pair, proxy.port));
      c.on("error", () => {});
      const per = STALE_KEYS / WRITERS;
      try {
        for (let i = 0; !stopWriting; i++) {
          const k = w * per + (i % per);
          const next = acked[k] + 1;
          try {
            await c.query(`UPDATE ${TABLE} SET ver = ? WHERE k = ?`, [next, k]);
          } catch {
            return;
          }
          acked[k] = next;
          writes++;
        }
      } finally {
        c.destroy();
      }
    });
    const session = await mysql.createConnection(connectOpts(pair, proxy.port));
    session.on("error", () => {});
    await sleep(2000);
    const writesBefore = writes;
    const t0 = performance.now();
    await sleep(1000);
    result.writesPerSecond = Math.round(((writes - writesBefore) * 1000) / (performance.now() - t0));
    killedAt = performance.now();
    await pair.lab.kill("primary");
    stopWriting = true;
    await Promise.all(writers);
    result.ackedWrites = writes;
    const final = [...acked];
    const end = killedAt + windowMs;
    const sessionLoop = (async () => {
      let c: Connection | null = session;
      while (performance.now() < end) {
        try {
          if (!c) c = await mysql.createConnection(connectOpts(pair, proxy.port));
          const [rows] = await c.query<RowDataPacket[]>(`SELECT k, ver FROM ${TABLE}`);
          note(result.session, performance.now() - killedAt, rows, final);
        } catch (e) {
          result.session.failed++;
          if (result.session.errors.length < 3) result.session.errors.push((e as Error).message);
          c?.destroy();
          c = null;
        }
        await sleep(10);
      }
      c?.destroy();
    })();
    const loginLoop = (async () => {
      while (performance.now() < end) {
        let c: Connection | null = null;
        try {
          c = await mysql.createConnection(connectOpts(pair, proxy.port));
          const [rows] = await c.query<RowDataPacket[]>(`SELECT k, ver FROM ${TABLE}`);
          note(result.login, performance.now() - killedAt, rows, final);
        } catch (e) {
          result.login.failed++;
          if (result.login.errors.length < 3) result.login.errors.push((e as Error).message);
        } finally {
          c?.destroy();
        }
        await sleep(10);
      }
    })();
    await Promise.all([sessionLoop, loginLoop]);
    const missing = async () =>
      withRoot(pair, "secondary", async (c) => {
        const [rows] = await c.query<RowDataPacket[]>(`SELECT k, ver FROM ${TABLE}`);
        let n = 0;
        for (const r of rows) n += Math.max(0, final[Number(r.k)] - Number(r.ver));
        return n;
      });
    result.missingOnSecondary = await missing();
    // A promotion's first step: apply everything received (IO thread stopped), then compare.
    await withRoot(pair, "secondary", async (c) => {
      await c.query("STOP SLAVE IO_THREAD");
      const [[st]] = await c.query<RowDataPacket[]>("SHOW ALL SLAVES STATUS");
      await c.query("SELECT MASTER_GTID_WAIT(?, 60)", [String(st?.Gtid_IO_Pos ?? "")]);
    });
    result.missingAfterPromotion = await missing();
    log(
      `${target.label}: ${result.ackedWrites} acknowledged writes (${result.writesPerSecond}/s); session reader first read ` +
        `${result.session.firstReadMs.toFixed(0)} ms, ${result.session.staleAtFirst} stale; login reader first read ` +
        `${result.login.firstReadMs.toFixed(0)} ms, ${result.login.staleAtFirst} stale; missing after promotion ${result.missingAfterPromotion}`,
    );
  } catch (e) {
    result.error = (e as Error).message;
  } finally {
    await proxy.stop();
    await withRoot(pair, "primary", (c) => c.query("SET GLOBAL rpl_semi_sync_master_enabled = ON")).catch(
      () => {},
    );
  }
  return result;
}

const ms = (x: number) => (Number.isFinite(x) ? `${Math.round(x)} ms` : "never");

export function stalenessReport(results: StalenessResult[]): string {
  const head =
    "| | first read after the kill | stale keys at the first read (versions behind) | fresh from | failed reads / logins | acked writes missing on the secondary | missing after a promotion |";
  const sep = "|---|---|---|---|---|---|---|";
  const rows: string[] = [];
  for (const r of results) {
    const name = `${r.label}${r.semiSync ? "" : " (replication asynchronous)"}`;
    if (r.error) {
      rows.push(`| ${name} | failed: ${r.error} | | | | | |`);
      continue;
    }
    for (const [kind, f] of [
      ["pooled session", r.session],
      ["new connection per read", r.login],
    ] as const) {
      rows.push(
        `| ${name}, ${kind} | ${ms(f.firstReadMs)} | ${f.staleAtFirst} of ${STALE_KEYS} (${f.maxBehindAtFirst}) | ${ms(f.freshAtMs)} | ${f.failed}${f.errors.length ? ` (${f.errors[0].slice(0, 60)})` : ""} | ${r.missingOnSecondary} | ${r.missingAfterPromotion} |`,
      );
    }
  }
  const load = results
    .filter((r) => !r.error)
    .map((r) => `${r.label}: ${r.ackedWrites} acknowledged updates, ${r.writesPerSecond}/s before the kill`)
    .join("; ");
  return [
    "### Staleness at a kill -9 (versioned updates of 64 keys, 8 writers)",
    "",
    head,
    sep,
    ...rows,
    "",
    `Load: ${load}. "Fresh from": the first read after which every read saw each key at or above its last acknowledged version. Missing counts acknowledged versions (summed over keys). With caught_up, pairgate holds new logins and pooled sessions' reads alike until the secondary applied what it received and what pairgate acknowledged (the GTIDs its sessions learned from the primary's OKs); the catch-up's wait is in pairgate's log ("secondary caught up", waitedMs).`,
  ].join("\n");
}
