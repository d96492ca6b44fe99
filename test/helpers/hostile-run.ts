/**
 * The generative hostile-SQL run (issue 19): a real pair, pairgate in this process with its primary
 * behind a cuttable link, a capture tap in front of pairgate, several client sessions (mysql2 text
 * and binary protocol; a raw client for bytes no driver sends), and chains of generated statements
 * (hostile-sql.ts) run through it in cycles:
 *
 *   read_write chains → failover (link cut; kill -9 of the primary on the last cycle) → the
 *   statements each session kept for "later" → read_only chains → `SET SESSION wait_timeout = 2`
 *   and a pause (every backend connection re-opened) → more read_only chains → failback.
 *
 * After every statement both oracles of hostile-oracle.ts run. Shared by
 * test/integration/hostile-generative.test.ts (CI) and bench/hostile-generative.ts (long runs).
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import mysql, { type Connection } from "mysql2/promise";
import {
  type Canary,
  CaptureTap,
  diffSnapshots,
  holdsCanary,
  makeCanary,
  type SecondarySnapshot,
  SecondaryWatch,
} from "./hostile-oracle.js";
import { type Chain, Gen, type GenStatement, printable, setupStatements } from "./hostile-sql.js";
import { Link } from "./link.js";
import type { TestPair } from "./pair.js";
import { prng } from "./prng.js";
import { type RunningProxy, startProxy } from "./proxy.js";
import { comExecute, isErr, RawConnection, RawServerError, readPrepareOk } from "./raw-client.js";

export interface GenerativeOptions {
  seed: number;
  /** Failover cycles; the last one kills the primary with SIGKILL, the others cut its link. */
  cycles: number;
  /** Chains per phase (each 1–4 statements). */
  chainsPerPhase: number;
  /** Stop after this many findings (a broken build finds the same thing everywhere). */
  maxFindings?: number;
  log?: (line: string) => void;
}

export type Oracle = "read_only" | "audit" | "pair" | "stall" | "crash";

export interface Finding {
  oracle: Oracle;
  family: string;
  /** oracle + family + what changed: one line per distinct failure. */
  signature: string;
  seed: number;
  chain: number;
  phase: string;
  session: string;
  statement: string;
  detail: string;
  /** The session's statements before this one (oldest first, at most 20). */
  history: string[];
  /** The smallest reproduction found, if the statement alone on a fresh session reproduces it. */
  minimal?: string;
}

export interface GenerativeResult {
  seed: number;
  statements: number;
  chains: number;
  findings: Finding[];
  /** Statement outcomes: "ok" or the error code, with counts. */
  outcomes: Record<string, number>;
  ms: number;
}

/** Audit operations that are about a session or the topology, not a statement's data. */
const NOT_STATEMENT_EVENTS = new Set([
  "login",
  "login_failed",
  "login_blocked",
  "logout",
  "failover",
  "failback",
  "write_rejected",
  "captured_write",
]);

export const AUDIT_RULES = [
  {
    operation: "password_retrieval",
    tables: ["passtrix.ptrx_passwords"],
    keyPattern: "account_id\\s*=\\s*(\\d+)",
  },
];

/** The privileges issue 19's attacker holds (many password-manager installations run so). */
export const ATTACKER_GRANTS =
  "SUPER, READ_ONLY ADMIN, FILE, BINLOG ADMIN, BINLOG MONITOR, PROCESS, SLAVE MONITOR, REPLICATION SLAVE ADMIN, CONNECTION ADMIN";

const STATEMENT_TIMEOUT_MS = 8_000;
/** Results of one statement (a multi-statement) before the response counts as endless. */
const MAX_RESULTS = 1000;

// ---------------------------------------------------------------- sessions

type Outcome = { ok: true } | { ok: false; code: string; message: string; fatal: boolean };

interface Session {
  name: string;
  kind: "mysql2" | "raw";
  localPort: number;
  dead: boolean;
  later: { chain: Chain; st: GenStatement }[];
  history: string[];
  run(st: GenStatement): Promise<Outcome>;
  close(): void;
}

