/**
 * Failback waits for the secondary (issue 24): when the primary answers again (a healed WAN link),
 * read_write comes back only once the secondary has applied the primary's position — unless its
 * replication is stopped (it would never catch up) or failover.catchUpTimeoutMs passed.
 * Stand-in probes; the real thing is test/integration/sites.test.ts.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { BackendConfig } from "../../src/config/load.js";
import { createLogger } from "../../src/observability/logger.js";
import { Topology } from "../../src/topology/monitor.js";
import type { ProbeLike, ProbeResult } from "../../src/topology/probe.js";
import type { Role, Transition } from "../../src/topology/types.js";

class Probe implements ProbeLike {
  down = false;
  /** The primary's @@gtid_binlog_pos; the secondary's gtid_slave_pos and thread states. */
  binlogPos = "0-1-5";
  executed = "0-1-5";
  sqlRunning = "Yes";
  ioRunning = "Yes";
  constructor(
    readonly role: Role,
    readonly cfg: BackendConfig,
  ) {}
  get address(): string {
    return `${this.cfg.host}:${this.cfg.port}`;
  }
  async check(wantReplication: boolean): Promise<ProbeResult> {
    await new Promise((r) => setImmediate(r));
    if (this.down) throw Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" });
    return {
      readOnly: this.role === "secondary",
      serverId: this.role === "primary" ? 1 : 2,
      version: "10.11.19-MariaDB",
      replicationError: null,
      gtidBinlogPos: wantReplication ? null : this.binlogPos,
      replication: wantReplication
        ? {
            ioRunning: this.ioRunning,
            sqlRunning: this.sqlRunning,
            secondsBehind: 0,
            lastIoError: "",
            lastSqlError: "",
            sslAllowed: true,
            gtidIoPos: this.executed,
            gtidExecuted: this.executed,
            secondsSinceMasterContact: 0,
            ioState: "",
            sourceHost: "127.0.0.1",
            sourcePort: 1,
          }
        : null,
    };
  }
  reconfigure(): void {}
  close(): void {}
}

function setup(catchUpTimeoutMs = 5000) {
  const probes = {} as Record<Role, Probe>;
  const topology = new Topology({
    primary: { host: "127.0.0.1", port: 1001, user: "svc", password: "x" },
    secondary: { host: "127.0.0.1", port: 1002, user: "svc", password: "x" },
    monitor: { intervalMs: 20, connectTimeoutMs: 100, queryTimeoutMs: 100, fall: 2, rise: 2 },
    failover: { readConsistency: "immediate", catchUpTimeoutMs, verdictTimeoutMs: 1000 },
    logger: createLogger("silent"),
    probeFactory: (role, cfg) => {
      probes[role] = new Probe(role, cfg);
      return probes[role];
    },
  });
  const transitions: Transition[] = [];
  topology.on("transition", (t) => transitions.push(t));
  return { topology, probes, transitions };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Start, lose the primary (read_only), then the primary returns ahead of the secondary. */
async function outage(s: ReturnType<typeof setup>): Promise<void> {
  s.topology.start();
  await s.topology.ready(1000);
  assert.is(s.topology.mode, "read_write");
  s.probes.primary.down = true;
  await s.topology.waitFor("read_only", 1000);
  s.probes.primary.binlogPos = "0-1-9"; // written at site A during the outage
  s.probes.primary.down = false;
}

test("the primary is back: read_only until the secondary has applied its position", async () => {
  const s = setup();
  try {
    await outage(s);
    await sleep(400);
    assert.is(s.topology.mode, "read_only", "held while the secondary lacks 0-1-6..9");
    assert.match(s.topology.snapshot().failbackHold?.waitingFor ?? "", /0-1-9/);
    s.probes.secondary.executed = "0-1-9";
    await s.topology.waitFor("read_write", 1000);
    const t = s.transitions.at(-1)!;
    assert.is(t.kind, "failback");
    assert.match(t.cause, /caught up/);
    assert.is(s.topology.snapshot().failbackHold, null);
  } finally {
    await s.topology.stop();
  }
});

test("no hold when the secondary's replication is stopped: it would never catch up", async () => {
  const s = setup();
  try {
    await outage(s);
    s.probes.secondary.sqlRunning = "No";
    await s.topology.waitFor("read_write", 1000);
  } finally {
    await s.topology.stop();
  }
});

test("the hold ends after failover.catchUpTimeoutMs, and says so", async () => {
  const s = setup(300);
  try {
    await outage(s);
    const t0 = Date.now();
    await s.topology.waitFor("read_write", 2000);
    assert.ok(Date.now() - t0 >= 250, `read_write after ${Date.now() - t0} ms`);
    assert.match(s.transitions.at(-1)!.cause, /had not caught up/);
  } finally {
    await s.topology.stop();
  }
});

test("the primary's position unknown (MySQL, no privilege): no hold", async () => {
  const s = setup();
  try {
    await outage(s);
    s.probes.primary.binlogPos = "";
    await s.topology.waitFor("read_write", 1000);
  } finally {
    await s.topology.stop();
  }
});

test.run();
