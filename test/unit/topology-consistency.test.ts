/**
 * Consistency at failover, with stand-in probes and a stand-in catch-up driver: the lossless
 * verdict from semi-sync, the split-brain fence, reads held until the secondary caught up (and
 * released at the timeout, naming what it lacks), `immediate` mode, and the login verdict.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { BackendConfig } from "../../src/config/load.js";
import type { FenceMark } from "../../src/topology/fence.js";
import { Topology } from "../../src/topology/monitor.js";
import type { ProbeLike, ProbeResult } from "../../src/topology/probe.js";
import type { CatchUpDriver, CatchUpReport } from "../../src/topology/secondary-catch-up.js";
import type { SemiSyncStatus } from "../../src/topology/server-status.js";
import type { LosslessStatus, Role } from "../../src/topology/types.js";

const ACTIVE: SemiSyncStatus = {
  enabled: true,
  active: true,
  clients: 1,
  timeoutMs: 2000,
  waitPoint: "AFTER_SYNC",
  replicaEnabled: true,
  replicaActive: false,
};

class FakeProbe implements ProbeLike {
  fail = false;
  readOnly: boolean;
  semiSync: SemiSyncStatus | null = ACTIVE;
  fence: FenceMark | null = { epoch: 0, serverId: null, promotedAt: null };
  constructor(
    readonly role: Role,
    public cfg: BackendConfig,
  ) {
    this.readOnly = role === "secondary";
  }
  get address(): string {
    return `${this.cfg.host}:${this.cfg.port}`;
  }
  async check(): Promise<ProbeResult> {
    await new Promise((r) => setImmediate(r));
    if (this.fail) throw Object.assign(new Error("connect ECONNREFUSED"), { code: "ECONNREFUSED" });
    return {
      readOnly: this.readOnly,
      serverId: this.role === "primary" ? 1 : 2,
      version: "10.11.19-MariaDB",
      replication: null,
      replicationError: null,
      semiSync: this.semiSync,
      fence: this.fence,
    };
  }
  reconfigure(cfg: BackendConfig): void {
    this.cfg = cfg;
  }
  close(): void {}
}

class FakeDriver implements CatchUpDriver {
  received = "0-1-10";
  applied = "0-1-5";
  /** The wait ends after this long with the secondary at `received`; null: never (a timeout). */
  applyAfterMs: number | null = 100;
  waits: string[] = [];
  closed = false;
  async positions() {
    return { received: this.received, applied: this.applied };
  }
  async waitApplied(pos: string, timeoutMs: number): Promise<boolean> {
    this.waits.push(pos);
    if (this.applyAfterMs === null || this.applyAfterMs > timeoutMs) {
      await sleep(timeoutMs);
      return false;
    }
    await sleep(this.applyAfterMs);
    this.applied = this.received;
    return true;
  }
  close(): void {
    this.closed = true;
  }
}

const backend = (port: number): BackendConfig => ({ host: "127.0.0.1", port, user: "svc", password: "x" });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function setup(
  failover: Partial<{ readConsistency: "caught_up" | "immediate"; catchUpTimeoutMs: number }> = {},
  fenceStateFile?: string,
) {
  const probes = {} as Record<Role, FakeProbe>;
  const driver = new FakeDriver();
  const lines: Array<Record<string, unknown>> = [];
  const stream = new Writable({
    write(chunk, _enc, cb) {
      for (const l of String(chunk).split("\n")) if (l) lines.push(JSON.parse(l));
      cb();
    },
  });
  const topology = new Topology({
    primary: backend(1001),
    secondary: backend(1002),
    monitor: { intervalMs: 50, connectTimeoutMs: 100, queryTimeoutMs: 100, fall: 2, rise: 2 },
    failover: { readConsistency: "caught_up", catchUpTimeoutMs: 1000, verdictTimeoutMs: 1000, ...failover },
    logger: pino({ level: "debug" }, stream),
    probeFactory: (role, cfg) => (probes[role] = new FakeProbe(role, cfg)),
    catchUpDriverFactory: () => driver,
    fenceStateFile,
  });
  return { topology, probes, driver, lines };
}