function errOutcome(e: unknown): Outcome {
  const err = e as { errno?: number; code?: string | number; message?: string; fatal?: boolean };
  if (e instanceof RawServerError)
    return { ok: false, code: String(e.code), message: e.message, fatal: false };
  if (typeof err.errno === "number" && !err.fatal)
    return { ok: false, code: String(err.errno), message: err.message ?? "", fatal: false };
  return {
    ok: false,
    code: String(err.code ?? err.errno ?? "error"),
    message: err.message ?? String(e),
    fatal: true,
  };
}

async function mysql2Session(name: string, port: number, pair: TestPair): Promise<Session> {
  const conn: Connection = await mysql.createConnection({
    host: "127.0.0.1",
    port,
    user: pair.appUser.username,
    password: pair.appUser.password,
    database: "passtrix",
    connectTimeout: 10_000,
  });
  conn.on("error", () => {});
  const stream = (conn as unknown as { connection: { stream: { localPort: number } } }).connection.stream;
  const s: Session = {
    name,
    kind: "mysql2",
    localPort: stream.localPort,
    dead: false,
    later: [],
    history: [],
    async run(st) {
      const sql = st.sql.toString("utf8");
      try {
        if (st.protocol === "binary") await conn.execute({ sql, timeout: STATEMENT_TIMEOUT_MS });
        else await conn.query({ sql, timeout: STATEMENT_TIMEOUT_MS });
        return { ok: true };
      } catch (e) {
        const o = errOutcome(e);
        if (!o.ok && o.fatal) s.dead = true;
        return o;
      }
    },
    close: () => conn.destroy(),
  };
  return s;
}

async function rawSession(name: string, port: number, pair: TestPair, collation?: number): Promise<Session> {
  const c = await RawConnection.connect(port);
  await c.login({
    user: pair.appUser.username,
    password: pair.appUser.password,
    database: "passtrix",
    collation,
  });
  const prepared = new Map<string, number>();
  /**
   * A whole response: every result of a multi-statement; LOCAL INFILE answered with no data. At
   * most MAX_RESULTS results and STATEMENT_TIMEOUT_MS in all: a response that does not end is a
   * stall, not a reason for the harness to spin.
   */
  const drain = async (first: Awaited<ReturnType<RawConnection["read"]>>) => {
    let p = first;
    const until = Date.now() + STATEMENT_TIMEOUT_MS;
    for (let results = 0; ; results++) {
      if (results > MAX_RESULTS || Date.now() > until)
        throw Object.assign(new Error(`the response did not end (${results} results)`), { code: "ENDLESS" });
      if (p.payload[0] === 0xfb && p.payload.length > 1) {
        c.send(p.seq + 1, Buffer.alloc(0));
        p = await c.read(STATEMENT_TIMEOUT_MS);
        continue;
      }
      const rs = await c.readResult(p, STATEMENT_TIMEOUT_MS);
      if (!(rs.status & 0x08)) return;
      p = await c.read(STATEMENT_TIMEOUT_MS);
    }
  };
  const s: Session = {
    name,
    kind: "raw",
    localPort: c.socket.localPort ?? 0,
    dead: false,
    later: [],
    history: [],
    async run(st) {
      try {
        if (st.protocol === "binary") {
          const key = st.sql.toString("latin1");
          let id = prepared.get(key);
          if (id === undefined) {
            const first = await c.command(Buffer.concat([Buffer.from([0x16]), st.sql]), STATEMENT_TIMEOUT_MS);
            if (isErr(first)) await drain(first);
            id = (await readPrepareOk(c, first)).statementId;
            prepared.set(key, id);
          }
          await drain(await c.command(comExecute(id), STATEMENT_TIMEOUT_MS));
        } else {
          await drain(await c.command(Buffer.concat([Buffer.from([0x03]), st.sql]), STATEMENT_TIMEOUT_MS));
        }
        return { ok: true };
      } catch (e) {
        const o = errOutcome(e);
        if (!o.ok && o.fatal) s.dead = true;
        return o;
      }
    },
    close: () => c.close(),
  };
  return s;
}

// ---------------------------------------------------------------- the lab

