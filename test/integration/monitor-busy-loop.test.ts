/**
 * Monitor verdicts that pairgate's own load cannot fake (issue 20): a big statement that keeps
 * pairgate's event loop busy for longer than the check timeout must not fail a check whose
 * answer arrived while the loop was busy — with no fault, no failover. A silent primary must still
 * be declared down while the loop is busy.
 *
 * The checks are real (Probe against a real MariaDB pair); the busy loop runs on this thread right
 * after a check has sent its query, as a 32 MiB statement being framed would.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { BackendConfig } from "../../src/config/load.js";
import { createLogger } from "../../src/observability/logger.js";
import { Topology } from "../../src/topology/monitor.js";
import { Probe, type ProbeLike } from "../../src/topology/probe.js";
import type { Transition } from "../../src/topology/types.js";
import { Link } from "../helpers/link.js";
import { startPair, type TestPair } from "../helpers/pair.js";

const MONITOR = { intervalMs: 100, connectTimeoutMs: 300, queryTimeoutMs: 300, fall: 2, rise: 2 };
/** Longer than fall × the query timeout: before the fix two such stalls made a failover. */
const BUSY_MS = 1200;

let pair: TestPair;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function busy(ms: number): void {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    // the main thread does nothing else: no timer, no socket read runs
  }
}

function backend(endpoint: { host: string; port: number }): BackendConfig {
  return {
    host: endpoint.host,
    port: endpoint.port,
    user: pair.serviceUser.username,
    password: pair.serviceUser.password,
  };
}

/** Real probes; while `stall.checks > 0` each check blocks the loop right after sending its query. */
function makeTopology(primary: BackendConfig, stall: { checks: number; ms: number }) {
  const topology = new Topology({
    primary,
    secondary: backend(pair.secondary),
    monitor: MONITOR,
    logger: createLogger(process.env.PAIRGATE_TEST_LOG ?? "silent"),
    probeFactory: (_role, cfg, timeouts, onLost): ProbeLike => {
      const probe = new Probe(cfg, timeouts, onLost);
      return {
        get address() {
          return probe.address;
        },
        check(wantReplication) {
          const pending = probe.check(wantReplication);
          if (stall.checks > 0) {
            stall.checks--;
            busy(stall.ms);
          }
          return pending;
        },
        reconfigure: (c, t) => probe.reconfigure(c, t),
        close: () => probe.close(),
      };
    },
  });
  const transitions: Transition[] = [];
  topology.on("transition", (t) => transitions.push(t));
  return { topology, transitions };
}

test.before(async () => {
  pair = await startPair();
});

test.after(async () => {
  await pair?.stop();
});

test("checks answered while the loop was busy for longer than the timeout: no failover", async () => {
  const stall = { checks: 0, ms: BUSY_MS };
  const { topology, transitions } = makeTopology(backend(pair.primary), stall);
  topology.start();
  try {
    await topology.ready(5000);
    assert.is(topology.mode, "read_write");
    await sleep(300);
    const before = transitions.length;
    let failed = 0;
    topology.on("check", (_role, h) => {
      if (h.lastError) failed++;
    });
    // Four blocked checks in a row (both backends: twice `fall` each), then again after a pause.
    for (let round = 0; round < 2; round++) {
      stall.checks = 4;
      while (stall.checks > 0) await sleep(20);
      await sleep(300);
    }
    assert.is(
      topology.mode,
      "read_write",
      `mode ${topology.mode}: ${JSON.stringify(transitions.slice(before))}`,
    );
    assert.equal(transitions.slice(before), [], "no transition");
    assert.is(failed, 0, "no check counted as failed");
  } finally {
    await topology.stop();
  }
});

test("a silent primary is still declared down while the loop keeps stalling", async () => {
  const link = await Link.start(pair.primary);
  const stall = { checks: 0, ms: 400 };
  const { topology } = makeTopology(backend({ host: "127.0.0.1", port: link.port }), stall);
  topology.start();
  try {
    await topology.ready(5000);
    assert.is(topology.mode, "read_write");
    const t0 = Date.now();
    link.blackhole();
    stall.checks = 1_000;
    await topology.waitFor("read_only", 20_000);
    console.log(`figure: blackhole with a busy loop → read_only in ${Date.now() - t0} ms`);
  } finally {
    stall.checks = 0;
    await topology.stop();
    await link.close();
  }
});

test.run();
