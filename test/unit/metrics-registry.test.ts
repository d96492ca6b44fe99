/**
 * Metrics: every name with its Prometheus type in render(), the mode state set flipping with the
 * topology's events, hot-path counters and histogram, audit callbacks, separate registries.
 */
import { EventEmitter } from "node:events";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { Metrics } from "../../src/observability/metrics.js";
import type { Topology } from "../../src/topology/monitor.js";
import type { BackendHealth, Mode, PairStatus, Role, Transition } from "../../src/topology/types.js";

const EXPECTED: Record<string, string> = {
  pairgate_backend_up: "gauge",
  pairgate_mode: "gauge",
  pairgate_failovers_total: "counter",
  pairgate_failbacks_total: "counter",
  pairgate_failover_detection_seconds: "histogram",
  pairgate_replication_lag_seconds: "gauge",
  pairgate_replication_io_running: "gauge",
  pairgate_replication_sql_running: "gauge",
  pairgate_secondary_writable: "gauge",
  pairgate_client_connections: "gauge",
  pairgate_backend_connections: "gauge",
  pairgate_queries_total: "counter",
  pairgate_query_duration_seconds: "histogram",
  pairgate_write_rejections_total: "counter",
  pairgate_auth_failures_total: "counter",
  pairgate_audit_events_total: "counter",
  pairgate_audit_journal_pending_events: "gauge",
  pairgate_audit_last_delivery_timestamp_seconds: "gauge",
  pairgate_config_reloads_total: "counter",
  pairgate_maintenance: "gauge",
  pairgate_mode_transitions_total: "counter",
  pairgate_replication_seconds_since_primary_contact: "gauge",
};

/** Parse the exposition text into "name{labels}" → value. */
function samples(body: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of body.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}

function health(role: Role, over: Partial<BackendHealth> = {}): BackendHealth {
  return {
    role,
    host: "127.0.0.1",
    port: role === "primary" ? 1 : 2,
    up: true,
    readOnly: role === "secondary",
    serverId: 1,
    version: "10.11",
    lastCheckAt: 0,
    lastError: null,
    consecutiveFailures: 0,
    consecutiveSuccesses: 1,
    replication: null,
    lastOkAt: 0,
    lastCheckMs: 3,
    since: 0,
    ...over,
  };
}

/** Enough of a Topology for attachTopology: events, snapshot, inMaintenance. */
class FakeTopology extends EventEmitter {
  mode: Mode = "read_write";
  inMaintenance = false;
  snapshot(): PairStatus {
    return {
      mode: this.mode,
      maintenance: false,
      primary: health("primary"),
      secondary: health("secondary"),
      lastFailover: null,
      lastFailback: null,
      since: Date.now(),
      readRole: "primary",
    };
  }
  transition(to: Mode, kind: Transition["kind"], detectionSeconds = 0) {
    const t: Transition = { from: this.mode, to, at: Date.now(), cause: "test", detectionSeconds, kind };
    this.mode = to;
    this.emit("transition", t);
  }
}

test("every metric is in render() with its type, and the default Node/process metrics too", async () => {
  const m = new Metrics();
  const { contentType, body } = await m.render();
  assert.match(contentType, "text/plain");
  for (const [name, type] of Object.entries(EXPECTED)) {
    assert.ok(body.includes(`# TYPE ${name} ${type}\n`), `${name} should be a ${type}`);
  }
  assert.match(body, "process_cpu_user_seconds_total");
  assert.match(body, "nodejs_eventloop_lag_seconds");
  const s = samples(body);
  assert.is(
    s.get('pairgate_queries_total{backend="secondary",kind="unknown"}'),
    0,
    "all label sets start at 0",
  );
  assert.is(s.get('pairgate_backend_up{role="primary"}'), 0);
  assert.is(s.get('pairgate_config_reloads_total{result="invalid"}'), 0);
  assert.is(s.get("pairgate_failovers_total"), 0);
});