/** Grants, helper objects and the canary, on the primary as root; waits for the secondary. */
export async function prepareLab(pair: TestPair, canary: Canary): Promise<number> {
  const root = await pair.rootConnection("primary");
  try {
    await root.query(`GRANT ${ATTACKER_GRANTS} ON *.* TO ${root.escape(pair.appUser.username)}@'%'`);
    // Row and metadata locks a hostile session holds make the others wait seconds, not a year.
    for (const role of ["primary", "secondary"] as const) {
      const c = role === "primary" ? root : await pair.rootConnection(role);
      await c.query("SET GLOBAL lock_wait_timeout = 3, innodb_lock_wait_timeout = 3");
      if (c !== root) await c.end();
    }
    for (const sql of setupStatements()) await root.query(sql);
    // The canary is written as a literal, as an application writes its secrets: the binlog's
    // annotate events, the relay logs and the table's files hold it too (server copies).
    await root.query(
      `UPDATE passtrix.ptrx_passwords SET encrypted_password = CONCAT(${root.escape(canary.value)}, '-', account_id)`,
    );
    const [[row]] = (await root.query(
      "SELECT @@server_id AS id, @@global.gtid_binlog_pos AS pos",
    )) as unknown as [{ id: number; pos: string }[]];
    const sec = await pair.rootConnection("secondary");
    try {
      await sec.query("SELECT MASTER_GTID_WAIT(?, 30)", [row.pos]);
    } finally {
      await sec.end();
    }
    return Number(row.id);
  } finally {
    await root.end();
  }
}

export function proxyConfigFor(pair: TestPair, primaryPort: number, tag: string) {
  return pair.proxyConfig({
    primary: { port: primaryPort },
    monitor: { intervalMs: 100, connectTimeoutMs: 500, queryTimeoutMs: 1000, fall: 2, rise: 2 },
    audit: { rules: AUDIT_RULES, journalDir: join(pair.dir, `audit-generative-${tag}`) },
  });
}

// ---------------------------------------------------------------- the run

export function seedFromEnv(): number {
  const env = process.env.PAIRGATE_HOSTILE_SEED;
  if (env && /^\d+$/.test(env)) return Number(env) >>> 0;
  return randomBytes(4).readUInt32LE(0) || 1;
}

export class GenerativeRun {
  readonly findings: Finding[] = [];
  readonly outcomes: Record<string, number> = {};
  statements = 0;
  chains = 0;
  private sessions: Session[] = [];
  private sessionNo = 0;
  private chainEvents = new Map<number, number>();
  private baseline: SecondarySnapshot | null = null;
  private signatures = new Set<string>();
  private phase = "read_write";
  private readonly log: (line: string) => void;
  private readonly gen: Gen;

  constructor(
    readonly pair: TestPair,
    readonly px: RunningProxy,
    readonly tap: CaptureTap,
    readonly link: Link,
    readonly watch: SecondaryWatch,
    readonly canary: Canary,
    readonly opts: GenerativeOptions,
  ) {
    this.log = opts.log ?? (() => {});
    this.gen = new Gen(prng(opts.seed), pair.appUser.password);
  }

  private auditCount(): number {
    let n = 0;
    for (const [op, c] of Object.entries(this.px.proxy.audit?.counts() ?? {}))
      if (!NOT_STATEMENT_EVENTS.has(op)) n += c;
    return n;
  }

  private get full(): boolean {
    return (this.opts.maxFindings ?? 200) <= this.findings.length;
  }

  private async newSession(kind: "mysql2" | "raw", collation?: number): Promise<Session> {
    const name = `${kind}#${++this.sessionNo}${collation ? `(collation ${collation})` : ""}`;
    return kind === "raw"
      ? rawSession(name, this.tap.port, this.pair, collation)
      : mysql2Session(name, this.tap.port, this.pair);
  }

  /** Four sessions: two mysql2, two raw; dead ones replaced. */
  private async fillSessions(): Promise<void> {
    this.sessions = this.sessions.filter((s) => {
      if (s.dead) s.close();
      return !s.dead;
    });
    const want = ["mysql2", "mysql2", "raw", "raw"] as const;
    for (const kind of want) {
      const have = this.sessions.filter((s) => s.kind === kind).length;
      const need = want.filter((k) => k === kind).length;
      if (have < need) {
        try {
          this.sessions.push(await this.newSession(kind));
        } catch (e) {
          this.finding(
            "pair",
            "login",
            0,
            "(login)",
            `a new session could not log in: ${(e as Error).message}`,
            [],
          );
          return;
        }
      }
    }
  }

