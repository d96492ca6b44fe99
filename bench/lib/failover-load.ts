/**
 * The failover bench's client load: a mysql2 pool of `clients` connections with as many loops,
 * each doing three point selects on passtrix tables and then one INSERT into the bench table with a
 * client-side sequence number — no query timeout (like JDBC's default), so a statement nobody
 * answers stays unanswered, and that is what the bench measures. Every statement is recorded on
 * the bench clock (performance.now(), ms): when it was sent, when it was answered, and how.
 */
import { performance } from "node:perf_hooks";
import mysql, { type Pool, type PoolConnection, type QueryError } from "mysql2";

export const BENCH_TABLE = "bench_failover_writes";

export interface Stmt {
  kind: "read" | "write";
  /** Sent (pool.query called), bench clock ms. */
  start: number;
  /** Answered (result or error), bench clock ms; NaN while unanswered. */
  end: number;
  ok: boolean;
  /** The server's error number, 0 when ok, -1 for a client-side error (connection lost, refused, ...). */
  errno: number;
  /** "errno/code: message" of an error, "" when ok. */
  error: string;
  /** The write's sequence number; -1 for reads. */
  seq: number;
  /** Still unanswered when the load stopped and its connection was destroyed (`end` stays NaN). */
  abandoned: boolean;
}

export interface LoadOptions {
  host: string;
  port: number;
  user: string;
  password: string;
  database: string;
  clients: number;
  /** Pause after each answered statement, ms (0: back to back). */
  pauseMs: number;
  /** Pause after a failed statement, so a refused connection does not spin a loop, ms. */
  errorPauseMs: number;
}

const READS: [string, number][] = [
  ["SELECT id, name, dns_name, os_type FROM ptrx_resources WHERE id = ?", 10],
  ["SELECT id, resource_id, login_name FROM ptrx_accounts WHERE id = ?", 30],
  ["SELECT account_id, updated_by, updated_at FROM ptrx_passwords WHERE account_id = ?", 30],
];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export class Load {
  /** Every statement since the last prune(), answered or not. */
  private log: Stmt[] = [];
  private readonly unanswered = new Set<Stmt>();
  /** Sequence numbers of the writes the client saw succeed. */
  readonly acked = new Set<number>();
  private readonly pool: Pool;
  private readonly conns = new Set<PoolConnection>();
  private loops: Promise<void>[] = [];
  private stopping = false;
  private nextSeq = 1;

  constructor(private readonly o: LoadOptions) {
    this.pool = mysql.createPool({
      host: o.host,
      port: o.port,
      user: o.user,
      password: o.password,
      database: o.database,
      connectionLimit: o.clients,
      waitForConnections: true,
      queueLimit: 0,
    });
    this.pool.on("connection", (c) => {
      this.conns.add(c);
      c.on("error", () => {}); // also reported to the statement's callback; never an unhandled 'error'
      c.once("end", () => this.conns.delete(c));
    });
  }

  start(): void {
    for (let c = 0; c < this.o.clients; c++) this.loops.push(this.loop(c));
  }

  private exec(kind: Stmt["kind"], sql: string, values: unknown[], seq: number): Promise<Stmt> {
    const s: Stmt = {
      kind,
      start: performance.now(),
      end: Number.NaN,
      ok: false,
      errno: 0,
      error: "",
      seq,
      abandoned: false,
    };
    this.log.push(s);
    this.unanswered.add(s);
    return new Promise((resolve) => {
      this.pool.query(sql, values, (err: QueryError | null) => {
        if (s.abandoned) return resolve(s);
        s.end = performance.now();
        this.unanswered.delete(s);
        if (err) {
          s.errno = typeof err.errno === "number" && err.errno > 0 ? err.errno : -1;
          s.error = `${err.errno && err.errno > 0 ? err.errno : (err.code ?? "?")}: ${err.message}`;
        } else {
          s.ok = true;
          if (seq >= 0) this.acked.add(seq);
        }
        resolve(s);
      });
    });
  }

  private async loop(client: number): Promise<void> {
    for (let i = client; !this.stopping; i++) {
      let s: Stmt;
      if (i % 4 === 3) {
        const seq = this.nextSeq++;
        s = await this.exec(
          "write",
          `INSERT INTO ${BENCH_TABLE} (seq, client, sent_ms) VALUES (?, ?, ?)`,
          [seq, client, Date.now()],
          seq,
        );
      } else {
        const [sql, n] = READS[i % READS.length]!;
        s = await this.exec("read", sql, [1 + ((i * 7 + client) % n)], -1);
      }
      const pause = s.ok ? this.o.pauseMs : this.o.errorPauseMs;
      if (pause > 0) await sleep(pause);
    }
  }

  /** The statements recorded since the last prune (the same objects: `end` fills in when answered). */
  statements(): readonly Stmt[] {
    return this.log;
  }

  /** Forgets statements answered before `t` (bench clock), so a long soak does not hold them all. */
  prune(t: number): void {
    this.log = this.log.filter((s) => Number.isNaN(s.end) || s.end >= t);
  }

  get writesSent(): number {
    return this.nextSeq - 1;
  }

  /**
   * Stops sending, waits up to `drainMs` for the statements in flight, then closes the pool
   * (destroying connections whose statements are still unanswered). Returns how many were left.
   */
  async stop(drainMs: number): Promise<number> {
    this.stopping = true;
    const all = Promise.all(this.loops);
    const timedOut = await Promise.race([all.then(() => false), sleep(drainMs).then(() => true)]);
    const left = timedOut ? this.unanswered.size : 0;
    for (const s of this.unanswered) s.abandoned = true;
    for (const c of this.conns) c.destroy();
    await Promise.race([new Promise<void>((resolve) => this.pool.end(() => resolve())), sleep(3000)]);
    return left;
  }
}