test("the mode state set flips with transitions; failovers, failbacks and detection are counted", async () => {
  const m = new Metrics({ defaultMetrics: false });
  const topo = new FakeTopology();
  m.attachTopology(topo as unknown as Topology);
  let s = samples((await m.render()).body);
  assert.is(s.get('pairgate_mode{mode="read_write"}'), 1);
  assert.is(s.get('pairgate_mode{mode="read_only"}'), 0);
  assert.is(s.get('pairgate_mode{mode="down"}'), 0);

  topo.transition("read_only", "failover", 0.042);
  s = samples((await m.render()).body);
  assert.is(s.get('pairgate_mode{mode="read_write"}'), 0);
  assert.is(s.get('pairgate_mode{mode="read_only"}'), 1);
  assert.is(s.get("pairgate_failovers_total"), 1);
  assert.is(s.get("pairgate_failover_detection_seconds_count"), 1);
  assert.is(s.get('pairgate_failover_detection_seconds_bucket{le="0.05"}'), 1);
  assert.is(s.get('pairgate_failover_detection_seconds_bucket{le="0.025"}'), 0);

  topo.transition("down", "other");
  s = samples((await m.render()).body);
  assert.is(s.get('pairgate_mode{mode="down"}'), 1);
  assert.is(s.get('pairgate_mode{mode="read_only"}'), 0);
  assert.is(s.get('pairgate_mode_transitions_total{from="read_only",to="down"}'), 1);

  topo.transition("read_write", "failback");
  s = samples((await m.render()).body);
  assert.is(s.get('pairgate_mode{mode="read_write"}'), 1);
  assert.is(s.get('pairgate_mode{mode="down"}'), 0);
  assert.is(s.get("pairgate_failbacks_total"), 1);
  assert.is(s.get("pairgate_failovers_total"), 1);

  topo.transition("read_only", "startup");
  s = samples((await m.render()).body);
  assert.is(s.get("pairgate_failovers_total"), 1, "startup is not a failover");
});

test("checks feed backend_up, replication and secondary_writable", async () => {
  const m = new Metrics({ defaultMetrics: false });
  const topo = new FakeTopology();
  m.attachTopology(topo as unknown as Topology);
  const replication = {
    ioRunning: "Yes",
    sqlRunning: "No",
    secondsBehind: 7,
    lastIoError: "",
    lastSqlError: "boom",
    sslAllowed: true,
    gtidIoPos: "",
    gtidExecuted: "",
    secondsSinceMasterContact: 1.5,
    ioState: "",
    sourceHost: "",
    sourcePort: null,
  };
  topo.emit("check", "secondary", health("secondary", { readOnly: false, replication }));
  topo.emit("check", "primary", health("primary", { up: false }));
  let s = samples((await m.render()).body);
  assert.is(s.get("pairgate_secondary_writable"), 1);
  assert.is(s.get("pairgate_replication_io_running"), 1);
  assert.is(s.get("pairgate_replication_sql_running"), 0);
  assert.is(s.get("pairgate_replication_lag_seconds"), 7);
  assert.is(s.get("pairgate_replication_seconds_since_primary_contact"), 1.5);
  assert.is(s.get('pairgate_backend_up{role="primary"}'), 0);
  assert.is(s.get('pairgate_backend_up{role="secondary"}'), 1);
  assert.is(s.get('pairgate_backend_read_only{role="secondary"}'), 0);

  topo.emit(
    "check",
    "secondary",
    health("secondary", { up: false, readOnly: false, replication, lastError: "x" }),
  );
  s = samples((await m.render()).body);
  assert.is(s.get("pairgate_secondary_writable"), 0, "a down secondary is not 'writable'");
  assert.is(s.get("pairgate_replication_io_running"), 0);
  assert.ok(Number.isNaN(s.get("pairgate_replication_lag_seconds")));
});

test("hot path: query counts by backend/kind and a cumulative duration histogram", async () => {
  const m = new Metrics({ defaultMetrics: false });
  const { query, writeRejected, authFailure, clientConnections, backendConnections } = m;
  query("primary", "read", 0.0003);
  query("primary", "read", 0.002);
  query("primary", "write", 20);
  query("secondary", "read", 0.0001);
  writeRejected();
  writeRejected();
  authFailure();
  clientConnections(3);
  clientConnections(-1);
  backendConnections("primary", 2);
  backendConnections("secondary", 1);
  m.configReload("ok");
  m.configReload("invalid");
  const s = samples((await m.render()).body);
  assert.is(s.get('pairgate_queries_total{backend="primary",kind="read"}'), 2);
  assert.is(s.get('pairgate_queries_total{backend="primary",kind="write"}'), 1);
  assert.is(s.get('pairgate_queries_total{backend="secondary",kind="read"}'), 1);
  assert.is(s.get('pairgate_query_duration_seconds_bucket{backend="primary",le="0.00025"}'), 0);
  assert.is(s.get('pairgate_query_duration_seconds_bucket{backend="primary",le="0.0005"}'), 1);
  assert.is(s.get('pairgate_query_duration_seconds_bucket{backend="primary",le="0.0025"}'), 2);
  assert.is(s.get('pairgate_query_duration_seconds_bucket{backend="primary",le="10"}'), 2);
  assert.is(s.get('pairgate_query_duration_seconds_bucket{backend="primary",le="+Inf"}'), 3);
  assert.is(s.get('pairgate_query_duration_seconds_count{backend="primary"}'), 3);
  assert.ok(Math.abs(s.get('pairgate_query_duration_seconds_sum{backend="primary"}')! - 20.0023) < 1e-9);
  assert.is(s.get('pairgate_query_duration_seconds_bucket{backend="secondary",le="0.0001"}'), 1);
  assert.is(s.get("pairgate_write_rejections_total"), 2);
  assert.is(s.get("pairgate_auth_failures_total"), 1);
  assert.is(s.get("pairgate_client_connections"), 2);
  assert.is(s.get('pairgate_backend_connections{role="primary"}'), 2);
  assert.is(s.get('pairgate_backend_connections{role="secondary"}'), 1);
  assert.is(s.get('pairgate_config_reloads_total{result="ok"}'), 1);
  assert.is(s.get('pairgate_config_reloads_total{result="invalid"}'), 1);
});