  private finding(
    oracle: Oracle,
    family: string,
    chain: number,
    statement: string,
    detail: string,
    history: string[],
    session = "",
    kinds: string[] = [],
  ): Finding | null {
    const signature = `${oracle}:${family}:${skeleton(statement)}:${[...new Set(kinds)].sort().join(",")}`;
    const f: Finding = {
      oracle,
      family,
      signature,
      seed: this.opts.seed,
      chain,
      phase: this.phase,
      session,
      statement,
      detail,
      history: history.slice(-20),
    };
    this.findings.push(f);
    const first = !this.signatures.has(signature);
    this.signatures.add(signature);
    this.log(
      `FAIL [${oracle}] ${family} (seed ${this.opts.seed}, chain ${chain}, ${this.phase}, ${session}): ${statement}\n      ${detail}`,
    );
    return first ? f : null;
  }

  crashed(e: Error): void {
    this.finding(
      "crash",
      "uncaught",
      0,
      "(pairgate, in this process)",
      `uncaught exception: ${e.stack ?? e.message}`,
      [],
      "",
      [(e as NodeJS.ErrnoException).code ?? e.name],
    );
  }

  /** One statement, both oracles. Returns what the oracles said (for the shrinker). */
  private async step(
    s: Session,
    chain: Chain,
    st: GenStatement,
    shrinking = false,
  ): Promise<{ audit: string | null; readOnly: string[] }> {
    const text = printable(st.sql) + (st.protocol === "binary" ? "  [binary protocol]" : "");
    this.tap.take(s.localPort);
    const before = this.auditCount();
    const t0 = performance.now();
    // A watchdog over the session's own timeouts: whatever happens, the run goes on.
    let dog: NodeJS.Timeout | undefined;
    const outcome = await Promise.race([
      s.run(st),
      new Promise<Outcome>((resolve) => {
        dog = setTimeout(
          () => resolve({ ok: false, code: "WATCHDOG", message: "no end to the response", fatal: true }),
          STATEMENT_TIMEOUT_MS + 5000,
        );
      }),
    ]);
    clearTimeout(dog);
    if (!outcome.ok && outcome.fatal) {
      s.dead = true;
      s.close();
    }
    const took = performance.now() - t0;
    if (took > 2000 && !shrinking)
      this.log(`slow: ${took.toFixed(0)} ms (${outcome.ok ? "ok" : outcome.code}) ${text.slice(0, 160)}`);
    if (!shrinking) {
      this.statements++;
      const key = outcome.ok ? "ok" : outcome.code;
      this.outcomes[key] = (this.outcomes[key] ?? 0) + 1;
      if (
        process.env.PAIRGATE_HOSTILE_DEBUG &&
        !outcome.ok &&
        outcome.code === process.env.PAIRGATE_HOSTILE_DEBUG
      )
        this.log(`debug ${chain.family}: ${text.slice(0, 200)} → ${outcome.message.slice(0, 120)}`);
      s.history.push(`${text}  → ${outcome.ok ? "ok" : `${outcome.code} ${outcome.message.slice(0, 80)}`}`);
      if (s.history.length > 40) s.history.shift();
    }
    // Bytes still on their way (a result after a timeout): let the tap catch up.
    await new Promise((r) => setImmediate(r));
    const bytes = this.tap.take(s.localPort);
    const events = this.auditCount() - before;
    this.chainEvents.set(chain.id, (this.chainEvents.get(chain.id) ?? 0) + events);
    let audit: string | null = null;
    if (holdsCanary(bytes, this.canary) && (this.chainEvents.get(chain.id) ?? 0) === 0) {
      const at = this.canary.needles.map((n) => bytes.indexOf(n)).find((i) => i >= 0) ?? 0;
      audit = `the canary reached the client (${bytes.length} bytes; …${printable(bytes.subarray(Math.max(0, at - 40), at + 40))}…) and no audit event was recorded for this chain`;
    }
    const readOnly = await this.checkSecondary();
    if (!outcome.ok && (took >= STATEMENT_TIMEOUT_MS - 100 || outcome.code === "ENDLESS")) {
      if (!shrinking)
        this.finding(
          "stall",
          chain.family,
          chain.id,
          text,
          outcome.code === "ENDLESS" || outcome.code === "WATCHDOG"
            ? `the response did not end within ${STATEMENT_TIMEOUT_MS} ms / ${MAX_RESULTS} results (${outcome.code})`
            : `no answer within ${STATEMENT_TIMEOUT_MS} ms`,
          s.history,
          s.name,
        );
    }
    return { audit, readOnly };
  }

