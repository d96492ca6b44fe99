/**
 * pairgate never dies of a socket error (issue 20, "No unhandled error, anywhere, ever"). pairgate
 * runs as its own process here, so that a crash is an exit the test sees, not the test runner's.
 *
 * - A TLS client whose TCP connection is reset while its login waits for a backend: the TLS socket
 *   (a second emitter on top of the raw one) had no 'error' listener in that window, and the reset
 *   killed the process ("Unhandled 'error' event", the crash at failover of issue 20).
 * - The seeded chaos run: TLS and plain logins, prepared reads, big results and clients that reset
 *   their connection, all in flight while the primary is killed with kill -9, restarted, and its
 *   link blackholed and healed, several rounds. The process must be alive after every round and
 *   serve a login at the end; its log must not show an escaped error.
 *
 * PAIRGATE_CHAOS_SEED picks the seed (printed on failure); PAIRGATE_CHAOS_ROUNDS the rounds.
 */
import { readFileSync } from "node:fs";
import mysql, { type Connection, type ConnectionOptions } from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { BackendConnection } from "../../src/backend/connection.js";
import { tlsFiles } from "../../src/lab/tls.js";
import { Link } from "../helpers/link.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePorts } from "../helpers/ports.js";
import { prng } from "../helpers/prng.js";
import { appUserOptions, type ProxyProcess, startProxyProcess } from "../helpers/proxy.js";
import { RawConnection } from "../helpers/raw-client.js";
import { until } from "../helpers/wait.js";

let pair: TestPair;
let link: Link;
let px: ProxyProcess;
let ca: Buffer;

const monitor = { intervalMs: 100, connectTimeoutMs: 300, queryTimeoutMs: 300, fall: 2, rise: 2 };
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function alive(): void {
  const exit = px.exit();
  if (exit) assert.unreachable(`pairgate exited (${JSON.stringify(exit)}):\n${px.output().slice(-4000)}`);
}

test.before(async () => {
  pair = await startPair();
  link = await Link.start(pair.primary);
  const t = tlsFiles(pair.lab.tlsDir);
  ca = readFileSync(pair.caFile);
  const [listen, admin] = await freePorts(2, "127.0.0.1");
  px = await startProxyProcess(
    pair,
    pair.proxyConfig({
      monitor,
      listen: { port: listen, tls: { cert: t.cert, key: t.key, require: false } },
      admin: { port: admin },
      primary: { port: link.port },
    }),
  );
});

test.after(async () => {
  await px?.stop();
  await link?.close();
  await pair?.stop();
});

test("a TLS client reset while its login waits for the backend does not kill pairgate", async () => {
  link.blackhole(); // the backend login hangs: the client sits between TLS and the login OK
  try {
    const clients: RawConnection[] = [];
    for (let i = 0; i < 4; i++) {
      const raw = await RawConnection.connect(px.port);
      const plain = raw.socket;
      void raw
        .login({ user: pair.appUser.username, password: pair.appUser.password, tls: { ca } })
        .catch(() => {});
      await until("the TLS login was sent", async () => raw.socket !== plain, 5000);
      await sleep(100);
      plain.resetAndDestroy(); // RST under the TLS layer: ECONNRESET on pairgate's TLS socket
      clients.push(raw);
    }
    await sleep(500);
    alive();
  } finally {
    link.heal();
  }
  await until("pairgate serves again", async () => {
    alive();
    const c = await mysql.createConnection(appUserOptions(pair, px.port)).catch(() => null);
    if (!c) return false;
    await c.end();
    return true;
  });
});

test("a backend reset during one of pairgate's own statements rejects it; the process lives", async () => {
  // The window between a backend login and the session's relay (state replay, dialect probe,
  // GTID tracking) had no 'error' listener on the backend socket. A server killed with bytes it
  // had not read yet resets the connection (RST): stop the primary, send, kill it.
  const conn = await BackendConnection.open(
    { role: "primary", host: pair.primary.host, port: pair.primary.port },
    {
      username: pair.appUser.username,
      password: pair.appUser.password,
      database: null,
      collation: 45,
      capabilities: 0,
      connectAttrs: null,
    },
    3000,
  );
  const pid = pair.lab.pid("primary")!;
  process.kill(pid, "SIGSTOP");
  let err: Error | null = null;
  try {
    const q = conn.runQuery(`SELECT '${"x".repeat(200_000)}'`).catch((e: Error) => {
      err = e;
    });
    await sleep(200);
    process.kill(pid, "SIGKILL");
    process.kill(pid, "SIGCONT");
    await q;
  } finally {
    await pair.lab.start("primary");
  }
  assert.ok(err, "the statement was rejected");
  await sleep(200); // an unhandled 'error' event would have ended this process by now
});

/** A step that neither succeeds nor fails within this long is a session pairgate left hanging. */
const STEP_LIMIT_MS = 30_000;
const stuck: string[] = [];

