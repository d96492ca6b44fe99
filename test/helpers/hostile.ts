/**
 * Hostile inputs of issue 11, each run against a fresh pairgate process while a well-behaved client
 * measures its own `SELECT 1` latency through the same pairgate. Shared by
 * test/integration/hostile.test.ts (which asserts the bound) and bench/hostile.ts (which prints
 * the figures; `npm run bench:hostile`).
 *
 *   const r = await runHostile(pair, "hashTail");   // { probe: { max, p99, n }, cpu, rss, ... }
 *
 * The probe sends `SELECT 1` every PROBE_INTERVAL_MS; a probe still unanswered when the phase
 * ends counts with the time it has waited, so a proxy frozen for good shows as a huge max rather
 * than as no sample.
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { connect as netConnect, type Socket } from "node:net";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { TestPair } from "./pair.js";
import { freePort } from "./ports.js";
import { type ProxyProcess, startProxyProcess } from "./proxy.js";
import {
  CAP,
  DEFAULT_CAPS,
  frame,
  handshakeResponse,
  nativeToken,
  parseGreeting,
  rawLogin,
} from "./raw-client.js";

export const HOSTILE_PHASES = [
  "hashTail",
  "leadingSpaces",
  "trickle16MiB",
  "loginStorm",
  "hugeUserName",
] as const;
export type HostilePhase = (typeof HOSTILE_PHASES)[number];

export const PHASE_TITLES: Record<HostilePhase, string> = {
  hashTail: "160 KB '#' tail vs the appUserTag rule",
  leadingSpaces: "leading spaces before a refused write (captureTables, read-only)",
  trickle16MiB: "a 16 MiB packet trickled in 8 KiB writes",
  loginStorm: "2,000 wrong passwords, 50 at a time",
  hugeUserName: "failed login with a 65,000-byte user name",
};

const PROBE_INTERVAL_MS = 5;

export interface LatencyFigures {
  n: number;
  maxMs: number;
  p99Ms: number;
  p50Ms: number;
}

export interface HostileResult {
  phase: HostilePhase;
  probe: LatencyFigures;
  /** pairgate's CPU over the phase, % of one core. */
  cpuPercent: number;
  /** pairgate's resident memory before the phase, at its peak (VmHWM), and 2 s after it (MiB). */
  rssBeforeMiB: number;
  rssPeakMiB: number;
  rssAfterMiB: number;
  /** How long the hostile action took (ms). */
  hostileMs: number;
  /** What the hostile client got (per phase). */
  notes: Record<string, number | string>;
}

/** The shipped audit rule, plus captureTables, so every regex of issue 11 is in play. */
function hostileConfig(pair: TestPair, port: number): ReturnType<TestPair["proxyConfig"]> {
  return pair.proxyConfig({
    listen: { port },
    audit: {
      journalDir: join(pair.dir, `hostile-audit-${port}`),
      rules: [
        {
          operation: "password_retrieval",
          tables: ["passtrix.ptrx_passwords"],
          keyPattern: "account_id\\s*=\\s*(\\d+)",
          appUserTag: "app_user",
        },
      ],
      captureTables: ["passtrix.ptrx_notes"],
    },
  });
}

function cpuTicks(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return Number(rest[11]) + Number(rest[12]); // utime + stime
  } catch {
    return 0;
  }
}

function dirBytes(dir: string): number {
  let n = 0;
  try {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      n += e.isDirectory() ? dirBytes(p) : statSync(p).size;
    }
  } catch {
    // not there yet
  }
  return n;
}

