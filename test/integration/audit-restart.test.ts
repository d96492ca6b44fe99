/**
 * Crash-restarts keep the audit trail: pairgate is killed with `kill -9` during an outage and
 * started again at once (what a supervisor does), 20 times in a row, with audited password
 * retrievals between. Each pairgate runs under a parent that never reaps it (`sh -c '… & exec
 * sleep'`), so every killed one stays a zombie whose pid still exists — the case where a pid-file
 * lock kept the journal shut for good. The journal's lock is a listening unix socket the kernel
 * frees with the dead process: every retrieval is answered; once the primary is back every event
 * reaches its audit table exactly once.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import mysql from "mysql2/promise";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePorts } from "../helpers/ports.js";
import { procState } from "../helpers/proc.js";
import { appUserOptions, pairgateCommand } from "../helpers/proxy.js";
import { until } from "../helpers/wait.js";

const RESTARTS = 20;
const RETRIEVALS_PER_RUN = 2;
let pair: TestPair;

test.before(async () => {
  pair = await startPair();
});
test.after(async () => {
  await pair?.stop();
});

interface Unreaped {
  /** The `sleep` that is pairgate's parent and never waits for it. */
  wrapper: ChildProcess;
  /** pairgate's own pid. */
  pid: number;
  spawningAt: number;
  output(): string;
}

/** `pairgate start` as the child of a process that never reaps it. */
async function startUnreaped(file: string): Promise<Unreaped> {
  const spawningAt = Date.now();
  const wrapper = spawn(
    "sh",
    ["-c", '"$@" & exec sleep 3600', "sh", ...pairgateCommand(), "start", "--config", file],
    {
      stdio: ["ignore", "pipe", "pipe"],
      env: { ...process.env, PAIRGATE_LOG_LEVEL: process.env.PAIRGATE_TEST_LOG ?? "warn" },
    },
  );
  let out = "";
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-65536);
  };
  wrapper.stdout!.on("data", keep);
  wrapper.stderr!.on("data", keep);
  let pid = 0;
  await until(
    "pairgate's pid under its wrapper",
    async () => {
      const kids = readFileSync(`/proc/${wrapper.pid}/task/${wrapper.pid}/children`, "utf8").trim();
      pid = Number(kids.split(" ")[0] || 0);
      return pid > 0 && readFileSync(`/proc/${wrapper.pid}/comm`, "utf8").trim() === "sleep";
    },
    5000,
  );
  return { wrapper, pid, spawningAt, output: () => out };
}

async function readyz(port: number): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${port}/readyz`)).status;
  } catch {
    return 0;
  }
}

test(`kill -9 and restart within 100 ms, ${RESTARTS} times during an outage: every retrieval answered, every event delivered once`, async () => {
  const [listen, admin] = await freePorts(2);
  const raw = pair.proxyConfig({
    instanceId: "restart-test",
    listen: { port: listen },
    admin: { port: admin },
    // Generous timeouts: this is about the journal, not failover speed, on a shared 2-core machine.
    monitor: { intervalMs: 200, connectTimeoutMs: 2000, queryTimeoutMs: 2000, fall: 2, rise: 2 },
    audit: {
      journalDir: join(pair.dir, "audit-restart"),
      rules: [{ operation: "password_retrieval", tables: ["passtrix.ptrx_passwords"] }],
    },
  });
  const file = join(pair.dir, "restart.config.json");
  writeFileSync(file, JSON.stringify(raw, null, 2));
  await pair.lab.kill("primary");

  const wrappers: ChildProcess[] = [];
  let proc = await startUnreaped(file);
  wrappers.push(proc.wrapper);
  let answered = 0;
  let restarts = 0;
  const gaps: number[] = [];
  const readyMs: number[] = [];
  const killed: number[] = [];
  try {
    for (let run = 0; run <= RESTARTS; run++) {
      // Ready means the journal is open (else /readyz is 503 and says why).
      const t0 = Date.now();
      try {
        await until(`run ${run}: /readyz 200`, async () => (await readyz(admin)) === 200, 20_000);
      } catch (e) {
        throw new Error(`${(e as Error).message}\n${proc.output()}`);
      }
      readyMs.push(Date.now() - t0);
      const c = await mysql.createConnection(appUserOptions(pair, listen));
      for (let i = 0; i < RETRIEVALS_PER_RUN; i++) {
        const [rows] = await c.query(
          `SELECT encrypted_password FROM ptrx_passwords WHERE account_id = ${1 + ((run * RETRIEVALS_PER_RUN + i) % 5)}`,
        );
        assert.is((rows as unknown[]).length, 1, `run ${run}: retrieval ${i} answered`);
        answered++;
      }
      c.destroy();
      if (run === RESTARTS) break;
      // kill -9, and start the next one at once; the killed one stays a zombie, its pid taken.
      const killedAt = Date.now();
      process.kill(proc.pid, "SIGKILL");
      const old = proc.pid;
      proc = await startUnreaped(file);
      wrappers.push(proc.wrapper);
      gaps.push(proc.spawningAt - killedAt);
      killed.push(old);
      restarts++;
    }
    assert.is(answered, (RESTARTS + 1) * RETRIEVALS_PER_RUN);
    // The next start is issued right after the kill, nothing awaited between; on a shared 2-core
    // machine the scheduler alone can hold this process back longer once in a while.
    assert.ok(
      gaps.filter((g) => g < 100).length >= RESTARTS * 0.9 && Math.max(...gaps) < 1000,
      `restarts issued within 100 ms of the kill: ${gaps.join(", ")} ms`,
    );
    const zombies = killed.filter((pid) => procState(pid) === "Z");
    assert.is(zombies.length, RESTARTS, "every killed pairgate is still a zombie, its pid present");

    await pair.lab.start("primary");
    const root = await pair.rootConnection("primary");
    try {
      const count = async () => {
        const [r] = await root.query(
          "SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS ids FROM passtrix.pairgate_audit WHERE instance_id = 'restart-test' AND operation = 'password_retrieval'",
        );
        const row = (r as Array<{ n: number; ids: number }>)[0];
        return { n: Number(row.n), ids: Number(row.ids) };
      };
      await until("every retrieval's event is delivered", async () => (await count()).n >= answered, 30_000);
      // Delivery settles (nothing pending), and nothing arrives twice.
      await until(
        "the journal is empty",
        async () => {
          const s = (await (await fetch(`http://127.0.0.1:${admin}/status`)).json()) as {
            audit: { pending: number };
          };
          return s.audit.pending === 0;
        },
        15_000,
      );
      const final = await count();
      assert.equal(final, { n: answered, ids: answered }, "each event exactly once");
      console.log(
        `  restarts ${restarts}, kill→spawn ${Math.min(...gaps)}–${Math.max(...gaps)} ms, ${zombies.length} zombies still holding their pids, ready after ${Math.min(...readyMs)}–${Math.max(...readyMs)} ms, retrievals answered ${answered}/${answered}, events delivered ${final.n} (distinct ${final.ids}) of ${answered}`,
      );
    } finally {
      await root.end();
    }
  } finally {
    process.kill(proc.pid, "SIGTERM");
    await until(
      "the last pairgate exits",
      async () => [null, "Z"].includes(procState(proc.pid)),
      10_000,
    ).catch(() => process.kill(proc.pid, "SIGKILL"));
    for (const w of wrappers) w.kill("SIGKILL");
  }
});

