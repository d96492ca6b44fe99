/**
 * The verdict and mode machine, as a pure function of observations: `step(state, observation)` →
 * the next state and the effects, in the order they must happen. No clock, no I/O, no logger: the
 * monitor (monitor.ts) feeds it what the checks saw and carries out the effects (log, emit, start or
 * cancel the catch-up). Tested like `route()` (test/unit/topology-machine.test.ts).
 *
 * Per backend, `fall`/`rise` counters turn check results into up/down (the first result decides
 * directly). The pair's mode follows from the two verdicts, the primary's read_only, planned
 * maintenance and the fence:
 *
 *   primary up, writable (read_only=0), no maintenance, not fenced → read_write
 *   else secondary up (or the primary up but read-only)            → read_only
 *   else                                                           → down
 *
 * The failback hold: when the primary itself comes back (not at start-up, not at the end of
 * maintenance), read_write waits until the secondary applied what the primary had at its last check,
 * or `catchUpTimeoutMs` passed — a link that fails again at once must not leave this site reading
 * from a secondary staler than what it just wrote. Meanwhile the pair is read_only.
 */
import { covers, parsePosition } from "./gtid.js";
import type { Mode, ReplicationStatus, Role, Transition } from "./types.js";

/** One backend's verdict: the counters behind up/down. */
export interface BackendVerdict {
  up: boolean;
  /** Has any check finished yet? The first result decides directly (no rise/fall at start). */
  checked: boolean;
  consecutiveFailures: number;
  consecutiveSuccesses: number;
  /** First sign of the current fault (epoch ms), or of the current recovery. */
  signAt: number | null;
  /** read_only as the last successful check read it. */
  readOnly: boolean | null;
  /** When up/down last changed. */
  since: number;
}

export interface FailbackHold {
  since: number;
  waitingFor: string;
  /** The held transition's first sign and cause, reported when the hold ends. */
  signAt: number | null;
  cause: string;
}

export interface MachineState {
  primary: BackendVerdict;
  secondary: BackendVerdict;
  mode: Mode;
  modeSince: number;
  /** Both backends checked and the first mode decided: before that, no transitions. */
  started: boolean;
  /** Why the primary is fenced (fence.ts), or null: as the last observation said. */
  fenced: string | null;
  hold: FailbackHold | null;
  lastFailover: Transition | null;
  lastFailback: Transition | null;
}

/** What the pair looks like apart from the verdicts (read at the moment of the observation). */
export interface PairFacts {
  maintenance: boolean;
  /** Why the primary is fenced (fence.ts), or null. A check may change it (a newer epoch seen). */
  fenced: string | null;
  /** The secondary is the primary's server (a promoted config): nothing to replicate to. */
  sameServer: boolean;
  /** The primary's @@gtid_binlog_pos at its last check, and when that check ended. */
  primaryBinlogPos: string | null;
  primaryBinlogPosAt: number | null;
  secondaryReplication: ReplicationStatus | null;
  /** When the secondary's last successful check began (its answer is at least that fresh). */
  secondaryOkCheckStartedAt: number | null;
}

export interface Rules {
  fall: number;
  rise: number;
  /** How long a failback is held at most (failover.catchUpTimeoutMs). */
  catchUpTimeoutMs: number;
}

export type CheckResult =
  | { ok: true; readOnly: boolean | null }
  | { ok: false; error: string; timeout: boolean };

export type Observation =
  /** A check of `role` ended at `at` (it began at `started`). */
  | {
      kind: "check";
      role: Role;
      /** host:port, named in the causes. */
      address: string;
      at: number;
      started: number;
      result: CheckResult;
      facts: PairFacts;
    }
  /** Both backends were checked once: decide the first mode. */
  | { kind: "startup"; at: number; facts: PairFacts }
  /** Something the mode depends on changed (maintenance, the fence, a held failback's progress). */
  | { kind: "change"; at: number; cause: string; facts: PairFacts };

export type Effect =
  | { kind: "backend_down"; role: Role; cause: string; firstCheck: boolean }
  | { kind: "backend_up"; role: Role; cause: string }
  /** The first failed check of a backend in service; a failed check of one already down. */
  | { kind: "check_failed"; role: Role; error: string }
  | { kind: "still_down"; role: Role; error: string }
  | { kind: "hold_started"; cause: string; waitingFor: string }
  | { kind: "hold_timed_out"; waitedMs: number; waitingFor: string }
  /** Reads begin to go to the secondary: it must catch up first (before anyone hears of the mode). */
  | { kind: "catch_up_begin" }
  | { kind: "catch_up_cancel"; why: string }
  | { kind: "transition"; transition: Transition; readRole: Role | null };

export interface Step {
  state: MachineState;
  effects: Effect[];
}

export function initialVerdict(now: number): BackendVerdict {
  return {
    up: false,
    checked: false,
    consecutiveFailures: 0,
    consecutiveSuccesses: 0,
    signAt: null,
    readOnly: null,
    since: now,
  };
}

