/**
 * The monitor against a real MariaDB pair: kill -9 and restart of the primary, a reported backend
 * error, a writable secondary, both servers gone, maintenance, and a blackholed primary link
 * (a relay that stops passing bytes and accepts connections it never answers).
 * Measured figures are printed with a "figure:" prefix.
 */
import { once } from "node:events";
import { createConnection, createServer, type Server, type Socket } from "node:net";
import { Writable } from "node:stream";
import { pino } from "pino";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { BackendConfig } from "../../src/config/load.js";
import { Metrics } from "../../src/observability/metrics.js";
import { Topology } from "../../src/topology/monitor.js";
import type { Mode, Transition } from "../../src/topology/types.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { until } from "../helpers/wait.js";

const MONITOR = { intervalMs: 250, connectTimeoutMs: 500, queryTimeoutMs: 500, fall: 2, rise: 2 };

let pair: TestPair;
const logLines: Array<Record<string, unknown>> = [];
const logger = pino(
  { level: "debug" },
  new Writable({
    write(chunk, _e, cb) {
      for (const l of String(chunk).split("\n")) if (l) logLines.push(JSON.parse(l));
      cb();
    },
  }),
);

function backend(endpoint: { host: string; port: number }): BackendConfig {
  return {
    host: endpoint.host,
    port: endpoint.port,
    user: pair.serviceUser.username,
    password: pair.serviceUser.password,
  };
}

function makeTopology(over: Partial<typeof MONITOR> = {}, primary = backend(pair.primary)) {
  const topology = new Topology({
    primary,
    secondary: backend(pair.secondary),
    monitor: { ...MONITOR, ...over },
    logger,
  });
  const transitions: Transition[] = [];
  topology.on("transition", (t) => transitions.push(t));
  return { topology, transitions };
}

