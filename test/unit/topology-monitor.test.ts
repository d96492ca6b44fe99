/**
 * The monitor's state machine with stand-in probes: fall/rise, back-to-back re-checks on a fault's
 * first sign, mode rules (read_only primary, maintenance, both down), reconfigure, waitFor.
 * The real probe against real servers is in test/integration/topology-*.test.ts.
 */
import { Writable } from "node:stream";
import { pino } from "pino";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { BackendConfig } from "../../src/config/load.js";
import { Topology } from "../../src/topology/monitor.js";
import type { ProbeLike, ProbeResult } from "../../src/topology/probe.js";
import type { Role, Transition } from "../../src/topology/types.js";

type Behaviour = "ok" | "fail";

class FakeProbe implements ProbeLike {
  behaviour: Behaviour = "ok";
  readOnly: boolean;
  checks = 0;
  checkTimes: number[] = [];
  /** Fail only the next n checks, then go back to ok. */
  failNext = 0;
  constructor(
    readonly role: Role,
    public cfg: BackendConfig,
    readonly onLost: (err: Error) => void,
  ) {
    this.readOnly = role === "secondary";
  }
  get address(): string {
    return `${this.cfg.host}:${this.cfg.port}`;
  }
  async check(wantReplication: boolean): Promise<ProbeResult> {
    this.checks++;
    this.checkTimes.push(Date.now());
    await new Promise((r) => setImmediate(r));
    if (this.failNext > 0) {
      this.failNext--;
      throw Object.assign(new Error(`connect ECONNREFUSED ${this.address}`), { code: "ECONNREFUSED" });
    }
    if (this.behaviour === "fail")
      throw Object.assign(new Error(`connect ECONNREFUSED ${this.address}`), { code: "ECONNREFUSED" });
    return {
      readOnly: this.readOnly,
      serverId: this.role === "primary" ? 1 : 2,
      version: "10.11.19-MariaDB",
      replication: wantReplication
        ? {
            ioRunning: "Yes",
            sqlRunning: "Yes",
            secondsBehind: 0,
            lastIoError: "",
            lastSqlError: "",
            sslAllowed: true,
            gtidIoPos: "0-1-5",
            gtidExecuted: "0-1-5",
            secondsSinceMasterContact: 0.4,
            ioState: "Waiting for master to send event",
            sourceHost: "127.0.0.1",
            sourcePort: 1,
          }
        : null,
      replicationError: null,
    };
  }
  reconfigure(cfg: BackendConfig): void {
    this.cfg = cfg;
  }
  close(): void {}
}

const backend = (port: number): BackendConfig => ({ host: "127.0.0.1", port, user: "svc", password: "x" });

function logCapture() {
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split("\n")) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  return { logger: pino({ level: "debug" }, stream), lines };
}