export function initialState(now: number): MachineState {
  return {
    primary: initialVerdict(now),
    secondary: initialVerdict(now),
    mode: "down",
    modeSince: now,
    started: false,
    fenced: null,
    hold: null,
    lastFailover: null,
    lastFailback: null,
  };
}

/** The backend that serves reads in a mode (see PairStatus.readRole). */
export function readRoleOf(mode: Mode, secondaryUp: boolean): Role | null {
  if (mode === "read_write") return "primary";
  if (mode === "down") return null;
  return secondaryUp ? "secondary" : "primary";
}

export function modeOf(s: MachineState, f: PairFacts): Mode {
  const p = s.primary;
  if (p.up && p.readOnly === false && !f.maintenance && s.fenced === null) return "read_write";
  if (s.secondary.up || p.up) return "read_only";
  return "down";
}

/**
 * What read_write must wait for, or null. Nothing when the secondary does not answer, does not
 * replicate, or its replication is stopped or broken (it would never catch up), or the primary's
 * position is unknown.
 */
export function failbackWait(s: MachineState, f: PairFacts): string | null {
  const want = f.primaryBinlogPos;
  if (!want || f.primaryBinlogPosAt === null) return null;
  const rep = f.secondaryReplication;
  if (!s.secondary.up || !rep || f.sameServer) return null;
  if (rep.sqlRunning !== "Yes" || rep.ioRunning === "No") return null;
  const asked = `the secondary to apply the primary's ${want}`;
  // Only an answer that began after the primary's position was read can show it applied.
  const okAt = f.secondaryOkCheckStartedAt;
  if (okAt === null || okAt < f.primaryBinlogPosAt)
    return `${asked} (it had ${rep.gtidExecuted || "nothing"})`;
  if (covers(parsePosition(rep.gtidExecuted), parsePosition(want))) return null;
  return `${asked} (it has ${rep.gtidExecuted || "nothing"}, IO thread ${rep.ioRunning})`;
}

/** The next state and effects after one observation. Never mutates `state`. */
export function step(state: MachineState, obs: Observation, rules: Rules): Step {
  const s: MachineState = { ...state, primary: { ...state.primary }, secondary: { ...state.secondary } };
  const effects: Effect[] = [];
  if (obs.kind !== "check") s.fenced = obs.facts.fenced;
  if (obs.kind === "startup") {
    s.started = true;
    decide(s, obs.facts, obs.at, "first checks", null, "startup", rules, effects);
  } else if (obs.kind === "change") {
    if (s.started) decide(s, obs.facts, obs.at, obs.cause, null, "change", rules, effects);
  } else {
    judge(s, obs, rules, effects);
  }
  return { state: s, effects };
}

type Trigger = "startup" | "primary_up" | "change";

/** Fall/rise: one check's result on its backend's counters; an up/down change re-decides the mode. */
function judge(
  s: MachineState,
  obs: Extract<Observation, { kind: "check" }>,
  rules: Rules,
  effects: Effect[],
) {
  const v = s[obs.role];
  const firstCheck = !v.checked;
  v.checked = true;
  const r = obs.result;
  const now = obs.at;
  if (r.ok) {
    v.consecutiveFailures = 0;
    v.consecutiveSuccesses++;
    const readOnlyChanged = v.readOnly !== r.readOnly;
    v.readOnly = r.readOnly;
    // The check read the fence marks: a newer epoch seen (or the primary's own) may fence or unfence.
    if (obs.facts.fenced !== s.fenced) {
      s.fenced = obs.facts.fenced;
      const cause = s.fenced ?? "fence lifted: the primary holds the newest epoch";
      if (s.started) decide(s, obs.facts, now, cause, null, "change", rules, effects);
    }
    if (v.up) {
      v.signAt = null;
      // read_only flips on the primary change the mode without any up/down change.
      if (readOnlyChanged && obs.role === "primary" && s.started) {
        const cause = r.readOnly ? "primary reports read_only=1" : "primary reports read_only=0";
        decide(s, obs.facts, now, cause, now, "change", rules, effects);
      }
      return;
    }
    if (firstCheck) return markUp(s, obs, "first check answered", rules, effects);
    if (v.signAt === null) v.signAt = now;
    if (v.consecutiveSuccesses >= rules.rise)
      markUp(s, obs, `answered ${v.consecutiveSuccesses} checks in a row`, rules, effects);
    return;
  }
  v.consecutiveSuccesses = 0;
  v.consecutiveFailures++;
  if (!v.up) {
    if (v.consecutiveFailures === 1 || firstCheck)
      effects.push({ kind: "still_down", role: obs.role, error: r.error });
    if (firstCheck) markDown(s, obs, `first check failed: ${r.error}`, true, rules, effects);
    v.signAt = null;
    return;
  }
  // A timeout's first sign is when the unanswered check began.
  if (v.signAt === null) v.signAt = r.timeout ? obs.started : now;
  if (v.consecutiveFailures === 1) effects.push({ kind: "check_failed", role: obs.role, error: r.error });
  if (v.consecutiveFailures >= rules.fall)
    markDown(s, obs, `${v.consecutiveFailures} failed checks: ${r.error}`, false, rules, effects);
}

