/**
 * `npm run bench:logins`: logins per second through pairgate with the accounts read from the
 * servers (a config with no `users`: the client's answer checked against the stored hash, the
 * backend login with the SHA1(password) it yields) against the static `users` list (the password
 * in the config), and straight to the primary for reference. Each login: TCP connect, handshake,
 * authentication, pairgate's backend login, COM_QUIT.
 *
 * Two pairgate processes on one pair, measured interleaved (rounds rotate the order); figures are
 * medians over rounds. pairgate's CPU per login (utime+stime of its process) is steadier than the
 * rate on a shared machine.
 *
 *   npm run bench:logins                               # 3 rounds × 5 s, 8 concurrent clients
 *   npm run bench:logins -- --rounds 5 --time 10 --concurrency 16
 */
import mysql from "mysql2";
import { startPair } from "../test/helpers/pair.js";
import { freePort } from "../test/helpers/ports.js";
import { startProxyProcess } from "../test/helpers/proxy.js";
import { benchArgs } from "./lib/args.js";
import { cpuSeconds } from "./lib/proc.js";

const { values } = benchArgs(import.meta.url, {
  rounds: { type: "string", default: "3" },
  time: { type: "string", default: "5" },
  concurrency: { type: "string", default: "8" },
});
const rounds = Number(values.rounds);
const seconds = Number(values.time);
const concurrency = Number(values.concurrency);

/** Log in and out as fast as `concurrency` clients can for `ms`; logins per second and failures. */
async function hammer(port: number, user: string, password: string, ms: number) {
  const until = Date.now() + ms;
  let ok = 0;
  let failed = 0;
  let lastError = "";
  const one = () =>
    new Promise<void>((resolve) => {
      const c = mysql.createConnection({ host: "127.0.0.1", port, user, password });
      c.connect((err) => {
        if (err) {
          failed++;
          lastError = err.message;
          c.destroy();
        } else {
          ok++;
          c.end(() => {});
        }
        resolve();
      });
    });
  const started = Date.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (Date.now() < until) await one();
    }),
  );
  return { rate: ok / ((Date.now() - started) / 1000), failed, lastError };
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const pair = await startPair();
try {
  const { username, password } = pair.appUser;
  const base = (port: number, extra: Record<string, unknown>) =>
    pair.proxyConfig({
      listen: { port, loginThrottle: { enabled: false } },
      audit: { journalDir: `${pair.dir}/audit-${port}` },
      ...extra,
    });
  const staticPort = await freePort();
  const serversPort = await freePort();
  const targets = [
    {
      name: "pairgate, static users",
      proc: await startProxyProcess(
        pair,
        base(staticPort, { users: [{ username, password }], accounts: { fromServers: false } }),
      ),
    },
    {
      name: "pairgate, accounts from the servers",
      proc: await startProxyProcess(pair, base(serversPort, { users: [] })),
    },
    { name: "primary directly", proc: null },
  ];
  const results = new Map<string, { rates: number[]; cpuUs: number[]; failed: number; lastError: string }>();
  for (const t of targets) results.set(t.name, { rates: [], cpuUs: [], failed: 0, lastError: "" });
  // Warm-up: JIT, the accounts read, the backends' thread caches.
  for (const t of targets) await hammer(t.proc?.port ?? pair.primary.port, username, password, 1000);
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < targets.length; i++) {
      const t = targets[(i + r) % targets.length]!;
      const cpu0 = t.proc ? cpuSeconds(t.proc.pid) : 0;
      const res = await hammer(t.proc?.port ?? pair.primary.port, username, password, seconds * 1000);
      const cpu1 = t.proc ? cpuSeconds(t.proc.pid) : 0;
      const out = results.get(t.name)!;
      out.rates.push(res.rate);
      if (t.proc) out.cpuUs.push(((cpu1 - cpu0) * 1e6) / (res.rate * seconds));
      out.failed += res.failed;
      if (res.lastError) out.lastError = res.lastError;
    }
  }
  console.log(
    `logins per second, ${concurrency} concurrent clients, ${rounds} rounds × ${seconds} s (medians)`,
  );
  for (const t of targets) {
    const r = results.get(t.name)!;
    const cpu = r.cpuUs.length ? `  pairgate CPU ${median(r.cpuUs).toFixed(0)} µs/login` : "";
    const fails = r.failed ? `  (${r.failed} failed: ${r.lastError})` : "";
    console.log(`  ${t.name.padEnd(38)} ${median(r.rates).toFixed(0).padStart(6)} logins/s${cpu}${fails}`);
  }
  for (const t of targets) await t.proc?.stop();
} finally {
  await pair.stop();
}