  /** The read_only oracle after a statement: lines that changed (and the secondary repaired). */
  private async checkSecondary(): Promise<string[]> {
    if (this.phase === "read_only" && this.baseline) {
      const now = await this.watch.full();
      const diff = diffSnapshots(this.baseline, now);
      if (diff.length > 0) {
        await this.repair(now);
        this.baseline = await this.watch.full();
      }
      return diff;
    }
    const q = await this.watch.quick();
    const out: string[] = [];
    if (q.foreignGtids.length)
      out.push(`foreign GTIDs in the secondary's binlog: ${q.foreignGtids.join(",")}`);
    if (q.readOnly !== 1) out.push(`readOnly: 1 → ${q.readOnly}`);
    if (q.sqlRunning !== "on") out.push(`sqlRunning: on → ${q.sqlRunning} ${q.lastSqlError}`);
    if (q.ioRunning !== "on") out.push(`ioRunning: on → ${q.ioRunning}`);
    if (out.length) await this.repair(q);
    return out;
  }

  /**
   * After a violation, put the secondary back into service so that the run goes on finding other
   * things: read_only on, replication running, and a binlog without the local GTIDs (with them,
   * gtid_strict_mode stops replication at the primary's next write). Rows a local write changed
   * stay different: replication is made idempotent so that it does not stop on them.
   */
  private async repair(s: Partial<SecondarySnapshot>): Promise<void> {
    const tryExec = (sql: string) => this.watch.exec(sql).catch(() => {});
    if (s.readOnly !== 1) await tryExec("SET GLOBAL read_only = 1");
    await tryExec("SET GLOBAL general_log = 0");
    await tryExec("SET GLOBAL event_scheduler = OFF");
    if ((s.foreignGtids?.length ?? 0) > 0 || s.sqlRunning !== "on") {
      await tryExec("STOP SLAVE");
      await tryExec("RESET MASTER");
      await tryExec("SET GLOBAL slave_exec_mode = 'IDEMPOTENT'");
    }
    if (s.ioRunning !== "on" || s.sqlRunning !== "on" || (s.foreignGtids?.length ?? 0) > 0)
      await tryExec("START SLAVE");
  }

  private kindsOf(lines: string[]): string[] {
    return lines.map((l) =>
      l
        .replace(/:.*$/, "")
        .replace(/\d+/g, "N")
        .replace(/^table (\S+)$/, "table $1"),
    );
  }

  private async runStatement(s: Session, chain: Chain, st: GenStatement): Promise<void> {
    const text = printable(st.sql) + (st.protocol === "binary" ? "  [binary protocol]" : "");
    const history = [...s.history];
    const r = await this.step(s, chain, st);
    if (r.audit) {
      const f = this.finding("audit", chain.family, chain.id, text, r.audit, history, s.name, ["canary"]);
      if (f) f.minimal = await this.shrink(chain, st, "audit");
    }
    if (r.readOnly.length) {
      const f = this.finding(
        "read_only",
        chain.family,
        chain.id,
        text,
        r.readOnly.join("\n      "),
        history,
        s.name,
        this.kindsOf(r.readOnly),
      );
      if (f) f.minimal = await this.shrink(chain, st, "read_only");
    }
  }