function markDown(
  s: MachineState,
  obs: Extract<Observation, { kind: "check" }>,
  why: string,
  firstCheck: boolean,
  rules: Rules,
  effects: Effect[],
): void {
  const v = s[obs.role];
  v.up = false;
  v.since = obs.at;
  const cause = `${obs.role} down (${obs.address}): ${why}`;
  effects.push({ kind: "backend_down", role: obs.role, cause, firstCheck });
  const signAt = v.signAt;
  v.signAt = null;
  if (s.started) decide(s, obs.facts, obs.at, cause, signAt, "change", rules, effects);
}

function markUp(
  s: MachineState,
  obs: Extract<Observation, { kind: "check" }>,
  why: string,
  rules: Rules,
  effects: Effect[],
): void {
  const v = s[obs.role];
  v.up = true;
  v.since = obs.at;
  const cause = `${obs.role} up (${obs.address}): ${why}`;
  effects.push({ kind: "backend_up", role: obs.role, cause });
  const signAt = v.signAt;
  v.signAt = null;
  // Only the primary itself coming back is held (see failbackWait).
  const trigger = obs.role === "primary" ? "primary_up" : "change";
  if (s.started) decide(s, obs.facts, obs.at, cause, signAt, trigger, rules, effects);
}

/** Recompute the mode; on a change, record the transition and say what follows from it. */
function decide(
  s: MachineState,
  f: PairFacts,
  at: number,
  cause: string,
  signAt: number | null,
  trigger: Trigger,
  rules: Rules,
  effects: Effect[],
): void {
  let to = modeOf(s, f);
  const from = s.mode;
  if (to === "read_write" && from !== "read_write" && (trigger === "primary_up" || s.hold)) {
    const held = holdFailback(s, f, at, cause, signAt, rules, effects);
    if (held === null) return;
    ({ cause, signAt } = held);
    if (held.hold) to = "read_only";
  } else if (to !== "read_write" && s.hold) {
    s.hold = null;
  }
  if (to === from) return;
  const kind: Transition["kind"] =
    trigger === "startup"
      ? "startup"
      : from === "read_write"
        ? "failover"
        : to === "read_write"
          ? "failback"
          : "other";
  const t: Transition = {
    from,
    to,
    at,
    cause,
    detectionSeconds: signAt === null ? 0 : Math.max(0, (at - signAt) / 1000),
    kind,
  };
  const readBefore = readRoleOf(from, s.secondary.up);
  const readAfter = readRoleOf(to, s.secondary.up);
  s.mode = to;
  s.modeSince = at;
  if (readAfter === "secondary" && readBefore !== "secondary") effects.push({ kind: "catch_up_begin" });
  else if (readAfter !== "secondary")
    effects.push({ kind: "catch_up_cancel", why: `reads left the secondary (mode ${to})` });
  if (kind === "failover") s.lastFailover = t;
  if (kind === "failback") s.lastFailback = t;
  effects.push({ kind: "transition", transition: t, readRole: readAfter });
}

/**
 * The failback gate of decide(): null to stay as is (held, already read_only), else the
 * transition's cause and whether it is held (read_only meanwhile: the secondary is up). The hold
 * ends when the secondary caught up, or after catchUpTimeoutMs anyway.
 */
function holdFailback(
  s: MachineState,
  f: PairFacts,
  now: number,
  cause: string,
  signAt: number | null,
  rules: Rules,
  effects: Effect[],
): { cause: string; signAt: number | null; hold: boolean } | null {
  const wait = failbackWait(s, f);
  const hold = s.hold;
  if (wait !== null) {
    if (!hold) {
      s.hold = { since: now, waitingFor: wait, signAt, cause };
      effects.push({ kind: "hold_started", cause, waitingFor: wait });
      return s.mode === "read_only" ? null : { cause, signAt, hold: true };
    }
    s.hold = { ...hold, waitingFor: wait };
    const waited = now - hold.since;
    if (waited < rules.catchUpTimeoutMs) return s.mode === "read_only" ? null : { cause, signAt, hold: true };
    effects.push({ kind: "hold_timed_out", waitedMs: waited, waitingFor: wait });
    s.hold = null;
    return {
      cause: `${hold.cause}; the secondary had not caught up after ${waited} ms (${wait})`,
      signAt: hold.signAt,
      hold: false,
    };
  }
  if (!hold) return { cause, signAt, hold: false };
  s.hold = null;
  return {
    cause: `${hold.cause}; the secondary caught up in ${now - hold.since} ms`,
    signAt: hold.signAt,
    hold: false,
  };
}