function setup(monitor: Partial<{ intervalMs: number; fall: number; rise: number }> = {}) {
  const probes = {} as Record<Role, FakeProbe>;
  const { logger, lines } = logCapture();
  const topology = new Topology({
    primary: backend(1001),
    secondary: backend(1002),
    monitor: { intervalMs: 100, connectTimeoutMs: 100, queryTimeoutMs: 100, fall: 2, rise: 2, ...monitor },
    logger,
    probeFactory: (role, cfg, _t, onLost) => (probes[role] = new FakeProbe(role, cfg, onLost)),
  });
  const transitions: Transition[] = [];
  topology.on("transition", (t) => transitions.push(t));
  return { topology, probes, transitions, lines };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("first checks decide at once: read_write, a startup transition, no failback counted", async () => {
  const { topology, transitions } = setup();
  assert.is(topology.mode, "down");
  topology.start();
  try {
    await topology.ready(1000);
    assert.is(topology.mode, "read_write");
    assert.is(topology.readRole, "primary");
    assert.is(transitions.length, 1);
    assert.is(transitions[0].kind, "startup");
    const s = topology.snapshot();
    assert.is(s.lastFailback, null);
    assert.is(s.primary.up, true);
    assert.is(s.secondary.replication?.ioRunning, "Yes");
    assert.is(s.primary.replication, null, "the primary is not asked for replication status");
  } finally {
    await topology.stop();
  }
});

test("one failed check is not a failover (fall=2), and the re-check comes at once", async () => {
  const { topology, probes, transitions } = setup({ intervalMs: 1000 });
  topology.start();
  try {
    await topology.ready(1000);
    const before = probes.primary.checks;
    probes.primary.failNext = 1;
    topology.reportBackendError("primary", new Error("read ECONNRESET"));
    await sleep(50);
    assert.ok(probes.primary.checks >= before + 2, "failed check followed by an immediate re-check");
    assert.is(topology.mode, "read_write");
    assert.is(transitions.length, 1);
    assert.is(topology.snapshot().primary.consecutiveFailures, 0);
  } finally {
    await topology.stop();
  }
});

test("a reported error turns a dead primary into read_only in milliseconds, not fall × interval", async () => {
  const { topology, probes, transitions } = setup({ intervalMs: 1000, fall: 3 });
  topology.start();
  try {
    await topology.ready(1000);
    await sleep(20);
    probes.primary.behaviour = "fail";
    const t0 = Date.now();
    topology.reportBackendError("primary", new Error("read ECONNRESET"));
    await topology.waitFor("read_only", 1500);
    const took = Date.now() - t0;
    // The property: well before fall × interval (3000 ms). The figure itself is bench:failover's.
    console.log(`figure: reported error → read_only in ${took} ms (fall × interval = 3000 ms)`);
    assert.ok(took < 1500, `took ${took} ms (fall × interval = 3000 ms)`);
    const t = transitions.at(-1)!;
    assert.is(t.kind, "failover");
    assert.match(t.cause, /primary down .*3 failed checks.*ECONNREFUSED/);
    assert.ok(t.detectionSeconds >= 0 && t.detectionSeconds < 0.5, String(t.detectionSeconds));
    assert.is(topology.readRole, "secondary");
    assert.is(topology.isUp("primary"), false);
    assert.equal(topology.snapshot().lastFailover, t);
  } finally {
    await topology.stop();
  }
});

test("without a report, a failed check starts back-to-back confirmation", async () => {
  const { topology, probes } = setup({ intervalMs: 300, fall: 2 });
  topology.start();
  try {
    await topology.ready(1000);
    probes.primary.behaviour = "fail";
    const t0 = Date.now();
    await topology.waitFor("read_only", 2000);
    // The first failed check comes within one interval; the second right after it, not an interval
    // later (the property); how soon is a figure, not a bound a loaded machine can keep.
    const times = probes.primary.checkTimes.slice(-2);
    console.log(
      `figure: fail → read_only in ${Date.now() - t0} ms; confirmation ${times[1] - times[0]} ms after the first failure`,
    );
    assert.ok(
      times[1] - times[0] < 300,
      `confirmation ${times[1] - times[0]} ms after the first failure (interval 300)`,
    );
  } finally {
    await topology.stop();
  }
});

test("rise: back to read_write after `rise` good checks, spaced by the confirm interval", async () => {
  const { topology, probes, transitions } = setup({ intervalMs: 200, rise: 3 });
  topology.start();
  try {
    await topology.ready(1000);
    probes.primary.behaviour = "fail";
    topology.reportBackendError("primary");
    await topology.waitFor("read_only", 500);
    await sleep(250);
    probes.primary.behaviour = "ok";
    const t0 = Date.now();
    await topology.waitFor("read_write", 1000);
    const took = Date.now() - t0;
    // At most one interval to the first success, then two confirmations 50 ms apart: the figure;
    // the property is that the confirmations do not wait an interval each (3 × 200 ms).
    console.log(`figure: primary answers again → read_write in ${took} ms`);
    assert.ok(took < 200 + 3 * 200, `took ${took} ms`);
    const t = transitions.at(-1)!;
    assert.is(t.kind, "failback");
    assert.match(t.cause, /primary up .*answered 3 checks/);
    assert.ok(t.detectionSeconds >= 0.09 && t.detectionSeconds < 0.6, String(t.detectionSeconds));
  } finally {
    await topology.stop();
  }
});

test("a primary reporting read_only=1 is not writable; read_only=0 again brings read_write back", async () => {
  const { topology, probes, transitions, lines } = setup({ intervalMs: 30 });
  topology.start();
  try {
    await topology.ready(1000);
    probes.primary.readOnly = true;
    await topology.waitFor("read_only", 500);
    assert.is(transitions.at(-1)!.cause, "primary reports read_only=1");
    assert.is(topology.isUp("primary"), true);
    assert.is(topology.readRole, "secondary");
    probes.primary.readOnly = false;
    await topology.waitFor("read_write", 500);
    assert.ok(lines.some((l) => /primary reports read_only=1/.test(String(l.msg))));
  } finally {
    await topology.stop();
  }
});

test("a writable secondary is warned about once per change", async () => {
  const { topology, probes, lines } = setup({ intervalMs: 20 });
  topology.start();
  try {
    await topology.ready(1000);
    probes.secondary.readOnly = false;
    await sleep(150);
    const warnings = lines.filter((l) => /secondary reports read_only=0/.test(String(l.msg)));
    assert.is(warnings.length, 1);
    assert.is(warnings[0].level, 40);
    assert.is(topology.snapshot().secondary.readOnly, false);
    assert.is(topology.mode, "read_write", "the secondary's read_only does not change the mode");
  } finally {
    await topology.stop();
  }
});

test("maintenance holds read_only with the primary up, and releases it", async () => {
  const { topology, transitions } = setup();
  topology.start();
  try {
    await topology.ready(1000);
    topology.setMaintenance(true);
    assert.is(topology.mode, "read_only", "synchronous");
    assert.is(topology.snapshot().maintenance, true);
    assert.is(transitions.at(-1)!.cause, "maintenance: read-only on request");
    assert.is(transitions.at(-1)!.detectionSeconds, 0);
    topology.setMaintenance(false);
    assert.is(topology.mode, "read_write");
    assert.is(transitions.at(-1)!.kind, "failback");
  } finally {
    await topology.stop();
  }
});

test("both down → down; the primary alone but read-only serves reads itself", async () => {
  const { topology, probes } = setup({ intervalMs: 30 });
  topology.start();
  try {
    await topology.ready(1000);
    probes.secondary.behaviour = "fail";
    probes.primary.behaviour = "fail";
    await topology.waitFor("down", 1000);
    assert.is(topology.readRole, null);
    probes.primary.behaviour = "ok";
    probes.primary.readOnly = true;
    await topology.waitFor("read_only", 1000);
    assert.is(topology.readRole, "primary");
    assert.is(topology.isUp("secondary"), false);
  } finally {
    await topology.stop();
  }
});

test("a backend unreachable at start is down from the first check", async () => {
  const { topology, probes } = setup();
  // Probes exist from construction: make the primary refuse before start().
  probes.primary.behaviour = "fail";
  topology.start();
  try {
    await topology.ready(1000);
    assert.is(topology.mode, "read_only");
    assert.is(topology.snapshot().lastFailover, null, "startup is not a failover");
  } finally {
    await topology.stop();
  }
});

test("reconfigure: new address in the snapshot, 'reconfigured' emitted, checks continue", async () => {
  const { topology, probes } = setup({ intervalMs: 30 });
  let reconfigured = 0;
  topology.on("reconfigured", () => reconfigured++);
  topology.start();
  try {
    await topology.ready(1000);
    topology.reconfigure(backend(2001), backend(1002), {
      intervalMs: 30,
      connectTimeoutMs: 100,
      queryTimeoutMs: 100,
      fall: 2,
      rise: 2,
    });
    assert.is(reconfigured, 1);
    assert.is(topology.snapshot().primary.port, 2001);
    assert.is(probes.primary.cfg.port, 2001);
    const n = probes.primary.checks;
    await sleep(100);
    assert.ok(probes.primary.checks > n);
    assert.is(topology.mode, "read_write");
  } finally {
    await topology.stop();
  }
});

test("waitFor rejects after its timeout with the current mode named", async () => {
  const { topology } = setup();
  topology.start();
  try {
    await topology.ready(1000);
    try {
      await topology.waitFor("down", 50);
      assert.unreachable();
    } catch (e) {
      assert.match((e as Error).message, "mode is read_write, not down");
    }
  } finally {
    await topology.stop();
  }
});

test("a lost idle monitor connection triggers an immediate check", async () => {
  const { topology, probes } = setup({ intervalMs: 5000 });
  topology.start();
  try {
    await topology.ready(1000);
    await sleep(20);
    probes.primary.behaviour = "fail";
    probes.primary.onLost(new Error("server closed the connection"));
    await topology.waitFor("read_only", 300);
  } finally {
    await topology.stop();
  }
});

test("reports about a backend already down do not spin the monitor", async () => {
  const { topology, probes } = setup({ intervalMs: 200 });
  topology.start();
  try {
    await topology.ready(1000);
    probes.primary.behaviour = "fail";
    topology.reportBackendError("primary");
    await topology.waitFor("read_only", 300);
    const n = probes.primary.checks;
    for (let i = 0; i < 1000; i++) topology.reportBackendError("primary");
    await sleep(100);
    assert.ok(probes.primary.checks - n <= 1, `${probes.primary.checks - n} checks`);
  } finally {
    await topology.stop();
  }
});

test.run();
