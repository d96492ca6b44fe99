/**
 * The verdict and mode machine as a table: a sequence of observations (check results, start-up,
 * maintenance, fence) → the transitions it produces, the final mode and the effects that matter.
 * `step()` is pure: no clock, no I/O; each row is a story told in milliseconds.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type Effect,
  initialState,
  type MachineState,
  type Observation,
  type PairFacts,
  type Rules,
  step,
} from "../../src/topology/machine.js";
import type { Mode, ReplicationStatus, Role } from "../../src/topology/types.js";

const RULES: Rules = { fall: 3, rise: 2, catchUpTimeoutMs: 1000 };

function replication(executed: string, sqlRunning = "Yes"): ReplicationStatus {
  return {
    ioRunning: "Yes",
    sqlRunning,
    secondsBehind: 0,
    lastIoError: "",
    lastSqlError: "",
    sslAllowed: false,
    gtidIoPos: executed,
    gtidExecuted: executed,
    secondsSinceMasterContact: 0,
    ioState: "",
    sourceHost: "p",
    sourcePort: 3306,
  };
}

const NO_FACTS: PairFacts = {
  maintenance: false,
  fenced: null,
  sameServer: false,
  primaryBinlogPos: null,
  primaryBinlogPosAt: null,
  secondaryReplication: null,
  secondaryOkCheckStartedAt: null,
};

type F = Partial<PairFacts>;
const ok = (role: Role, at: number, f: F = {}, readOnly = role === "secondary"): Observation => ({
  kind: "check",
  role,
  address: `${role[0]}:3306`,
  at,
  started: at - 5,
  result: { ok: true, readOnly },
  facts: { ...NO_FACTS, ...f },
});
const fail = (role: Role, at: number, timeout = false, f: F = {}): Observation => ({
  kind: "check",
  role,
  address: `${role[0]}:3306`,
  at,
  started: at - 500,
  result: { ok: false, error: "ECONNREFUSED", timeout },
  facts: { ...NO_FACTS, ...f },
});
const startup = (at: number, f: F = {}): Observation => ({
  kind: "startup",
  at,
  facts: { ...NO_FACTS, ...f },
});
const change = (cause: string, at: number, f: F = {}): Observation => ({
  kind: "change",
  at,
  cause,
  facts: { ...NO_FACTS, ...f },
});
/** Both up and checked, read_write since t=10. */
const healthy: Observation[] = [ok("primary", 0), ok("secondary", 5), startup(10)];
/** From healthy: the primary failed `fall` times from t=100 (read_only since t=300). */
const failedOver: Observation[] = [
  ...healthy,
  fail("primary", 100),
  fail("primary", 200),
  fail("primary", 300),
];
/** The primary holds 0-1-10 at t=1000; the secondary has applied `executed`, as read at `okAt`. */
const behind = (executed: string, okAt = 1000, sqlRunning = "Yes"): F => ({
  primaryBinlogPos: "0-1-10",
  primaryBinlogPosAt: 1000,
  secondaryReplication: replication(executed, sqlRunning),
  secondaryOkCheckStartedAt: okAt,
});

interface Row {
  name: string;
  steps: Observation[];
  /** Every transition, "from>to:kind". */
  transitions: string[];
  mode: Mode;
  /** Effect kinds that must appear, in this order (others may be between). */
  effects?: string[];
  /** Extra checks on the final state and all effects. */
  check?: (s: MachineState, effects: Effect[]) => void;
}

const transitionOf = (effects: Effect[]) =>
  effects.flatMap((e) => (e.kind === "transition" ? [e.transition] : []));