test("a live pairgate on the same journal: the second one says who holds it (/readyz 503, status warning) and opens it once the first dies", async () => {
  const [l1, a1, l2, a2] = await freePorts(4);
  const journalDir = join(pair.dir, "audit-shared");
  const rules = [{ operation: "password_retrieval", tables: ["passtrix.ptrx_passwords"] }];
  const conf = (listen: number, admin: number, name: string) => {
    const f = join(pair.dir, `${name}.config.json`);
    writeFileSync(
      f,
      JSON.stringify(
        pair.proxyConfig({
          instanceId: name,
          listen: { port: listen },
          admin: { port: admin },
          audit: { journalDir, rules },
        }),
      ),
    );
    return f;
  };
  const first = await startUnreaped(conf(l1, a1, "holder"));
  const wrappers = [first.wrapper];
  try {
    await until("the first is ready", async () => (await readyz(a1)) === 200, 20_000);
    const second = await startUnreaped(conf(l2, a2, "second"));
    wrappers.push(second.wrapper);
    let body: { ready: boolean; audit?: string } = { ready: true };
    await until(
      "the second says the journal is held",
      async () => {
        const r = await fetch(`http://127.0.0.1:${a2}/readyz`);
        body = (await r.json()) as typeof body;
        return r.status === 503;
      },
      20_000,
    );
    assert.match(body.audit ?? "", new RegExp(`in use by process ${first.pid}\\b`));
    const journalOpen = async (admin: number) =>
      /^pairgate_audit_journal_open (\d)$/m.exec(
        await (await fetch(`http://127.0.0.1:${admin}/metrics`)).text(),
      )?.[1];
    assert.is(await journalOpen(a2), "0", "the metric says the journal is not open");
    assert.is(await journalOpen(a1), "1");
    const status = (await (await fetch(`http://127.0.0.1:${a2}/status`)).json()) as {
      warnings: string[];
      audit: { journalProblem: string | null };
    };
    assert.match(status.warnings[0], /^Audit journal unavailable: .*in use by process/);
    assert.match(status.audit.journalProblem ?? "", /in use by process/);
    // An audited retrieval through the second is refused meanwhile.
    const c = await mysql.createConnection(appUserOptions(pair, l2));
    const err = await c.query("SELECT encrypted_password FROM ptrx_passwords WHERE account_id = 1").then(
      () => null,
      (e: { message: string }) => e,
    );
    assert.ok(err, "refused while the journal is held elsewhere");
    c.destroy();
    process.kill(first.pid, "SIGKILL");
    const killedAt = Date.now();
    await until("the second opens the journal", async () => (await readyz(a2)) === 200, 5000);
    const took = Date.now() - killedAt;
    assert.ok(took < 2500, `retried within about a second: ${took} ms`);
    assert.is(await journalOpen(a2), "1", "and open once it took the journal");
    const c2 = await mysql.createConnection(appUserOptions(pair, l2));
    const [rows] = await c2.query("SELECT encrypted_password FROM ptrx_passwords WHERE account_id = 1");
    assert.is((rows as unknown[]).length, 1);
    c2.destroy();
    process.kill(second.pid, "SIGTERM");
    await until("the second exits", async () => [null, "Z"].includes(procState(second.pid)), 10_000);
  } finally {
    for (const w of wrappers) w.kill("SIGKILL");
  }
});

test.run();