test("lossless while the primary's semi-sync is active; not once it falls back; an event each way", async () => {
  const { topology, probes } = setup();
  const events: LosslessStatus[] = [];
  topology.on("lossless", (l) => events.push(l));
  topology.start();
  try {
    await topology.ready(1000);
    await sleep(60);
    assert.is(topology.snapshot().lossless.lossless, true);
    probes.primary.semiSync = { ...ACTIVE, active: false, clients: 0 };
    await sleep(120);
    const l = topology.snapshot().lossless;
    assert.is(l.lossless, false);
    assert.match(l.reason, "fell back to asynchronous");
    probes.primary.semiSync = null;
    await sleep(120);
    assert.match(topology.snapshot().lossless.reason, "asynchronous");
    assert.equal(
      events.map((e) => e.lossless),
      [true, false],
    );
  } finally {
    await topology.stop();
  }
});

test("fence: a primary with an older promotion epoch than the secondary's gets no writes, and says why", async () => {
  const { topology, probes } = setup();
  topology.start();
  try {
    await topology.ready(1000);
    assert.is(topology.mode, "read_write");
    probes.secondary.fence = { epoch: 1, serverId: 2, promotedAt: "2026-12-06 19:00:00.000000" };
    probes.secondary.readOnly = false; // the promoted server is writable
    await topology.waitFor("read_only", 1000);
    const s = topology.snapshot();
    assert.is(s.readRole, "secondary");
    assert.is(s.fence.epochSeen, 1);
    assert.match(String(s.fence.fenced), "holds promotion epoch 0, but epoch 1 was seen on 127.0.0.1:1002");
    // The secondary going away does not unfence the old primary: the epoch seen is remembered.
    probes.secondary.fail = true;
    await sleep(300);
    assert.is(topology.mode, "read_only");
    // The old primary inherits the mark (re-attached as a replica of the new one): fence lifted.
    probes.primary.fence = { epoch: 1, serverId: 2, promotedAt: "2026-12-06 19:00:00.000000" };
    await topology.waitFor("read_write", 1000);
    assert.is(topology.snapshot().fence.fenced, null);
  } finally {
    await topology.stop();
  }
});