const rows: Row[] = [
  {
    name: "startup: both answer, the primary writable → read_write",
    steps: healthy,
    transitions: ["down>read_write:startup"],
    mode: "read_write",
    effects: ["backend_up", "backend_up", "catch_up_cancel", "transition"],
  },
  {
    name: "startup: no transition before both are checked",
    steps: [ok("primary", 0), change("maintenance ended", 1)],
    transitions: [],
    mode: "down",
    check: (s) => assert.is(s.started, false),
  },
  {
    name: "startup: the primary read-only, the secondary up → read_only, reads wait for the catch-up",
    steps: [ok("primary", 0, {}, true), ok("secondary", 5), startup(10)],
    transitions: ["down>read_only:startup"],
    mode: "read_only",
    effects: ["catch_up_begin", "transition"],
  },
  {
    name: "startup: the primary unreachable → read_only; 'unreachable at start' (first check)",
    steps: [fail("primary", 0), ok("secondary", 5), startup(10)],
    transitions: ["down>read_only:startup"],
    mode: "read_only",
    check: (_s, effects) => {
      const down = effects.find((e) => e.kind === "backend_down");
      assert.ok(down && down.kind === "backend_down" && down.firstCheck);
    },
  },
  {
    name: "startup: neither answers → down, no transition (down is the initial mode)",
    steps: [fail("primary", 0), fail("secondary", 5), startup(10)],
    transitions: [],
    mode: "down",
    effects: ["still_down", "backend_down", "still_down", "backend_down"],
  },
  {
    name: "fall: fall−1 failed checks keep the primary in service; one 'check failed' line",
    steps: [...healthy, fail("primary", 100), fail("primary", 200)],
    transitions: ["down>read_write:startup"],
    mode: "read_write",
    check: (s, effects) => {
      assert.is(s.primary.up, true);
      assert.is(s.primary.signAt, 100);
      assert.is(effects.filter((e) => e.kind === "check_failed").length, 1);
    },
  },
  {
    name: "failover: fall failed checks → read_only, detection from the first sign, catch-up first",
    steps: failedOver,
    transitions: ["down>read_write:startup", "read_write>read_only:failover"],
    mode: "read_only",
    effects: ["backend_down", "catch_up_begin", "transition"],
    check: (s) => {
      assert.is(s.lastFailover?.detectionSeconds, 0.2);
      assert.match(s.lastFailover?.cause ?? "", /^primary down \(p:3306\): 3 failed checks: ECONNREFUSED/);
      assert.is(s.primary.signAt, null);
    },
  },
  {
    name: "failover: a timed-out check's sign is when it began",
    steps: [...healthy, fail("primary", 1000, true), fail("primary", 1100), fail("primary", 1200)],
    transitions: ["down>read_write:startup", "read_write>read_only:failover"],
    mode: "read_only",
    check: (s) => assert.is(s.lastFailover?.detectionSeconds, 0.7),
  },
  {
    name: "rise: one answer of a down primary is not enough (rise 2)",
    steps: [...failedOver, ok("primary", 400, { fenced: null })],
    transitions: ["down>read_write:startup", "read_write>read_only:failover"],
    mode: "read_only",
    check: (s) => {
      assert.is(s.primary.up, false);
      assert.is(s.primary.signAt, 400);
    },
  },
  {
    name: "failback without hold: rise answers, position unknown → read_write, reads leave the secondary",
    steps: [...failedOver, ok("primary", 400), ok("primary", 450)],
    transitions: [
      "down>read_write:startup",
      "read_write>read_only:failover",
      "read_only>read_write:failback",
    ],
    mode: "read_write",
    effects: ["backend_up", "catch_up_cancel", "transition"],
    check: (s) => assert.is(s.lastFailback?.detectionSeconds, 0.05),
  },
  {
    name: "failback hold: the secondary lacks the primary's position → stays read_only, held",
    steps: [...failedOver, ok("primary", 400), ok("primary", 1000, behind("0-1-5"))],
    transitions: ["down>read_write:startup", "read_write>read_only:failover"],
    mode: "read_only",
    effects: ["backend_up", "hold_started"],
    check: (s) => {
      assert.is(s.hold?.since, 1000);
      assert.match(s.hold?.waitingFor ?? "", /apply the primary's 0-1-10 \(it has 0-1-5/);
    },
  },
  {
    name: "failback hold: ends when the secondary applied it; the cause says how long",
    steps: [
      ...failedOver,
      ok("primary", 400),
      ok("primary", 1000, behind("0-1-5")),
      change("the primary answers again", 1300, behind("0-1-10", 1200)),
    ],
    transitions: [
      "down>read_write:startup",
      "read_write>read_only:failover",
      "read_only>read_write:failback",
    ],
    mode: "read_write",
    check: (s) => {
      assert.is(s.hold, null);
      assert.match(
        s.lastFailback?.cause ?? "",
        /primary up \(p:3306\).*; the secondary caught up in 300 ms$/,
      );
      assert.is(s.lastFailback?.detectionSeconds, 0.9); // from the held sign (t=400)
    },
  },
  {
    name: "failback hold: an answer older than the primary's position cannot end it",
    steps: [
      ...failedOver,
      ok("primary", 400),
      ok("primary", 1000, behind("0-1-5")),
      change("the primary answers again", 1300, behind("0-1-10", 900)),
    ],
    transitions: ["down>read_write:startup", "read_write>read_only:failover"],
    mode: "read_only",
    check: (s) => assert.match(s.hold?.waitingFor ?? "", /\(it had 0-1-10\)$/),
  },
  {
    name: "failback hold: times out after catchUpTimeoutMs → read_write anyway",
    steps: [
      ...failedOver,
      ok("primary", 400),
      ok("primary", 1000, behind("0-1-5")),
      change("the primary answers again", 1999, behind("0-1-6", 1900)),
      change("the primary answers again", 2000, behind("0-1-6", 1950)),
    ],
    transitions: [
      "down>read_write:startup",
      "read_write>read_only:failover",
      "read_only>read_write:failback",
    ],
    mode: "read_write",
    effects: ["hold_started", "hold_timed_out", "transition"],
    check: (s) => assert.match(s.lastFailback?.cause ?? "", /had not caught up after 1000 ms/),
  },
  {
    name: "failback hold: not when the secondary's replication is stopped (it would never catch up)",
    steps: [...failedOver, ok("primary", 400), ok("primary", 1000, behind("0-1-5", 1000, "No"))],
    transitions: [
      "down>read_write:startup",
      "read_write>read_only:failover",
      "read_only>read_write:failback",
    ],
    mode: "read_write",
  },
  {
    name: "failback hold: the hold is dropped when the primary goes away again",
    steps: [
      ...failedOver,
      ok("primary", 400),
      ok("primary", 1000, behind("0-1-5")),
      fail("primary", 1100),
      fail("primary", 1200),
      fail("primary", 1300),
    ],
    transitions: ["down>read_write:startup", "read_write>read_only:failover"],
    mode: "read_only",
    check: (s) => assert.is(s.hold, null),
  },
  {
    name: "maintenance on → read_only (a failover by kind), off → read_write without a hold",
    steps: [
      ...healthy,
      change("maintenance: read-only on request", 100, { maintenance: true }),
      change("maintenance ended", 200, { ...behind("0-1-5"), maintenance: false }),
    ],
    transitions: [
      "down>read_write:startup",
      "read_write>read_only:failover",
      "read_only>read_write:failback",
    ],
    mode: "read_write",
    check: (s) => assert.is(s.lastFailback?.cause, "maintenance ended"),
  },
  {
    name: "fence: a check that sees a newer epoch fences the primary → read_only, cause = the reason",
    steps: [...healthy, ok("secondary", 100, { fenced: "fenced: epoch 2 seen" })],
    transitions: ["down>read_write:startup", "read_write>read_only:failover"],
    mode: "read_only",
    check: (s) => {
      assert.is(s.lastFailover?.cause, "fenced: epoch 2 seen");
      assert.is(s.fenced, "fenced: epoch 2 seen");
    },
  },
  {
    name: "fence lifted: the primary holds the newest epoch again → read_write",
    steps: [...healthy, ok("secondary", 100, { fenced: "fenced: epoch 2 seen" }), ok("primary", 200)],
    transitions: [
      "down>read_write:startup",
      "read_write>read_only:failover",
      "read_only>read_write:failback",
    ],
    mode: "read_write",
    check: (s) => assert.match(s.lastFailback?.cause ?? "", /^fence lifted/),
  },
  {
    name: "read_only=1 on the primary while up → read_only now (no detection delay); reads stay on it",
    steps: [
      ...healthy,
      fail("secondary", 60),
      fail("secondary", 70),
      fail("secondary", 80),
      ok("primary", 100, {}, true),
    ],
    transitions: ["down>read_write:startup", "read_write>read_only:failover"],
    mode: "read_only",
    check: (s, effects) => {
      assert.is(s.lastFailover?.cause, "primary reports read_only=1");
      assert.is(s.lastFailover?.detectionSeconds, 0);
      const t = effects.filter((e) => e.kind === "transition").at(-1);
      assert.is(t?.kind === "transition" && t.readRole, "primary");
    },
  },
  {
    name: "the secondary going down changes no mode in read_write",
    steps: [...healthy, fail("secondary", 100), fail("secondary", 200), fail("secondary", 300)],
    transitions: ["down>read_write:startup"],
    mode: "read_write",
    effects: ["check_failed", "backend_down"],
  },
  {
    name: "down: both gone → read_only (failover) then down (other)",
    steps: [
      ...failedOver,
      fail("secondary", 400),
      fail("secondary", 500),
      fail("secondary", 600),
      fail("primary", 700),
    ],
    transitions: ["down>read_write:startup", "read_write>read_only:failover", "read_only>down:other"],
    mode: "down",
    effects: ["catch_up_begin", "transition", "backend_down", "catch_up_cancel", "transition"],
  },
];

for (const row of rows) {
  test(row.name, () => {
    let state = initialState(0);
    const effects: Effect[] = [];
    for (const obs of row.steps) {
      const before = JSON.stringify(state);
      const r = step(state, obs, RULES);
      assert.is(JSON.stringify(state), before, "step() must not mutate its input");
      state = r.state;
      effects.push(...r.effects);
    }
    assert.equal(
      transitionOf(effects).map((t) => `${t.from}>${t.to}:${t.kind}`),
      row.transitions,
    );
    assert.is(state.mode, row.mode);
    if (row.effects) {
      const kinds = effects.map((e) => e.kind);
      let at = 0;
      for (const want of row.effects) {
        const i = kinds.indexOf(want as Effect["kind"], at);
        assert.ok(i >= 0, `effect ${want} (in order ${row.effects.join(", ")}) in ${kinds.join(", ")}`);
        at = i + 1;
      }
    }
    row.check?.(state, effects);
  });
}

test.run();
