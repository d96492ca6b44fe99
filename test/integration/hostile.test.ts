/**
 * Issue 11, "no client hurts the others": while each hostile input runs against pairgate, another
 * client's `SELECT 1` never waits more than 200 ms. Each phase gets a fresh pairgate process (so
 * one phase's damage does not leak into the next) with the shipped audit rule and captureTables.
 * At 6dbe06d: the '#' tail froze every session for seconds, 30 leading spaces for ~10 s, the
 * trickle copied its buffer per chunk, the login storm was never throttled, and the 65,000-byte
 * user name wrote ~89 KiB of audit. The measured figures are printed (npm run bench:hostile too).
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  formatResult,
  HOSTILE_PHASES,
  type HostilePhase,
  type HostileResult,
  runHostile,
} from "../helpers/hostile.js";
import { startPair, type TestPair } from "../helpers/pair.js";

/** The Done-when bound of issue 11: generous, so that a busy 2-core machine does not fail it. */
const BOUND_MS = 200;

let pair: TestPair;

test.before(async () => {
  pair = await startPair();
});

test.after(async () => {
  await pair?.stop();
});

/**
 * Runs a phase up to ATTEMPTS times and returns the first run within the bound (else the last).
 * A stall that pairgate causes repeats on every run (the old regexes froze it for seconds each
 * time); a machine shared by several test suites sometimes delays one sample on its own.
 */
const ATTEMPTS = 3;

async function run(phase: HostilePhase): Promise<HostileResult> {
  let r: HostileResult | null = null;
  for (let i = 1; i <= ATTEMPTS; i++) {
    r = await runHostile(pair, phase);
    console.log(`hostile (run ${i}): ${formatResult(r)}`);
    if (r.probe.maxMs <= BOUND_MS) break;
  }
  return r!;
}

function check(r: HostileResult): void {
  assert.ok(
    r.probe.maxMs <= BOUND_MS,
    `another client's SELECT 1 waited ${r.probe.maxMs.toFixed(0)} ms (> ${BOUND_MS}) during ${r.phase}, in each of ${ATTEMPTS} runs`,
  );
  assert.ok(r.probe.n >= 10, `the probe ran (${r.probe.n} samples)`);
}

test("160 KB '#' tail against the appUserTag rule: other clients unharmed", async () => {
  check(await run("hashTail"));
});

test("leading spaces before a refused write with captureTables set: other clients unharmed, the write refused", async () => {
  const r = await run("leadingSpaces");
  check(r);
  assert.is(r.notes.answer, "1290");
});

test("a 16 MiB packet trickled in: answered, other clients unharmed, memory given back", async () => {
  const r = await run("trickle16MiB");
  check(r);
  assert.is(r.notes.answer, "result");
  // The packet, its string and the response are garbage once answered: far below 233 MiB.
  assert.ok(
    r.rssAfterMiB - r.rssBeforeMiB < 120,
    `RSS ${r.rssBeforeMiB.toFixed(0)} → ${r.rssAfterMiB.toFixed(0)} MiB`,
  );
});

test("2,000 wrong passwords: throttled with ERR 1129 after listen.loginThrottle.maxFailures, others unharmed", async () => {
  const r = await run("loginStorm");
  check(r);
  const denied = Number(r.notes["ERR 1045"] ?? 0);
  const blocked = Number(r.notes["ERR 1129"] ?? 0);
  assert.ok(blocked >= 1900, `ERR 1129 for ${blocked} of 2000 (1045: ${denied})`);
  assert.ok(denied <= 100, `${denied} attempts reached a password check`);
  assert.is(r.notes.otherAddressLogin, "ok");
});

test("a failed login with a 65,000-byte user name writes a bounded audit event", async () => {
  const r = await run("hugeUserName");
  check(r);
  assert.is(r.notes.answer, 1045);
  assert.ok(Number(r.notes.auditBytes) < 4096, `audit grew by ${r.notes.auditBytes} bytes`);
});

test("every phase is covered", () => {
  assert.equal([...HOSTILE_PHASES].sort(), [
    "hashTail",
    "hugeUserName",
    "leadingSpaces",
    "loginStorm",
    "trickle16MiB",
  ]);
});

test.run();