test("fence across restarts: the epoch seen is kept on disk, and a restart that reaches only the old primary refuses it writes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pairgate-fence-"));
  const file = join(dir, "state", "fence.json");
  try {
    // First run: the promoted secondary shows epoch 2; the file keeps it.
    const first = setup({}, file);
    first.topology.start();
    try {
      await first.topology.ready(1000);
      assert.is(existsSync(file), false, "nothing to keep before a promotion is seen");
      first.probes.secondary.fence = { epoch: 2, serverId: 2, promotedAt: "2026-12-06 19:00:00.000000" };
      first.probes.secondary.readOnly = false;
      await first.topology.waitFor("read_only", 1000);
    } finally {
      await first.topology.stop();
    }
    const kept = JSON.parse(readFileSync(file, "utf8"));
    assert.is(kept.epoch, 2);
    assert.is(kept.seenOn, "127.0.0.1:1002");

    // Restart while the promoted server is unreachable: only the old, writable primary answers.
    const second = setup({}, file);
    second.probes.secondary.fail = true;
    second.topology.start();
    try {
      await second.topology.ready(1000);
      await sleep(150);
      assert.not.equal(second.topology.mode, "read_write", "no writes to the old primary after a restart");
      const s = second.topology.snapshot();
      assert.is(s.fence.epochSeen, 2);
      assert.is(s.fence.rememberedIn, file);
      assert.match(String(s.fence.fenced), `remembered in ${file}`);
      assert.ok(
        second.lines.some((l) => l.msg === "promotion epoch remembered from an earlier run"),
        "the log says where the epoch came from",
      );
      // Once a server shows the epoch itself, the file is no longer the only witness.
      second.probes.secondary.fail = false;
      second.probes.secondary.fence = { epoch: 2, serverId: 2, promotedAt: "2026-12-06 19:00:00.000000" };
      await sleep(200);
      assert.is(second.topology.snapshot().fence.rememberedIn, null);
    } finally {
      await second.topology.stop();
    }

    // An unreadable file is reported and ignored: the servers' marks decide, as without one.
    writeFileSync(file, "{ not json");
    const third = setup({}, file);
    third.topology.start();
    try {
      await third.topology.ready(1000);
      await third.topology.waitFor("read_write", 1000);
      assert.ok(
        third.lines.some((l) => String(l.msg).startsWith("the remembered promotion epoch cannot be read")),
      );
    } finally {
      await third.topology.stop();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("catch-up: reads held from the transition until the secondary applied what it received", async () => {
  const { topology, probes, driver } = setup();
  topology.start();
  try {
    await topology.ready(1000);
    assert.is(topology.secondaryReadable(), true);
    let heldAtTransition: unknown = null;
    topology.on("transition", () => {
      heldAtTransition = topology.secondaryReadable();
    });
    probes.primary.fail = true;
    topology.reportBackendError("primary");
    await topology.waitFor("read_only", 1000);
    assert.instance(heldAtTransition, Promise, "held as soon as the mode says read_only");
    const t0 = Date.now();
    const r = topology.secondaryReadable();
    assert.instance(r, Promise);
    await r;
    const waited = Date.now() - t0;
    assert.ok(waited >= 60, `waited ${waited} ms for the apply`);
    assert.is(topology.secondaryReadable(), true);
    const c = topology.snapshot().catchUp;
    assert.is(c.state, "caught_up");
    assert.is(c.received, "0-1-10");
    assert.is(c.applied, "0-1-10");
    assert.equal(c.missing, []);
    assert.equal(driver.waits, ["0-1-10"]);
  } finally {
    await topology.stop();
  }
});

test("catch-up: acknowledged GTIDs the secondary never got — served at the timeout, the range named", async () => {
  const { topology, probes, driver, lines } = setup({ catchUpTimeoutMs: 300 });
  const reports: CatchUpReport[] = [];
  topology.on("catchUp", (r) => reports.push(r));
  topology.start();
  try {
    await topology.ready(1000);
    topology.noteAcknowledged("0-1-18");
    topology.noteAcknowledged("0-1-20");
    topology.noteAcknowledged("0-1-19");
    assert.is(topology.acknowledgedPosition, "0-1-20");
    driver.applyAfterMs = null;
    driver.applied = "0-1-10";
    probes.primary.fail = true;
    topology.reportBackendError("primary");
    await topology.waitFor("read_only", 1000);
    const t0 = Date.now();
    await topology.secondaryReadable();
    const waited = Date.now() - t0;
    assert.ok(waited >= 200 && waited < 900, `served after the timeout (${waited} ms)`);
    assert.equal(driver.waits, ["0-1-20"]);
    const c = topology.snapshot().catchUp;
    assert.is(c.state, "timed_out");
    assert.equal(c.missing, ["0-1-11..0-1-20"]);
    assert.is(c.missingCount, 10);
    assert.equal(reports[0]?.acknowledgedMissing, ["0-1-11..0-1-20"]);
    assert.ok(lines.some((l) => String(l.msg).includes("lacks transactions pairgate acknowledged")));
  } finally {
    await topology.stop();
  }
});

test("readConsistency immediate: reads go at once; the primary's return cancels a catch-up", async () => {
  const a = setup({ readConsistency: "immediate" });
  a.topology.start();
  try {
    await a.topology.ready(1000);
    a.probes.primary.fail = true;
    a.topology.reportBackendError("primary");
    await a.topology.waitFor("read_only", 1000);
    assert.is(a.topology.secondaryReadable(), true);
    assert.is(a.topology.snapshot().catchUp.state, "skipped");
  } finally {
    await a.topology.stop();
  }
  const b = setup({ catchUpTimeoutMs: 5000 });
  b.driver.applyAfterMs = null;
  b.topology.start();
  try {
    await b.topology.ready(1000);
    b.probes.primary.fail = true;
    b.topology.reportBackendError("primary");
    await b.topology.waitFor("read_only", 1000);
    const r = b.topology.secondaryReadable();
    assert.instance(r, Promise);
    b.probes.primary.fail = false;
    await b.topology.waitFor("read_write", 2000);
    await r;
    assert.is(b.topology.snapshot().catchUp.state, "cancelled");
  } finally {
    await b.topology.stop();
  }
});

test("verdict: a login during the detection window waits for the primary's fate", async () => {
  const { topology, probes } = setup();
  topology.start();
  try {
    await topology.ready(1000);
    assert.is(topology.primarySuspect, false);
    probes.primary.fail = true;
    topology.reportBackendError("primary");
    assert.is(topology.primarySuspect, true);
    await topology.verdict(1000);
    assert.is(topology.mode, "read_only");
    assert.is(topology.primarySuspect, false);
  } finally {
    await topology.stop();
  }
});

test.run();