/** Waits for `mode`; returns the wall time it took from `t0`. */
async function timeTo(topology: Topology, mode: Mode, t0: number, timeoutMs = 10_000) {
  await topology.waitFor(mode, timeoutMs);
  return { ms: Date.now() - t0 };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function ensureRunning(): Promise<void> {
  const st = await pair.lab.status();
  if (!st.primary.running) await pair.lab.start("primary");
  if (!st.secondary.running) await pair.lab.start("secondary");
}

test.before(async () => {
  pair = await startPair();
});

test.after(async () => {
  await pair?.stop();
});

test.after.each(async () => {
  await ensureRunning();
});

test("healthy pair: read_write, versions, replication with TLS, last contact with the primary", async () => {
  const { topology } = makeTopology();
  topology.start();
  try {
    await topology.ready(5000);
    assert.is(topology.mode, "read_write");
    let s = topology.snapshot();
    assert.is(s.primary.up, true);
    assert.is(s.primary.readOnly, false);
    assert.is(s.secondary.readOnly, true);
    assert.match(s.primary.version ?? "", /MariaDB/);
    assert.is.not(s.primary.serverId, s.secondary.serverId);
    const r = s.secondary.replication!;
    assert.ok(r, "replication status read with the service account");
    assert.is(r.ioRunning, "Yes");
    assert.is(r.sqlRunning, "Yes");
    assert.is(r.sslAllowed, true);
    assert.ok(r.secondsBehind !== null && r.secondsBehind < 5, `seconds behind: ${r.secondsBehind}`);
    assert.is(r.sourcePort, pair.primary.port);
    assert.ok(r.gtidExecuted.length > 0, "GTID position");
    // Heartbeats (or any event) show up within a couple of seconds.
    const deadline = Date.now() + 5000;
    while (
      Date.now() < deadline &&
      topology.snapshot().secondary.replication?.secondsSinceMasterContact == null
    ) {
      await sleep(200);
    }
    s = topology.snapshot();
    const since = s.secondary.replication?.secondsSinceMasterContact;
    assert.ok(since !== null && since !== undefined && since < 5, `seconds since contact: ${since}`);
  } finally {
    await topology.stop();
  }
});

test("kill -9 of the primary → read_only in milliseconds (with detectionSeconds); restart → read_write", async () => {
  const { topology, transitions } = makeTopology();
  topology.start();
  try {
    await topology.ready(5000);
    const t0 = Date.now();
    await pair.lab.kill("primary");
    const killed = Date.now() - t0; // the lab waits until every thread of the server is gone
    const down = await timeTo(topology, "read_only", t0, 5000);
    const t = transitions.at(-1)!;
    assert.is(t.kind, "failover");
    assert.match(t.cause, /^primary down/);
    assert.ok(t.detectionSeconds >= 0 && t.detectionSeconds < 0.1, `detectionSeconds ${t.detectionSeconds}`);
    console.log(
      `figure: kill -9 → read_only ${t.at - t0} ms after the SIGKILL (the process took ${killed} ms to vanish); ` +
        `detectionSeconds ${t.detectionSeconds.toFixed(3)} — ${t.cause}`,
    );
    // From the SIGKILL, including the time the process takes to vanish; generous for a loaded machine.
    assert.ok(down.ms < 1500, `took ${down.ms} ms`);
    assert.is(topology.snapshot().lastFailover?.cause, t.cause);

    await pair.lab.start("primary");
    await timeTo(topology, "read_write", Date.now(), 5000);
    const back = transitions.at(-1)!;
    assert.is(back.kind, "failback");
    // detectionSeconds of a failback: from the first good check to read_write (the rise confirmations).
    console.log(
      `figure: primary's first good check → read_write in ${(back.detectionSeconds * 1000).toFixed(0)} ms — ${back.cause}`,
    );
    // The figure above is bench:failover's business; the property: rise confirmations, not intervals.
    assert.ok(back.detectionSeconds < 1.5, `rise took ${back.detectionSeconds} s`);
  } finally {
    await topology.stop();
  }
});

test("reportBackendError: with a slow interval, a kill is noticed long before fall × interval", async () => {
  const slow = { intervalMs: 3000, fall: 3 };
  const { topology, transitions } = makeTopology(slow);
  topology.start();
  try {
    await topology.ready(5000);
    await sleep(100);
    // The monitor's own idle connection also sees the reset: whichever comes first, the crash must be
    // noticed in milliseconds, not after fall × interval (the report alone is covered by the unit test).
    await pair.lab.kill("primary");
    const t0 = Date.now();
    topology.reportBackendError(
      "primary",
      Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
    );
    const r = await timeTo(topology, "read_only", t0, 5000);
    console.log(
      `figure: reported error → read_only in ${r.ms} ms (fall × interval = ${slow.fall * slow.intervalMs} ms)`,
    );
    assert.ok(r.ms < 1000, `took ${r.ms} ms`);
    assert.ok(transitions.at(-1)!.detectionSeconds < 1);
  } finally {
    await topology.stop();
  }
});

test("a secondary with read_only=0 raises pairgate_secondary_writable and one warning", async () => {
  const { topology } = makeTopology({ intervalMs: 100 });
  const metrics = new Metrics({ defaultMetrics: false });
  metrics.attachTopology(topology);
  topology.start();
  const root = await pair.rootConnection("secondary");
  try {
    await topology.ready(5000);
    const gauge = async () =>
      Number(/^pairgate_secondary_writable (\S+)$/m.exec((await metrics.render()).body)?.[1]);
    assert.is(await gauge(), 0);
    const before = logLines.length;
    await root.query("SET GLOBAL read_only = 0");
    let deadline = Date.now() + 3000;
    while (Date.now() < deadline && (await gauge()) !== 1) await sleep(50);
    assert.is(await gauge(), 1);
    await sleep(400);
    const warnings = logLines
      .slice(before)
      .filter((l) => /secondary reports read_only=0/.test(String(l.msg)));
    assert.is(warnings.length, 1, "warned once, not at every check");
    assert.is(topology.mode, "read_write");
    await root.query("SET GLOBAL read_only = 1");
    deadline = Date.now() + 3000;
    while (Date.now() < deadline && (await gauge()) !== 0) await sleep(50);
    assert.is(await gauge(), 0);
  } finally {
    await root.query("SET GLOBAL read_only = 1").catch(() => {});
    await root.end();
    await topology.stop();
  }
});

test("both servers killed → down; back → read_write", async () => {
  const { topology } = makeTopology();
  const metrics = new Metrics({ defaultMetrics: false });
  metrics.attachTopology(topology);
  topology.start();
  try {
    await topology.ready(5000);
    await pair.lab.kill("secondary");
    await topology.waitFor("read_write", 100);
    await pair.lab.kill("primary");
    await topology.waitFor("down", 3000);
    assert.is(topology.readRole, null);
    const body = (await metrics.render()).body;
    assert.match(body, 'pairgate_mode{mode="down"} 1');
    assert.match(body, 'pairgate_backend_up{role="primary"} 0');
    assert.match(body, 'pairgate_backend_up{role="secondary"} 0');
    await pair.lab.start("secondary");
    await topology.waitFor("read_only", 5000);
    assert.is(topology.readRole, "secondary");
    await pair.lab.start("primary");
    await topology.waitFor("read_write", 5000);
    assert.match((await metrics.render()).body, "pairgate_failovers_total 1");
  } finally {
    await topology.stop();
  }
});

test("maintenance: read_only on purpose with the primary up, then back", async () => {
  const { topology, transitions } = makeTopology();
  topology.start();
  try {
    await topology.ready(5000);
    topology.setMaintenance(true);
    assert.is(topology.mode, "read_only");
    await sleep(600); // checks keep running and do not undo it
    assert.is(topology.mode, "read_only");
    assert.is(topology.isUp("primary"), true);
    assert.is(topology.readRole, "secondary");
    topology.setMaintenance(false);
    assert.is(topology.mode, "read_write");
    assert.equal(
      transitions.slice(-2).map((t) => t.cause),
      ["maintenance: read-only on request", "maintenance ended"],
    );
  } finally {
    await topology.stop();
  }
});

/**
 * A TCP relay in front of a server. `blackhole()`: established connections stop passing bytes
 * (kept open, data dropped) and new connections are accepted and never answered.
 */
class Relay {
  private server: Server;
  private sockets = new Set<Socket>();
  silent = false;
  port = 0;
  constructor(private target: { host: string; port: number }) {
    this.server = createServer((client) => this.accept(client));
  }
  async listen(): Promise<number> {
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.port = (this.server.address() as { port: number }).port;
    return this.port;
  }
  private accept(client: Socket) {
    this.sockets.add(client);
    client.on("close", () => this.sockets.delete(client));
    client.on("error", () => {});
    if (this.silent) return; // accepted, never answered
    const upstream = createConnection(this.target);
    this.sockets.add(upstream);
    upstream.on("close", () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    client.on("close", () => upstream.destroy());
    upstream.on("error", () => {});
    client.on("data", (d) => {
      if (!this.silent) upstream.write(d);
    });
    upstream.on("data", (d) => {
      if (!this.silent) client.write(d);
    });
  }
  blackhole() {
    this.silent = true;
  }
  heal() {
    this.silent = false;
    // Half-dead connections from the silent period are dropped; clients reconnect.
    for (const s of this.sockets) s.destroy();
  }
  async close() {
    for (const s of this.sockets) s.destroy();
    await new Promise((r) => this.server.close(r));
  }
}

test("blackholed primary link: down within ~(query timeout + connect timeout + interval), never hangs", async () => {
  const relay = new Relay(pair.primary);
  await relay.listen();
  const { topology, transitions } = makeTopology({}, backend({ host: "127.0.0.1", port: relay.port }));
  topology.start();
  try {
    await topology.ready(5000);
    assert.is(topology.mode, "read_write");
    await sleep(100);
    const t0 = Date.now();
    relay.blackhole();
    const r = await timeTo(topology, "read_only", t0, 5000);
    const t = transitions.at(-1)!;
    console.log(
      `figure: blackhole → read_only in ${r.ms} ms (detectionSeconds ${t.detectionSeconds.toFixed(3)}) — ${t.cause}`,
    );
    // interval (at most) + a query timeout + a connect timeout, and slack for a loaded machine.
    const bound = MONITOR.intervalMs + MONITOR.queryTimeoutMs + MONITOR.connectTimeoutMs + 1000;
    assert.ok(r.ms < bound, `took ${r.ms} ms (bound ${bound})`);
    assert.match(t.cause, /timed out/);
    // While silent, every check ends at its connect timeout, and the loop keeps going.
    const durations: number[] = [];
    topology.on("check", (role, h) => role === "primary" && durations.push(h.lastCheckMs ?? -1));
    const deadline = Date.now() + 6000;
    while (durations.length < 2 && Date.now() < deadline) await sleep(50);
    assert.ok(durations.length >= 2, `${durations.length} checks of the silent primary`);
    for (const d of durations)
      assert.ok(
        d >= MONITOR.connectTimeoutMs - 5 && d < MONITOR.connectTimeoutMs + 1000,
        `check took ${d} ms`,
      );
    const stopStarted = Date.now();
    relay.heal();
    const up = await timeTo(topology, "read_write", Date.now(), 5000);
    console.log(`figure: blackhole healed → read_write in ${up.ms} ms`);
    relay.blackhole();
    await topology.waitFor("read_only", 3000);
    // stop() during a hanging connect returns promptly.
    const s0 = Date.now();
    await topology.stop();
    console.log(`figure: stop() during a hanging connect returned in ${Date.now() - s0} ms`);
    // The property: stop() does not wait out the hanging connect (connectTimeoutMs) or the interval.
    assert.ok(Date.now() - s0 < MONITOR.connectTimeoutMs, `stop took ${Date.now() - s0} ms`);
    assert.ok(Date.now() - stopStarted < 10_000);
  } finally {
    await topology.stop();
    await relay.close();
  }
});

test("a listener that accepts and never answers stands in for the primary from the start", async () => {
  const silent = createServer(() => {});
  const held: Socket[] = [];
  silent.on("connection", (s) => held.push(s));
  silent.listen(0, "127.0.0.1");
  await once(silent, "listening");
  const port = (silent.address() as { port: number }).port;
  const { topology } = makeTopology({}, backend({ host: "127.0.0.1", port }));
  const t0 = Date.now();
  topology.start();
  try {
    await topology.ready(3000);
    const ms = Date.now() - t0;
    assert.is(topology.mode, "read_only");
    assert.match(
      topology.snapshot().primary.lastError ?? "",
      /connect to 127\.0\.0\.1:\d+ timed out after 500 ms/,
    );
    console.log(`figure: silent listener as primary at start → read_only after ${ms} ms`);
    assert.ok(ms < MONITOR.connectTimeoutMs + 1500, `first decision after ${ms} ms`);
  } finally {
    await topology.stop();
    for (const s of held) s.destroy();
    await new Promise((r) => silent.close(r));
  }
});

test("reconfigure to a new primary port takes effect at the next check", async () => {
  const relay = new Relay(pair.primary);
  await relay.listen();
  const { topology } = makeTopology();
  topology.start();
  try {
    await topology.ready(5000);
    const reconfiguredAt = Date.now();
    topology.reconfigure(backend({ host: "127.0.0.1", port: relay.port }), backend(pair.secondary), MONITOR);
    // The property: a check of the new address follows (how soon is a figure, not a bound).
    await until(
      "a check after the reconfigure",
      async () => (topology.snapshot().primary.lastCheckAt ?? 0) >= reconfiguredAt,
      5000,
    );
    console.log(
      `figure: reconfigure → first check of the new primary after ${topology.snapshot().primary.lastCheckAt! - reconfiguredAt} ms`,
    );
    const s = topology.snapshot();
    assert.is(s.primary.port, relay.port);
    assert.is(s.mode, "read_write");
    // Proof that checks now go through the relay: silence it.
    relay.blackhole();
    await topology.waitFor("read_only", 3000);
  } finally {
    await topology.stop();
    await relay.close();
  }
});

test.run();