/** One client loop of the chaos run: repeats `step` until `stop()`; every error is expected. */
async function loop(name: string, stop: () => boolean, step: () => Promise<void>): Promise<number> {
  let ok = 0;
  while (!stop()) {
    let timer: NodeJS.Timeout | undefined;
    const limit = new Promise<"stuck">((r) => {
      timer = setTimeout(() => r("stuck"), STEP_LIMIT_MS);
    });
    try {
      const r = await Promise.race([step(), limit]);
      if (r === "stuck") {
        stuck.push(name);
        return ok;
      }
      ok++;
    } catch {
      await sleep(20);
    } finally {
      clearTimeout(timer);
    }
  }
  return ok;
}

function opts(extra: ConnectionOptions = {}): ConnectionOptions {
  return appUserOptions(pair, px.port, { connectTimeout: 5000, ...extra });
}

test("seeded chaos: logins, prepared reads and big results through kill -9, restarts and a blackholed link", async () => {
  const seed = Number(process.env.PAIRGATE_CHAOS_SEED ?? Date.now() % 100_000);
  const rounds = Number(process.env.PAIRGATE_CHAOS_ROUNDS ?? 3);
  const rnd = prng(seed);
  const between = (lo: number, hi: number) => lo + rnd.int(hi - lo + 1);
  const why = `seed ${seed} (PAIRGATE_CHAOS_SEED=${seed} repeats this run)`;
  let stopped = false;
  const stop = () => stopped;
  const tls = { ca };
  const loops: Promise<number>[] = [];
  // Connect → one statement → quit, as CLI and PHP applications do: 8 TLS loops (issue 20's
  // crash scenario) and 2 plain ones.
  for (let i = 0; i < 10; i++)
    loops.push(
      loop(`login ${i < 8 ? "tls" : "plain"} ${i}`, stop, async () => {
        const c = await mysql.createConnection(opts(i < 8 ? { ssl: tls } : {}));
        await c.query("SELECT 1");
        // Some leave with COM_QUIT, some drop the connection.
        if (rnd.next() < 0.3) c.destroy();
        else await c.end();
      }),
    );
  // Clients that reset their connection in the middle of a TLS login.
  loops.push(
    loop("reset during TLS login", stop, async () => {
      const raw = await RawConnection.connect(px.port);
      const plain = raw.socket;
      void raw
        .login({ user: pair.appUser.username, password: pair.appUser.password, tls: { ca } })
        .catch(() => {});
      await sleep(between(0, 40));
      plain.resetAndDestroy();
    }),
  );
  // Prepared reads on a long session; and big results (about 4 MiB each), sometimes abandoned.
  let prepared: Connection | null = null;
  loops.push(
    loop("prepared reads", stop, async () => {
      prepared ??= await mysql.createConnection(opts());
      try {
        await prepared.execute("SELECT name FROM ptrx_resources WHERE id = ?", [between(1, 3)]);
      } catch (e) {
        prepared.destroy();
        prepared = null;
        throw e;
      }
    }),
  );
  loops.push(
    loop("big results", stop, async () => {
      const c = await mysql.createConnection(opts({ ssl: rnd.next() < 0.5 ? tls : undefined }));
      try {
        const q = c.query("SELECT REPEAT('x', 65536) AS b FROM seq_1_to_64");
        if (rnd.next() < 0.3) {
          await sleep(between(1, 20));
          c.destroy(); // mysql2 leaves the query's promise unsettled after destroy(): not awaited
          q.catch(() => {});
        } else await q;
      } finally {
        c.destroy();
      }
    }),
  );
  try {
    for (let round = 0; round < rounds; round++) {
      await sleep(between(200, 600));
      const fault = rnd.pick(["kill", "blackhole", "kill+blackhole"] as const);
      if (process.env.PAIRGATE_CHAOS_VERBOSE)
        process.stderr.write(`round ${round}: ${fault} at ${new Date().toISOString()}\n`);
      if (fault !== "blackhole") await pair.lab.kill("primary");
      if (fault !== "kill") link.blackhole();
      for (let t = 0; t < 10; t++) {
        await sleep(between(100, 300));
        alive();
      }
      if (fault !== "kill") link.heal();
      if (fault !== "blackhole") await pair.lab.start("primary");
      await until(
        `round ${round} (${fault}): pairgate serves writes again, ${why}`,
        async () => {
          alive();
          const c = await mysql.createConnection(opts()).catch(() => null);
          if (!c) return false;
          try {
            await c.query("INSERT INTO ptrx_audit (app_user, operation) VALUES ('chaos', 'round')");
            return true;
          } catch {
            return false;
          } finally {
            c.destroy();
          }
        },
        30_000,
      );
      alive();
    }
  } finally {
    stopped = true;
    if (process.env.PAIRGATE_CHAOS_VERBOSE)
      process.stderr.write(`rounds done at ${new Date().toISOString()}\n`);
    const done = await Promise.all(loops);
    (prepared as Connection | null)?.destroy();
    assert.equal(stuck, [], `client steps without an answer for ${STEP_LIMIT_MS} ms; ${why}`);
    assert.ok(
      done.every((n) => n > 0),
      `every client loop got through at least once: ${done.join(", ")}; ${why}`,
    );
  }
  alive();
  assert.not.match(px.output(), /unhandled|uncaught/i, `escaped errors in the log; ${why}`);
});

test.run();