/** `SELECT 1` every few ms, on a worker thread of its own; figures when stopped. */
async function startProbe(pair: TestPair, port: number): Promise<{ stop(): Promise<LatencyFigures> }> {
  const worker = new Worker(new URL("./probe-worker.mjs", import.meta.url), {
    workerData: {
      port,
      user: pair.appUser.username,
      password: pair.appUser.password,
      intervalMs: PROBE_INTERVAL_MS,
    },
  });
  const messages: unknown[] = [];
  let wake: (() => void) | null = null;
  worker.on("message", (m) => {
    messages.push(m);
    wake?.();
  });
  const next = (ms: number) =>
    new Promise<unknown>((resolve, reject) => {
      const t = setTimeout(() => reject(new Error("probe worker did not answer")), ms);
      const take = () => {
        if (messages.length === 0) return;
        clearTimeout(t);
        wake = null;
        resolve(messages.shift());
      };
      wake = take;
      take();
    });
  await next(10_000);
  return {
    async stop() {
      worker.postMessage("stop");
      // Even a proxy frozen for good: the worker answers from its own thread.
      const { samples } = (await next(5000)) as { samples: number[] };
      await worker.terminate();
      const sorted = [...samples].sort((a, b) => a - b);
      const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? 0;
      return { n: samples.length, maxMs: sorted[sorted.length - 1] ?? 0, p99Ms: at(0.99), p50Ms: at(0.5) };
    },
  };
}

/** One raw login attempt with a wrong password from `localAddress`: the ERR code it got. */
function wrongLogin(port: number, localAddress: string, user: string): Promise<number> {
  return new Promise((resolve) => {
    const s: Socket = netConnect({ host: "127.0.0.1", port, localAddress, noDelay: true });
    let buf = Buffer.alloc(0);
    let stage = 0;
    const done = (code: number) => {
      s.destroy();
      resolve(code);
    };
    const timer = setTimeout(() => done(-1), 10_000);
    s.on("error", () => done(-2));
    s.on("close", () => {
      clearTimeout(timer);
      resolve(-3);
    });
    s.on("data", (c: Buffer) => {
      buf = Buffer.concat([buf, c]);
      while (buf.length >= 4) {
        const len = buf[0]! | (buf[1]! << 8) | (buf[2]! << 16);
        if (buf.length < 4 + len) return;
        const payload = buf.subarray(4, 4 + len);
        buf = buf.subarray(4 + len);
        if (payload[0] === 0xff) {
          clearTimeout(timer);
          return done(payload.readUInt16LE(1));
        }
        if (stage === 0) {
          stage = 1;
          const g = parseGreeting(Buffer.from(payload));
          const caps = DEFAULT_CAPS & g.capabilities & ~CAP.CONNECT_WITH_DB;
          s.write(
            frame(
              1,
              handshakeResponse({
                capabilities: caps,
                user,
                authResponse: nativeToken("not-the-password", g.scramble),
                plugin: "mysql_native_password",
              }),
            ),
          );
        } else {
          clearTimeout(timer);
          return done(0); // OK?!
        }
      }
    });
  });
}