  /**
   * The cheap shrinker: does the statement alone, on a fresh session of the same kind (in the
   * same mode), fail the same oracle? Then that is the smallest reproduction; else the chain's
   * statements with the session's history are (reported by the finding).
   */
  private async shrink(
    chain: Chain,
    st: GenStatement,
    oracle: "audit" | "read_only",
  ): Promise<string | undefined> {
    // The statement alone, or the chain up to it (a stash and its reveal): whichever reproduces.
    const at = chain.statements.indexOf(st);
    const tries: GenStatement[][] = at === 0 || at < 0 ? [[st]] : [[st], chain.statements.slice(0, at + 1)];
    if (at > 0 && oracle === "audit") tries.shift(); // the reveal alone shows an old stash: no proof
    for (const list of tries) {
      let s: Session | null = null;
      try {
        const raw = list.some((x) => x.raw) || chain.collation !== undefined;
        s = await this.newSession(raw ? "raw" : "mysql2", chain.collation);
        const solo: Chain = { ...chain, id: -chain.id - 1_000_000 };
        let hit = false;
        for (const x of list) {
          const r = await this.step(s, solo, x, true);
          hit = oracle === "audit" ? r.audit !== null : r.readOnly.length > 0;
        }
        if (hit)
          return `on a fresh ${s.name} session in ${this.phase} mode: ${list.map((x) => printable(x.sql) + (x.protocol === "binary" ? "  [binary protocol]" : "")).join("  ⏎  ")}`;
      } catch {
        // not reproduced
      } finally {
        s?.close();
      }
    }
    return undefined;
  }

  private async runChain(chain: Chain): Promise<void> {
    this.chains++;
    let s: Session | undefined;
    if (chain.collation) {
      try {
        s = await this.newSession("raw", chain.collation);
        // It joins the pool in place of another raw session: its charset travels with it.
        const i = this.sessions.findIndex((x) => x.kind === "raw");
        if (i >= 0) {
          this.sessions[i].close();
          this.sessions[i] = s;
        } else this.sessions.push(s);
      } catch (e) {
        this.finding(
          "pair",
          chain.family,
          chain.id,
          "(login)",
          `login with collation ${chain.collation} failed: ${(e as Error).message}`,
          [],
        );
        return;
      }
    } else {
      const needRaw = chain.statements.some((x) => x.raw) || chain.later.some((x) => x.raw);
      const pool = this.sessions.filter((x) => !x.dead && (!needRaw || x.kind === "raw"));
      s = pool.length ? this.gen.rng.pick(pool) : undefined;
    }
    if (!s) return;
    for (const st of chain.statements) {
      if (s.dead) break;
      await this.runStatement(s, chain, st);
    }
    for (const st of chain.later) s.later.push({ chain, st });
  }

  private async runLater(): Promise<void> {
    for (const s of this.sessions) {
      const queue = s.later.splice(0);
      for (const { chain, st } of queue) {
        if (s.dead || this.full) break;
        await this.runStatement(s, chain, st);
      }
    }
  }

  private async chainsNow(n: number): Promise<void> {
    for (let i = 0; i < n && !this.full; i++) {
      // Now and then a session ends (a logout) and a fresh one takes its place: sessions that
      // drifted into sql_mode=ORACLE or a charset nothing parses would otherwise stay so for good.
      if (i % 25 === 24 && this.sessions.length > 0) {
        const s = this.gen.rng.pick(this.sessions);
        s.close();
        s.dead = true;
      }
      if (i % 10 === 0 || i % 25 === 24) await this.fillSessions();
      await this.runChain(this.gen.chain());
    }
  }

  private async reconnectPause(): Promise<void> {
    for (const s of this.sessions) {
      if (s.dead) continue;
      await this.runStatement(
        s,
        { id: 0, family: "reconnect", statements: [], later: [] },
        {
          sql: Buffer.from("SET SESSION wait_timeout = 2"),
          protocol: "text",
          raw: false,
        },
      );
    }
    await new Promise((r) => setTimeout(r, 2600));
  }

  private async waitMode(mode: "read_only" | "read_write", ms: number): Promise<void> {
    await this.px.proxy.topology.waitFor(mode, ms);
  }

