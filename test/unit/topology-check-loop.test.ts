/**
 * Probe scheduling (check-loop.ts) with a stand-in probe: when the next check runs, which results
 * reach the monitor. Timings are loose on purpose (a loaded host): each case's long interval is
 * 10 s, so "soon" (under 2 s) can only come from the rule under test.
 */

import pino from "pino";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { BackendConfig } from "../../src/config/load.js";
import { CheckLoop, type CheckOutcome } from "../../src/topology/check-loop.js";
import { initialVerdict } from "../../src/topology/machine.js";
import { type ProbeLike, type ProbeResult, ProbeTimeoutError } from "../../src/topology/probe.js";

const CFG = { host: "127.0.0.1", port: 1, user: "u", password: "p" } as BackendConfig;
const RESULT: ProbeResult = {
  readOnly: false,
  serverId: 1,
  version: "11",
  replication: null,
  replicationError: null,
};

interface Rig {
  loop: CheckLoop;
  checks: number[];
  outcomes: CheckOutcome[];
  answer: (fn: () => Promise<ProbeResult>) => void;
  activity: { n: number | null };
}

function rig(verdict = { ...initialVerdict(0), up: true, checked: true }): Rig {
  const checks: number[] = [];
  const outcomes: CheckOutcome[] = [];
  let next: () => Promise<ProbeResult> = async () => RESULT;
  const activity = { n: null as number | null };
  const probe: ProbeLike = {
    address: "127.0.0.1:1",
    // A real check does I/O: yield a turn of the loop (a back-to-back loop must not starve timers).
    check: async () => {
      checks.push(Date.now());
      await new Promise((res) => setImmediate(res));
      return next();
    },
    reconfigure: () => {},
    close: () => {},
  };
  const loop = new CheckLoop(CFG, {
    role: "primary",
    logger: pino({ level: "silent" }),
    newProbe: () => probe,
    verdict: () => verdict,
    timing: () => ({ intervalMs: 10_000, confirmIntervalMs: 10 }),
    activity: () => activity.n,
    onCheck: (o) => outcomes.push(o),
  });
  return { loop, checks, outcomes, answer: (fn) => (next = fn), activity };
}

const until = async (cond: () => boolean, ms = 2000) => {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await new Promise((r) => setTimeout(r, 5));
  return cond();
};

test("an up backend that answers is checked once per interval, not sooner", async () => {
  const r = rig();
  r.loop.start();
  await until(() => r.checks.length >= 1);
  await new Promise((res) => setTimeout(res, 300));
  await r.loop.stop();
  assert.is(r.checks.length, 1);
  assert.is(r.outcomes.length, 1);
  assert.ok(r.outcomes[0].result);
});

test("hurry() wakes the sleeping loop: the next check follows at once", async () => {
  const r = rig();
  r.loop.start();
  await until(() => r.outcomes.length >= 1);
  await new Promise((res) => setTimeout(res, 50)); // asleep for its 10 s interval now
  assert.is(r.checks.length, 1);
  r.loop.hurry();
  assert.ok(await until(() => r.checks.length >= 2), "a second check soon after hurry()");
  await r.loop.stop();
});

test("a suspected fault (up, a failure, a sign) is confirmed back to back", async () => {
  const verdict = { ...initialVerdict(0), up: true, checked: true, consecutiveFailures: 1, signAt: 1 };
  const r = rig(verdict);
  r.loop.start();
  assert.ok(await until(() => r.checks.length >= 3), "checks back to back while a fault is suspected");
  await r.loop.stop();
});

test("a down backend answering again gets its rise confirmations confirmIntervalMs apart", async () => {
  const verdict = { ...initialVerdict(0), up: false, checked: true, consecutiveSuccesses: 1 };
  const r = rig(verdict);
  r.loop.start();
  assert.ok(await until(() => r.checks.length >= 3));
  await r.loop.stop();
});

test("a timeout while sessions were answered (activity grew) is inconclusive: not reported", async () => {
  const r = rig();
  r.activity.n = 0;
  r.answer(async () => {
    r.activity.n = (r.activity.n ?? 0) + 1;
    throw new ProbeTimeoutError("query", 1);
  });
  r.loop.start();
  await until(() => r.checks.length >= 1);
  await new Promise((res) => setTimeout(res, 50));
  await r.loop.stop();
  assert.is(r.outcomes.length, 0);
});

test("the same timeout with no activity is reported as a failure", async () => {
  const r = rig();
  r.activity.n = 0;
  r.answer(async () => {
    throw new ProbeTimeoutError("query", 1);
  });
  r.loop.start();
  assert.ok(await until(() => r.outcomes.length >= 1));
  await r.loop.stop();
  assert.is(r.outcomes[0].result, null);
  assert.instance(r.outcomes[0].error, ProbeTimeoutError);
});

test("an answer from before an address change is dropped, and the new address checked at once", async () => {
  const r = rig();
  let release: () => void = () => {};
  r.answer(() => new Promise((res) => (release = () => res(RESULT))));
  r.loop.start();
  await until(() => r.checks.length >= 1);
  assert.is(r.loop.reconfigure({ ...CFG, port: 2 }, { connectTimeoutMs: 1, queryTimeoutMs: 1 }), true);
  r.answer(async () => RESULT);
  release();
  assert.ok(await until(() => r.checks.length >= 2), "the new address is checked without waiting");
  await until(() => r.outcomes.length >= 1);
  await r.loop.stop();
  assert.is(r.outcomes.length, 1, "only the new address's answer is reported");
});

test.run();
