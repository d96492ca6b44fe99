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

/** Issue 19: pairgate's RSS comes back within this of where it started once the hostile session closed. */
const RSS_BACK_MIB = 50;

function rssBack(r: HostileResult): void {
  assert.ok(
    r.rssAfterMiB - r.rssBeforeMiB < RSS_BACK_MIB,
    `RSS ${r.rssBeforeMiB.toFixed(0)} → ${r.rssAfterMiB.toFixed(0)} MiB 2–14 s after ${r.phase} (peak ${r.rssPeakMiB.toFixed(0)})`,
  );
}

test("a 40 MB statement naming the audited table: not lexed, audited by a byte search, others unharmed", async () => {
  const r = await run("bigAudited40MB");
  check(r);
  assert.is(r.notes.answer, "result");
  assert.ok(Number(r.notes.auditBytes) > 0, "the statement got an audit event");
  rssBack(r);
});

test("three 32 MiB dump lines: stored intact, no false failover, SELECT 1 and /status unharmed", async () => {
  const r = await run("dumpLines32MiB");
  check(r);
  assert.is(r.notes.identicalRows, 3);
  assert.equal(r.probe.modes, ["read_write"], "pairgate never left read_write");
  assert.ok(r.probe.statusMaxMs <= BOUND_MS, `/status took ${r.probe.statusMaxMs.toFixed(0)} ms`);
  // The 1.3 × direct of issue 20 is a bench figure (npm run bench:hostile); here only a gross regression fails.
  assert.ok(Number(r.notes.ratio) < 3, `statement time ${r.notes.ratio} × direct`);
  rssBack(r);
});

test("an audited ~300 MB result streams once its event is durable: never held whole", async () => {
  const r = await run("auditedResult300MB");
  check(r);
  assert.is(r.notes.rows, 300);
  assert.ok(Number(r.notes.auditBytes) > 0, "the result got an audit event");
  // At fd3936b the whole result was held: RSS +568 MiB.
  assert.ok(
    r.rssPeakMiB - r.rssBeforeMiB < 150,
    `RSS peak ${r.rssBeforeMiB.toFixed(0)} → ${r.rssPeakMiB.toFixed(0)} MiB`,
  );
  rssBack(r);
});

test("an audited ~300 MB result the client never reads: pairgate stops reading the backend", async () => {
  const r = await run("auditedResultUnread");
  check(r);
  assert.ok(
    Number(r.notes.rssWhileHeldMiB) - r.rssBeforeMiB < 100,
    `RSS ${r.rssBeforeMiB.toFixed(0)} → ${r.notes.rssWhileHeldMiB} MiB while the client did not read`,
  );
  rssBack(r);
});

test("prepared statements per session are capped: 1461 for that session only", async () => {
  const r = await run("preparedFlood");
  check(r);
  assert.is(r.notes.refusedAt, 1024, "the 1025th prepare is refused (limits.maxPreparedStatements)");
  assert.is(r.notes.errno, 1461);
  assert.is(r.notes.otherPrepare, "ok");
  assert.is(r.notes.floodSelect, "ok");
});

test("wrong passwords for other names from the app's address never lock the app out", async () => {
  const r = await run("bruteForceOtherNames");
  check(r);
  assert.is(r.notes.appFailed, 0, `app logins failed: ${r.notes.appErrors}`);
  assert.is(r.notes.appOk, 21);
  // The storm itself is still throttled: most of the 200 guesses never reach a password check.
  const denied = Number(r.notes["ERR 1045"] ?? 0);
  const blocked = Number(r.notes["ERR 1129"] ?? 0);
  assert.ok(blocked >= 150 && denied <= 50, `1129 for ${blocked}, 1045 for ${denied} of 200`);
});

test("read_only mode: a statement over the lex limit is a write (1290), an ERR after 16 MiB is in sequence", async () => {
  const r = await run("bigStatementReadOnly");
  check(r);
  assert.is(r.notes.bigSelect, "1290");
  assert.is(r.notes.bigUpdate, "1290");
  assert.is(r.notes.after, "ok");
});

test("every phase is covered", () => {
  assert.equal([...HOSTILE_PHASES].sort(), [
    "auditedResult300MB",
    "auditedResultUnread",
    "bigAudited40MB",
    "bigStatementReadOnly",
    "bruteForceOtherNames",
    "dumpLines32MiB",
    "hashTail",
    "hugeUserName",
    "leadingSpaces",
    "loginStorm",
    "preparedFlood",
    "trickle16MiB",
  ]);
});

test.run();