  /** The pair after a failback: replication running, no GTID of the secondary's own. */
  private async checkPairAfterFailback(cycle: number): Promise<void> {
    const end = Date.now() + 15_000;
    let q = await this.watch.quick();
    while ((q.ioRunning !== "on" || q.sqlRunning !== "on") && Date.now() < end) {
      await new Promise((r) => setTimeout(r, 200));
      q = await this.watch.quick();
    }
    const out: string[] = [];
    if (q.sqlRunning !== "on") out.push(`sqlRunning: ${q.sqlRunning} ${q.lastSqlError}`);
    if (q.ioRunning !== "on") out.push(`ioRunning: ${q.ioRunning}`);
    if (q.foreignGtids.length) out.push(`foreign GTIDs: ${q.foreignGtids.join(",")}`);
    if (out.length) {
      this.finding(
        "pair",
        "failback",
        0,
        `(failback of cycle ${cycle})`,
        out.join("; "),
        [],
        "",
        this.kindsOf(out),
      );
      await this.repair(q);
    }
  }

  /** Failover: the primary's link cut (or the primary killed); the secondary's snapshot taken. */
  async enterReadOnly(kill: boolean): Promise<void> {
    if (kill) await this.pair.lab.kill("primary");
    else this.link.cut();
    await this.waitMode("read_only", 30_000);
    await this.watch.caughtUp();
    this.phase = "read_only";
    this.baseline = await this.watch.full();
  }

  /** Failback: the secondary cleaned of local GTIDs if needed, the primary back, read_write. */
  async leaveReadOnly(kill: boolean, cycle: number): Promise<void> {
    this.phase = "failback";
    this.baseline = null;
    // A secondary a hostile statement wrote on does not take the primary's next GTID.
    const left = await this.watch.quick();
    if (left.foreignGtids.length) await this.repair(left);
    if (kill) {
      try {
        await this.pair.lab.start("primary");
      } catch (e) {
        this.finding(
          "pair",
          "failback",
          0,
          `(restart of the primary, cycle ${cycle})`,
          (e as Error).message,
          [],
          "",
          ["restart"],
        );
        await this.repair(await this.watch.quick());
      }
    } else this.link.heal();
    await this.waitMode("read_write", 60_000);
    await this.checkPairAfterFailback(cycle);
    this.phase = "read_write";
  }

  /** For the self-test: run these chains now (in the current phase); the findings they caused. */
  async runChains(chains: Chain[]): Promise<Finding[]> {
    const from = this.findings.length;
    await this.fillSessions();
    for (const c of chains) await this.runChain(c);
    await this.runLater();
    return this.findings.slice(from);
  }

  /** A chain (and its `later` statements) on a session of its own, closed afterwards: its findings. */
  async runAlone(chain: Chain, kind: "mysql2" | "raw" = "mysql2"): Promise<Finding[]> {
    const from = this.findings.length;
    const s = await this.newSession(chain.collation ? "raw" : kind, chain.collation);
    try {
      for (const st of [...chain.statements, ...chain.later])
        if (!s.dead) await this.runStatement(s, chain, st);
    } finally {
      s.close();
    }
    return this.findings.slice(from);
  }

  /** For the self-test: `change` done behind pairgate's back, then the read_only oracle as after a statement. */
  async inject(label: string, change: () => Promise<void>): Promise<Finding[]> {
    const from = this.findings.length;
    await change();
    const lines = await this.checkSecondary();
    if (lines.length)
      this.finding(
        "read_only",
        "self_test",
        0,
        label,
        lines.join("\n      "),
        [],
        "root",
        this.kindsOf(lines),
      );
    return this.findings.slice(from);
  }

  close(): void {
    for (const s of this.sessions) s.close();
    this.sessions = [];
  }

  async run(): Promise<GenerativeResult> {
    const t0 = Date.now();
    const { cycles, chainsPerPhase } = this.opts;
    const at = () => `${((Date.now() - t0) / 1000).toFixed(1)} s`;
    try {
      for (let cycle = 1; cycle <= cycles && !this.full; cycle++) {
        const kill = cycle === cycles;
        this.phase = "read_write";
        await this.waitMode("read_write", 30_000);
        await this.fillSessions();
        await this.chainsNow(chainsPerPhase);
        await this.reconnectPause();
        this.log(
          `cycle ${cycle}/${cycles}: ${this.statements} statements after ${at()}; failover by ${kill ? "kill -9" : "a link cut"}`,
        );
        await this.enterReadOnly(kill);
        await this.runLater();
        await this.fillSessions();
        await this.chainsNow(Math.ceil(chainsPerPhase / 2));
        await this.reconnectPause();
        await this.runLater();
        await this.chainsNow(Math.ceil(chainsPerPhase / 2));
        await this.runLater();
        await this.leaveReadOnly(kill, cycle);
        this.log(`cycle ${cycle}/${cycles}: back to read_write after ${at()}`);
      }
    } finally {
      this.close();
    }
    return {
      seed: this.opts.seed,
      statements: this.statements,
      chains: this.chains,
      findings: this.findings,
      outcomes: this.outcomes,
      ms: Date.now() - t0,
    };
  }
}