async function hostileAction(
  phase: HostilePhase,
  pair: TestPair,
  proc: ProxyProcess,
  adminPort: number,
  notes: Record<string, number | string>,
): Promise<void> {
  const port = proc.port;
  const limitMs = 30_000;
  const app = { user: pair.appUser.username, password: pair.appUser.password, database: "passtrix" };
  switch (phase) {
    case "hashTail": {
      const c = await proc.connect();
      try {
        const sql = `SELECT encrypted_password FROM ptrx_passwords WHERE account_id = 1 ${"#".repeat(160_000)}`;
        for (let i = 0; i < 3; i++) await c.query({ sql, timeout: limitMs }).catch(() => {});
      } finally {
        c.destroy();
      }
      return;
    }
    case "leadingSpaces": {
      const set = (readOnly: boolean) =>
        fetch(`http://127.0.0.1:${adminPort}/maintenance`, {
          method: "POST",
          headers: { "content-type": "application/json" },
          body: JSON.stringify({ readOnly }),
        });
      await set(true);
      const c = await proc.connect();
      try {
        // 30 spaces took ~10 s at 6dbe06d (each one more doubles it); a bounded wait here.
        const sql = `${" ".repeat(30)}UPDATE ptrx_notes SET body = 'x' WHERE id = 1`;
        const r = await c.query({ sql, timeout: limitMs }).then(
          () => "ok",
          (e: { errno?: number }) => String(e.errno ?? "error"),
        );
        notes.answer = r;
      } finally {
        c.destroy();
        await set(false).catch(() => {});
      }
      return;
    }
    case "trickle16MiB": {
      const c = await rawLogin(port, app);
      try {
        const text = Buffer.from(`SELECT LENGTH('${"a".repeat(16 * 1024 * 1024 - 64)}')`);
        const payload = Buffer.concat([Buffer.from([0x03]), text]);
        const wire = frame(0, payload);
        const step = 8 * 1024;
        for (let i = 0; i < wire.length; i += step) {
          c.write(wire.subarray(i, Math.min(i + step, wire.length)));
          if ((i / step) % 4 === 3) await new Promise((r) => setTimeout(r, 1));
        }
        const answer = await c
          .read(limitMs)
          .catch((e: Error) => ({ seq: -1, payload: Buffer.from(e.message) }));
        notes.answer = answer.payload[0] === 0xff ? "ERR" : answer.seq < 0 ? "none" : "result";
      } finally {
        c.close();
      }
      return;
    }
    case "loginStorm": {
      const codes = new Map<number, number>();
      let next = 0;
      const total = 2000;
      const worker = async () => {
        while (next < total) {
          next++;
          const code = await wrongLogin(port, "127.0.0.2", pair.appUser.username);
          codes.set(code, (codes.get(code) ?? 0) + 1);
        }
      };
      await Promise.all(Array.from({ length: 50 }, worker));
      for (const [code, n] of codes) notes[`ERR ${code}`] = n;
      // Another client from another address still logs in.
      const other = await proc.connect();
      await other.query("SELECT 1");
      await other.end();
      notes.otherAddressLogin = "ok";
      return;
    }
    case "hugeUserName": {
      const dir = join(pair.dir, `hostile-audit-${port}`);
      await new Promise((r) => setTimeout(r, 300));
      const before = dirBytes(dir);
      const code = await wrongLogin(port, "127.0.0.3", "u".repeat(65_000));
      await new Promise((r) => setTimeout(r, 500)); // group commit, audit log flush
      notes.answer = code;
      notes.auditBytes = dirBytes(dir) - before;
      return;
    }
  }
}

/** Runs one hostile phase against a fresh pairgate process; always stops it. */
export async function runHostile(pair: TestPair, phase: HostilePhase): Promise<HostileResult> {
  const port = await freePort();
  const adminPort = await freePort();
  const raw = { ...hostileConfig(pair, port), admin: { host: "127.0.0.1", port: adminPort } };
  const proc = await startProxyProcess(pair, raw);
  const notes: Record<string, number | string> = {};
  try {
    const probeConn = await proc.connect();
    try {
      await probeConn.query("SELECT 1");
      const rssBeforeMiB = proc.rssKiB() / 1024;
      const cpu0 = cpuTicks(proc.pid);
      const probe = await startProbe(pair, proc.port);
      await new Promise((r) => setTimeout(r, 200));
      const t0 = performance.now();
      await hostileAction(phase, pair, proc, adminPort, notes);
      const hostileMs = performance.now() - t0;
      await new Promise((r) => setTimeout(r, 200));
      const figures = await probe.stop();
      const cpuTicksUsed = cpuTicks(proc.pid) - cpu0;
      const rssPeakMiB = proc.hwmKiB() / 1024;
      await new Promise((r) => setTimeout(r, 2000));
      return {
        phase,
        probe: figures,
        cpuPercent: (cpuTicksUsed / 100 / ((hostileMs + 400) / 1000)) * 100,
        rssBeforeMiB,
        rssPeakMiB,
        rssAfterMiB: proc.rssKiB() / 1024,
        hostileMs,
        notes,
      };
    } finally {
      probeConn.destroy();
    }
  } finally {
    await proc.stop(1000);
  }
}

export function formatResult(r: HostileResult): string {
  const f = (n: number, d = 1) => n.toFixed(d);
  const notes = Object.entries(r.notes)
    .map(([k, v]) => `${k}=${v}`)
    .join(" ");
  return `${PHASE_TITLES[r.phase].padEnd(62)} probe max ${f(r.probe.maxMs).padStart(8)} ms  p99 ${f(r.probe.p99Ms).padStart(7)} ms  (n=${r.probe.n})  hostile ${f(r.hostileMs, 0)} ms  cpu ${f(r.cpuPercent, 0)} %  rss ${f(r.rssBeforeMiB, 0)}→${f(r.rssAfterMiB, 0)} MiB (2 s after)  ${notes}`;
}