test("hot path allocates nothing measurable", () => {
  const m = new Metrics({ defaultMetrics: false });
  const { query } = m;
  for (let i = 0; i < 10_000; i++) query("primary", "read", 0.001); // warm up
  // Other work in the process can allocate meanwhile: the least growth of three rounds counts.
  let grew = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 3; round++) {
    const before = process.memoryUsage().heapUsed;
    for (let i = 0; i < 1_000_000; i++) query(i & 1 ? "primary" : "secondary", "read", (i % 100) / 10_000);
    grew = Math.min(grew, process.memoryUsage().heapUsed - before);
  }
  // A single allocation per call would be tens of megabytes here.
  assert.ok(grew < 4 * 1024 * 1024, `heap grew ${grew} bytes over 1e6 calls`);
});

test("audit figures are read from the source at scrape time", async () => {
  const m = new Metrics({ defaultMetrics: false });
  let pending = 5;
  const counts: Record<string, number> = { password_retrieval: 3, login: 1 };
  const source = {
    pending: () => pending,
    lastDeliveryAt: 1_700_000_000_000,
    counts: () => counts,
    journalProblem: "audit journal /var/lib/pairgate is in use by process 42" as string | null,
  };
  m.setAuditSource(source);
  let s = samples((await m.render()).body);
  assert.is(s.get("pairgate_audit_journal_open"), 0, "a journal held elsewhere is not open");
  assert.is(s.get("pairgate_audit_journal_pending_events"), 5);
  assert.is(s.get("pairgate_audit_last_delivery_timestamp_seconds"), 1_700_000_000);
  assert.is(s.get('pairgate_audit_events_total{operation="password_retrieval"}'), 3);
  pending = 0;
  counts.password_retrieval = 4;
  source.journalProblem = null;
  s = samples((await m.render()).body);
  assert.is(s.get("pairgate_audit_journal_open"), 1, "open once the problem is gone");
  assert.is(s.get("pairgate_audit_journal_pending_events"), 0);
  assert.is(s.get('pairgate_audit_events_total{operation="password_retrieval"}'), 4);
});

test("the audit catalog and copies are read from the source at scrape time; a failing read shows", async () => {
  const m = new Metrics({ defaultMetrics: false });
  const info = {
    derivedNames: 0,
    objects: 0,
    lastReadAt: null as number | null,
    lastError: "connect ECONNREFUSED" as string | null,
    reads: 1,
    failures: 1,
    copies: 0,
    copiesNotRemembered: 0,
  };
  m.setAuditSource({
    pending: () => 0,
    lastDeliveryAt: null,
    counts: () => ({}),
    journalProblem: null,
    catalogInfo: () => info,
  });
  let s = samples((await m.render()).body);
  assert.is(s.get("pairgate_audit_catalog_read_ok"), 0, "the last read failed");
  assert.is(s.get("pairgate_audit_catalog_last_read_timestamp_seconds"), 0, "never read");
  assert.ok(Number.isNaN(s.get("pairgate_audit_catalog_age_seconds")), "no age before a read");
  assert.is(s.get('pairgate_audit_catalog_reads_total{result="error"}'), 1);
  assert.is(s.get('pairgate_audit_catalog_reads_total{result="ok"}'), 0);
  Object.assign(info, {
    derivedNames: 7,
    objects: 4,
    lastReadAt: Date.now() - 5000,
    lastError: null,
    reads: 3,
    copies: 2,
    copiesNotRemembered: 1,
  });
  s = samples((await m.render()).body);
  assert.is(s.get("pairgate_audit_catalog_read_ok"), 1);
  assert.is(s.get("pairgate_audit_catalog_derived_names"), 7);
  assert.is(s.get("pairgate_audit_catalog_objects"), 4);
  assert.is(s.get("pairgate_audit_copies"), 2);
  assert.is(s.get("pairgate_audit_copies_not_remembered_total"), 1);
  assert.is(s.get('pairgate_audit_catalog_reads_total{result="ok"}'), 2);
  const age = s.get("pairgate_audit_catalog_age_seconds") ?? -1;
  assert.ok(age >= 4 && age < 60, `age ${age}`);
});

test("two instances keep separate registries", async () => {
  const a = new Metrics();
  const b = new Metrics();
  a.writeRejected();
  const sa = samples((await a.render()).body);
  const sb = samples((await b.render()).body);
  assert.is(sa.get("pairgate_write_rejections_total"), 1);
  assert.is(sb.get("pairgate_write_rejections_total"), 0);
});

test.run();