export interface Primed {
  canary: Canary;
  primaryServerId: number;
}

/**
 * Everything around a run: the link, pairgate, the tap (in front of pairgate, or with
 * `direct: true` in front of the secondary itself, for the self-test), the secondary's watch; all
 * torn down afterwards.
 */
export async function withRun<T>(
  pair: TestPair,
  primed: Primed,
  opts: GenerativeOptions & { direct?: boolean },
  f: (run: GenerativeRun) => Promise<T>,
): Promise<T> {
  const link = await Link.start(pair.primary);
  const px = await startProxy(pair, proxyConfigFor(pair, link.port, `${opts.seed}-${Date.now()}`));
  const tap = await CaptureTap.start(opts.direct ? pair.secondary : { host: "127.0.0.1", port: px.port });
  const watch = new SecondaryWatch(pair, primed.primaryServerId);
  const run = new GenerativeRun(pair, px, tap, link, watch, primed.canary, opts);
  // pairgate runs in this process: an exception nobody catches is pairgate failing (or this
  // harness); either way a finding, and the run goes on to find the rest.
  const onUncaught = (e: Error) => run.crashed(e);
  process.on("uncaughtException", onUncaught);
  try {
    return await f(run);
  } finally {
    process.off("uncaughtException", onUncaught);
    run.close();
    watch.close();
    await tap.close();
    await px.stop();
    await link.close();
  }
}

/** Grants, helper objects and the canary (once per pair), then a whole run. */
export async function runGenerative(
  pair: TestPair,
  opts: GenerativeOptions,
  primed?: Primed,
): Promise<GenerativeResult> {
  let p = primed;
  if (!p) {
    const canary = makeCanary(randomBytes(6).toString("hex"));
    p = { canary, primaryServerId: await prepareLab(pair, canary) };
  }
  return withRun(pair, p, opts, (run) => run.run());
}

/**
 * The first three words of a statement once its comments are gone (an executable comment's text
 * stays: the server runs it): what tells one kind of statement from another in a family.
 */
export function skeleton(statement: string): string {
  const words = statement
    .replace(/\s+\[binary protocol\]$/, "")
    .replace(/\/\*(?![M!])[\s\S]*?\*\//g, " ")
    .replace(/\/\*M?!(99999|999999)[\s\S]*?\*\//g, " ")
    .replace(/\/\*M?!\d*/g, " ")
    .replace(/\*\//g, " ")
    .replace(/(--(\s|\\x..)|#).*?(\\x0a|$)/g, " ")
    .replace(/\\x0[9a-d]/g, " ")
    .replace(/[`"]/g, "")
    .match(/[A-Za-z_@][\w@.]*/g);
  return (words ?? []).slice(0, 3).join(" ").toUpperCase().replace(/\d+/g, "N");
}

/** Distinct failures: the first finding of each signature. */
export function distinctFindings(findings: Finding[]): Finding[] {
  const seen = new Set<string>();
  return findings.filter((f) => {
    if (seen.has(f.signature)) return false;
    seen.add(f.signature);
    return true;
  });
}

export function formatFinding(f: Finding): string {
  return [
    `[${f.oracle}] ${f.family} — seed ${f.seed}, chain ${f.chain}, ${f.phase}, session ${f.session}`,
    `  statement: ${f.statement}`,
    `  ${f.detail.replace(/\n/g, "\n  ")}`,
    f.minimal
      ? `  smallest: ${f.minimal}`
      : "  smallest: (not alone: it needs the session's earlier statements)",
    ...(f.minimal ? [] : f.history.slice(-8).map((h) => `    before: ${h}`)),
  ].join("\n");
}
