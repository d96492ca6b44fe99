/**
 * Prometheus metrics for one pairgate instance, in its own prom-client Registry (several proxies may
 * share a process in tests; the global registry would mix them).
 *
 * Two kinds of feeding:
 * - Events: `attachTopology()` listens to the monitor's "check" and "transition" events; the audit
 *   source is read through callbacks when Prometheus scrapes.
 * - The per-statement hot path calls pre-bound methods (`query`, `writeRejected`, `authFailure`,
 *   `clientConnections`, `backendConnections`) that only add to numbers in typed arrays: no label
 *   hashing, no allocation. Those numbers become samples at scrape time (see HotMetric/HotHistogram).
 */

import { Counter, collectDefaultMetrics, Gauge, Histogram, type Metric, Registry } from "prom-client";
import type { AuditCatalogInfo } from "../audit/index.js";
import type { Topology } from "../topology/monitor.js";
import type { CatchUpReport } from "../topology/secondary-catch-up.js";
import type { BackendHealth, Mode, PairStatus, Role, Transition } from "../topology/types.js";

export type QueryBackend = "primary" | "secondary";
export type QueryKind = "read" | "write" | "transaction" | "session" | "unknown";
export type ConfigReloadResult = "ok" | "invalid" | "error";

export interface AuditMetricsSource {
  /** Events in the local journal not yet delivered to the primary. */
  pending(): number;
  /** Epoch ms of the last successful delivery, or null if none yet. */
  readonly lastDeliveryAt: number | null;
  /** Audit events recorded so far, by operation (monotonic). */
  counts(): Record<string, number>;
  /** Why the journal is not open (held by another process, unwritable, ...), or null when it is. */
  readonly journalProblem: string | null;
  /** The hash chain's head (newest durable event), null before the journal opened. */
  chainHead?(): { chainId: string; seq: number; hash: string } | null;
  /** The last background verification of the audit table, null before the first. */
  readonly lastVerification?: { at: number; ok: boolean; problemCount: number } | null;
  /** The names audited beyond the rules: derived from the server's catalog, and copies (Audit.catalogInfo). */
  catalogInfo?(): AuditCatalogInfo;
}

type CatalogInfo = ReturnType<NonNullable<AuditMetricsSource["catalogInfo"]>>;

const MODES: readonly Mode[] = ["read_write", "read_only", "down"];
const ROLES: readonly Role[] = ["primary", "secondary"];
const BACKENDS: readonly QueryBackend[] = ["primary", "secondary"];
const KINDS: readonly QueryKind[] = ["read", "write", "transaction", "session", "unknown"];
const KIND_INDEX: Record<QueryKind, number> = { read: 0, write: 1, transaction: 2, session: 3, unknown: 4 };

/** Statement latencies from 100 µs to 10 s. */
export const QUERY_DURATION_BUCKETS = [
  0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
];
/** Failover detection: from milliseconds (a reported crash) to seconds (a blackhole). */
export const DETECTION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 30];

type Labels = Record<string, string>;

/** What a registry asks of a metric at scrape time (the subset of prom-client's MetricObject it reads). */
interface Collected {
  name: string;
  help: string;
  type: "counter" | "gauge" | "histogram";
  aggregator: "sum";
  values: Array<{ labels: Record<string, string | number>; value: number; metricName?: string }>;
}

/**
 * A counter or gauge whose values live in a Float64Array, one slot per label set, exported at scrape
 * time. The hot path writes `values[i]` directly.
 */
class HotMetric {
  readonly values: Float64Array;
  readonly aggregator = "sum" as const;
  constructor(
    readonly name: string,
    readonly help: string,
    readonly type: "counter" | "gauge",
    private readonly labelSets: readonly Labels[] = [{}],
  ) {
    this.values = new Float64Array(labelSets.length);
  }
  async get(): Promise<Collected> {
    return {
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values: this.labelSets.map((labels, i) => ({ labels, value: this.values[i] })),
    };
  }
  reset(): void {
    this.values.fill(0);
  }
}

/**
 * A histogram recorded into a flat Float64Array: per label set, one slot per bucket (not cumulative;
 * summed at scrape time), then +Inf, sum and count. `observe` is a short linear scan.
 */
class HotHistogram {
  readonly aggregator = "sum" as const;
  readonly type = "histogram" as const;
  private readonly stride: number;
  readonly data: Float64Array;
  constructor(
    readonly name: string,
    readonly help: string,
    private readonly buckets: readonly number[],
    private readonly labelSets: readonly Labels[] = [{}],
  ) {
    this.stride = buckets.length + 3; // buckets…, +Inf, sum, count
    this.data = new Float64Array(this.stride * labelSets.length);
  }
  observe(set: number, v: number): void {
    const base = set * this.stride;
    const b = this.buckets;
    const n = b.length;
    let i = 0;
    while (i < n && v > b[i]) i++;
    const d = this.data;
    d[base + i]++;
    d[base + n + 1] += v;
    d[base + n + 2]++;
  }
  async get(): Promise<Collected> {
    const values: Collected["values"] = [];
    const n = this.buckets.length;
    for (let s = 0; s < this.labelSets.length; s++) {
      const base = s * this.stride;
      const labels = this.labelSets[s];
      let cum = 0;
      for (let i = 0; i <= n; i++) {
        cum += this.data[base + i];
        values.push({
          metricName: `${this.name}_bucket`,
          labels: { ...labels, le: i < n ? this.buckets[i] : "+Inf" },
          value: cum,
        });
      }
      values.push({ metricName: `${this.name}_sum`, labels, value: this.data[base + n + 1] });
      values.push({ metricName: `${this.name}_count`, labels, value: this.data[base + n + 2] });
    }
    return { name: this.name, help: this.help, type: "histogram", aggregator: "sum", values };
  }
  reset(): void {
    this.data.fill(0);
  }
}

export class Metrics {
  readonly registry: Registry;

  // Pair state (fed by topology events)
  private readonly backendUp: Gauge<"role">;
  private readonly backendReadOnly: Gauge<"role">;
  private readonly backendCheckSeconds: Gauge<"role">;
  private readonly mode: Gauge<"mode">;
  private readonly maintenance: Gauge;
  private readonly failovers: Counter;
  private readonly failbacks: Counter;
  private readonly transitions: Counter<"from" | "to">;
  private readonly detection: Histogram;
  private readonly replLag: Gauge;
  private readonly replIo: Gauge;
  private readonly replSql: Gauge;
  private readonly replContact: Gauge;
  private readonly secondaryLocalGtids: Gauge;
  private readonly catchUps: Counter;
  private readonly ackMissingTotal: Counter;
  private topologyRef: Topology | null = null;
  private readonly secondaryWritable: Gauge;
  private readonly modeSince: Gauge;

  // Hot path
  private readonly queriesTotal: HotMetric;
  private readonly queryDuration: HotHistogram;
  private readonly writeRejections: HotMetric;
  private readonly authFailures: HotMetric;
  private readonly loginsThrottled: HotMetric;
  private readonly loginBlocks: HotMetric;
  private readonly clientConns: HotMetric;
  private readonly backendConns: HotMetric;

  // Audit and config (pairgate_audit_events_total is read from the source at scrape time)
  private readonly auditPending: Gauge;
  private readonly auditJournalOpen: Gauge;
  private readonly auditLastDelivery: Gauge;
  private readonly configReloads: Counter<"result">;
  private readonly unhandledErrors: Counter<"kind">;
  private auditSource: AuditMetricsSource | null = null;

  private detachTopology: (() => void) | null = null;

  constructor(opts: { defaultMetrics?: boolean; labels?: Record<string, string> } = {}) {
    const registry = new Registry();
    this.registry = registry;
    if (opts.labels) registry.setDefaultLabels(opts.labels);
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: registry });
    const reg = [registry];

    this.backendUp = new Gauge({
      name: "pairgate_backend_up",
      help: "1 when the monitor considers the backend up (after fall/rise), else 0.",
      labelNames: ["role"],
      registers: reg,
    });
    this.backendReadOnly = new Gauge({
      name: "pairgate_backend_read_only",
      help: "The backend's @@read_only at its last successful check (1/0).",
      labelNames: ["role"],
      registers: reg,
    });
    this.backendCheckSeconds = new Gauge({
      name: "pairgate_backend_check_duration_seconds",
      help: "How long the backend's last health check took.",
      labelNames: ["role"],
      registers: reg,
    });
    this.mode = new Gauge({
      name: "pairgate_mode",
      help: "The pair's mode as a state set: 1 for the current mode (read_write, read_only, down), 0 for the others.",
      labelNames: ["mode"],
      registers: reg,
    });
    this.maintenance = new Gauge({
      name: "pairgate_maintenance",
      help: "1 while planned maintenance holds the pair read-only on purpose.",
      registers: reg,
    });
    this.modeSince = new Gauge({
      name: "pairgate_mode_since_timestamp_seconds",
      help: "When the current mode began (Unix time).",
      registers: reg,
    });
    this.failovers = new Counter({
      name: "pairgate_failovers_total",
      help: "Transitions out of read_write (primary lost, read-only or under maintenance).",
      registers: reg,
    });
    this.failbacks = new Counter({
      name: "pairgate_failbacks_total",
      help: "Transitions back into read_write.",
      registers: reg,
    });
    this.transitions = new Counter({
      name: "pairgate_mode_transitions_total",
      help: "Every mode transition, by from and to.",
      labelNames: ["from", "to"],
      registers: reg,
    });
    this.detection = new Histogram({
      name: "pairgate_failover_detection_seconds",
      help: "Time from a fault's first sign (failed check or a session's backend error) to the failover.",
      buckets: DETECTION_BUCKETS,
      registers: reg,
    });
    this.replLag = new Gauge({
      name: "pairgate_replication_lag_seconds",
      help: "The secondary's Seconds_Behind_Master (NaN when unknown: replication stopped or secondary unreachable).",
      registers: reg,
    });
    this.replIo = new Gauge({
      name: "pairgate_replication_io_running",
      help: "1 when the secondary's replication IO thread runs (Slave_IO_Running=Yes), else 0.",
      registers: reg,
    });
    this.replSql = new Gauge({
      name: "pairgate_replication_sql_running",
      help: "1 when the secondary's replication SQL thread runs, else 0.",
      registers: reg,
    });
    this.secondaryLocalGtids = new Gauge({
      name: "pairgate_secondary_local_gtids",
      help: "Replication streams in which the secondary has GTIDs of its own (not received from the primary): a write happened on the secondary. 0 when none; NaN when unknown.",
      registers: reg,
    });
    this.replContact = new Gauge({
      name: "pairgate_replication_seconds_since_primary_contact",
      help: "Seconds since the secondary's IO thread last heard from the primary (NaN when the server does not say).",
      registers: reg,
    });
    /** The monitor's snapshot at scrape time; partial in tests that stand in for the monitor. */
    const snap = (): Partial<PairStatus> | undefined => this.topologyRef?.snapshot();
    new Gauge({
      name: "pairgate_replication_lossless",
      help: "1 while the primary's semi-synchronous replication is active (AFTER_SYNC): an acknowledged commit is on the secondary too; 0 when asynchronous (fallen back after its timeout, or off); NaN when unknown.",
      registers: reg,
      collect() {
        const l = snap()?.lossless?.lossless;
        this.set(l === true ? 1 : l === false ? 0 : Number.NaN);
      },
    });
    new Gauge({
      name: "pairgate_replication_semi_sync_clients",
      help: "Replicas acknowledging the primary's commits in semi-sync mode (Rpl_semi_sync_master_clients; NaN when unknown).",
      registers: reg,
      collect() {
        const s = snap()?.primary?.semiSync;
        this.set(s?.clients ?? Number.NaN);
      },
    });
    new Gauge({
      name: "pairgate_failover_catch_up_waiting",
      help: "1 while reads wait for the secondary to catch up at a failover.",
      registers: reg,
      collect() {
        this.set(snap()?.catchUp?.state === "waiting" ? 1 : 0);
      },
    });
    new Gauge({
      name: "pairgate_failover_catch_up_seconds",
      help: "How long reads waited for the secondary's catch-up at the last failover (NaN before any).",
      registers: reg,
      collect() {
        const w = snap()?.catchUp?.waitedMs;
        this.set(w === null || w === undefined ? Number.NaN : w / 1000);
      },
    });
    new Gauge({
      name: "pairgate_acknowledged_writes_missing",
      help: "Transactions pairgate acknowledged that the secondary lacked when reads were let through at the last failover (semi-sync had fallen back): lost unless the primary returns.",
      registers: reg,
      collect() {
        const c = snap()?.catchUp;
        this.set(c ? c.missingCount : 0);
      },
    });
    this.catchUps = new Counter({
      name: "pairgate_failover_catch_ups_total",
      help: "Failover catch-ups that ran to an end, by result: caught_up, timed_out (reads served anyway).",
      labelNames: ["result"],
      registers: reg,
    });
    this.ackMissingTotal = new Counter({
      name: "pairgate_acknowledged_writes_missing_total",
      help: "Acknowledged transactions found missing on the secondary at failovers, summed.",
      registers: reg,
    });
    new Gauge({
      name: "pairgate_primary_fenced",
      help: "1 when the configured primary holds an older promotion epoch than one seen: it gets no writes (a newer primary exists).",
      registers: reg,
      collect() {
        this.set(snap()?.fence?.fenced ? 1 : 0);
      },
    });
    new Gauge({
      name: "pairgate_promotion_epoch_seen",
      help: "The highest promotion epoch (pairgate.fence) seen on either server (0: never promoted).",
      registers: reg,
      collect() {
        this.set(snap()?.fence?.epochSeen ?? 0);
      },
    });
    this.secondaryWritable = new Gauge({
      name: "pairgate_secondary_writable",
      help: "1 when the secondary reports read_only=0 (pairgate still never sends it a write).",
      registers: reg,
    });

    const backendSets = BACKENDS.flatMap((backend) => KINDS.map((kind) => ({ backend, kind })));
    this.queriesTotal = new HotMetric(
      "pairgate_queries_total",
      "Statements relayed, by backend and statement kind.",
      "counter",
      backendSets,
    );
    this.queryDuration = new HotHistogram(
      "pairgate_query_duration_seconds",
      "Statement time through pairgate, from the client's command to the end of the response, by backend.",
      QUERY_DURATION_BUCKETS,
      BACKENDS.map((backend) => ({ backend })),
    );
    this.writeRejections = new HotMetric(
      "pairgate_write_rejections_total",
      "Writes refused with ERR 1290 while read-only.",
      "counter",
    );
    this.authFailures = new HotMetric(
      "pairgate_auth_failures_total",
      "Client logins refused by pairgate.",
      "counter",
    );
    this.loginsThrottled = new HotMetric(
      "pairgate_login_throttled_total",
      "Client connections refused with ERR 1129 because their address is blocked after failed logins (listen.loginThrottle).",
      "counter",
    );
    this.loginBlocks = new HotMetric(
      "pairgate_login_blocks_total",
      "Times a client address was blocked for reaching listen.loginThrottle.maxFailures.",
      "counter",
    );
    this.clientConns = new HotMetric("pairgate_client_connections", "Client sessions open now.", "gauge");
    this.backendConns = new HotMetric(
      "pairgate_backend_connections",
      "Backend connections open now, by role.",
      "gauge",
      ROLES.map((role) => ({ role })),
    );
    for (const m of [
      this.queriesTotal,
      this.queryDuration,
      this.writeRejections,
      this.authFailures,
      this.loginsThrottled,
      this.loginBlocks,
      this.clientConns,
      this.backendConns,
    ]) {
      registry.registerMetric(m as unknown as Metric);
    }

    const self = this;
    new Counter({
      name: "pairgate_audit_events_total",
      help: "Audit events recorded, by operation.",
      labelNames: ["operation"],
      registers: reg,
      collect() {
        const src = self.auditSource;
        if (!src) return;
        this.reset();
        for (const [operation, n] of Object.entries(src.counts())) this.inc({ operation }, n);
      },
    });
    this.auditPending = new Gauge({
      name: "pairgate_audit_journal_pending_events",
      help: "Audit events kept in the local journal, not yet delivered to the primary.",
      registers: reg,
      collect() {
        const src = self.auditSource;
        if (src) this.set(src.pending());
      },
    });
    this.auditJournalOpen = new Gauge({
      name: "pairgate_audit_journal_open",
      help: "0 while audit is on and its journal cannot be opened (audited statements are refused; /readyz and the status page say why), else 1.",
      registers: reg,
      collect() {
        const src = self.auditSource;
        if (src) this.set(src.journalProblem === null ? 1 : 0);
      },
    });
    this.auditLastDelivery = new Gauge({
      name: "pairgate_audit_last_delivery_timestamp_seconds",
      help: "When audit events were last delivered to the primary (Unix time; 0 = never).",
      registers: reg,
      collect() {
        const src = self.auditSource;
        if (src) this.set(src.lastDeliveryAt === null ? 0 : src.lastDeliveryAt / 1000);
      },
    });
    // The chain head as a metric pair: the sequence number, and the hash's first 48 bits (exact in
    // a float; `printf "%x"` gives the 12 hex digits `pairgate audit verify --anchor SEQ:HEX` takes).
    new Gauge({
      name: "pairgate_audit_chain_head_sequence",
      help: "Sequence number of the newest durable audit event of this instance's hash chain.",
      labelNames: ["chain"],
      registers: reg,
      collect() {
        const h = self.auditSource?.chainHead?.();
        this.reset();
        if (h?.chainId) this.set({ chain: h.chainId }, h.seq);
      },
    });
    new Gauge({
      name: "pairgate_audit_chain_head_hash_prefix",
      help: "The first 48 bits of that event's chain hash, as a number (printf %x: 12 hex digits).",
      labelNames: ["chain"],
      registers: reg,
      collect() {
        const h = self.auditSource?.chainHead?.();
        this.reset();
        if (h?.chainId) this.set({ chain: h.chainId }, Number.parseInt(h.hash.slice(0, 12), 16));
      },
    });
    const verifyOk = new Gauge({
      name: "pairgate_audit_chain_verify_ok",
      help: "0 when the last background verification of the audit table found changed, deleted or inserted events, else 1.",
      registers: reg,
      collect() {
        const v = self.auditSource?.lastVerification;
        this.set(v && !v.ok ? 0 : 1);
      },
    });
    const verifyAt = new Gauge({
      name: "pairgate_audit_chain_verify_timestamp_seconds",
      help: "When the audit table was last verified in the background (Unix time; 0 = never).",
      registers: reg,
      collect() {
        const v = self.auditSource?.lastVerification;
        this.set(v ? v.at / 1000 : 0);
      },
    });
    const verifyProblems = new Gauge({
      name: "pairgate_audit_chain_verify_problems",
      help: "Findings of the last background verification (0 = the trail verified).",
      registers: reg,
      collect() {
        const v = self.auditSource?.lastVerification;
        this.set(v ? v.problemCount : 0);
      },
    });
    verifyOk.set(1);
    verifyAt.set(0);
    verifyProblems.set(0);
    // The audit catalog (names reaching an audited table, read from the server) and the copies.
    const catalogGauge = (name: string, help: string, value: (c: CatalogInfo) => number) =>
      new Gauge({
        name,
        help,
        registers: reg,
        collect() {
          const c = self.auditSource?.catalogInfo?.();
          if (c) this.set(value(c));
        },
      });
    catalogGauge(
      "pairgate_audit_catalog_derived_names",
      "Names audited because the server's catalog shows them reaching an audited table (views, routines, trigger and event targets, ...).",
      (c) => c.derivedNames,
    );
    catalogGauge(
      "pairgate_audit_catalog_objects",
      "Views, routines, triggers, events, foreign keys and remote tables in the last read of the catalog.",
      (c) => c.objects,
    );
    catalogGauge(
      "pairgate_audit_catalog_last_read_timestamp_seconds",
      "When the audit catalog was last read successfully (Unix time; 0 = never).",
      (c) => (c.lastReadAt === null ? 0 : c.lastReadAt / 1000),
    );
    catalogGauge(
      "pairgate_audit_catalog_age_seconds",
      "Seconds since the audit catalog was last read successfully (NaN before the first read).",
      (c) => (c.lastReadAt === null ? Number.NaN : Math.max(0, (Date.now() - c.lastReadAt) / 1000)),
    );
    catalogGauge(
      "pairgate_audit_catalog_read_ok",
      "0 while the last read of the audit catalog failed (the names derived before stay audited), else 1.",
      (c) => (c.lastError === null ? 1 : 0),
    );
    catalogGauge(
      "pairgate_audit_copies",
      "Tables made audited because a statement naming an audited one wrote them through pairgate (<stateDir>/audit-copies.json).",
      (c) => c.copies,
    );
    new Counter({
      name: "pairgate_audit_catalog_reads_total",
      help: "Reads of the audit catalog, by result (ok, error).",
      labelNames: ["result"],
      registers: reg,
      collect() {
        const c = self.auditSource?.catalogInfo?.();
        if (!c) return;
        this.reset();
        this.inc({ result: "ok" }, c.reads - c.failures);
        this.inc({ result: "error" }, c.failures);
      },
    });
    new Counter({
      name: "pairgate_audit_copies_not_remembered_total",
      help: "Copies of audited data not remembered because the limit (1,000) was reached: those tables are not audited.",
      registers: reg,
      collect() {
        const c = self.auditSource?.catalogInfo?.();
        if (!c) return;
        this.reset();
        this.inc(c.copiesNotRemembered);
      },
    });
    this.configReloads = new Counter({
      name: "pairgate_config_reloads_total",
      help: "Configuration reloads, by result (ok, invalid: refused and the old config kept, error).",
      labelNames: ["result"],
      registers: reg,
    });

    this.accountsRefreshes = new Counter({
      name: "pairgate_accounts_refreshes_total",
      help: "Reads of the accounts from the servers, by result (ok, error) and reason (start, interval, failed_login, statement).",
      labelNames: ["result", "reason"],
      registers: reg,
    });
    new Gauge({
      name: "pairgate_accounts",
      help: "Accounts read from the servers and held now (0 before the first read or with accounts.fromServers off).",
      registers: reg,
      collect() {
        this.set(self.accountsSource?.().accounts ?? 0);
      },
    });
    new Gauge({
      name: "pairgate_accounts_loaded_timestamp_seconds",
      help: "When the accounts held now were read (Unix time; 0 = never).",
      registers: reg,
      collect() {
        this.set((self.accountsSource?.().loadedAt ?? 0) / 1000);
      },
    });
    new Gauge({
      name: "pairgate_accounts_source",
      help: "1 for the server the accounts held now were read from (role), else 0.",
      labelNames: ["role"],
      registers: reg,
      collect() {
        const source = self.accountsSource?.().source ?? null;
        for (const role of ROLES) this.set({ role }, source === role ? 1 : 0);
      },
    });
    this.unhandledErrors = new Counter({
      name: "pairgate_unhandled_errors_total",
      help: "Errors no part of pairgate handled, caught by the process guard (kind: exception, rejection); each is a bug, logged with its stack.",
      labelNames: ["kind"],
      registers: reg,
    });

    // Every label set exists from the start, so rate() and alerts see zeros, not absences.
    for (const role of ROLES) {
      this.backendUp.set({ role }, 0);
      this.backendReadOnly.set({ role }, 0);
      this.backendCheckSeconds.set({ role }, 0);
    }
    this.setMode("down");
    this.maintenance.set(0);
    this.failovers.inc(0);
    this.failbacks.inc(0);
    this.replLag.set(Number.NaN);
    this.replIo.set(0);
    this.replSql.set(0);
    this.replContact.set(Number.NaN);
    this.secondaryWritable.set(0);
    this.auditPending.set(0);
    this.auditJournalOpen.set(1);
    this.auditLastDelivery.set(0);
    for (const result of ["ok", "invalid", "error"]) this.configReloads.inc({ result }, 0);
    for (const kind of ["exception", "rejection"]) this.unhandledErrors.inc({ kind }, 0);
    for (const result of ["caught_up", "timed_out"]) this.catchUps.inc({ result }, 0);
    this.ackMissingTotal.inc(0);
  }

  // ----- hot path: pre-bound, allocation-free -----------------------------------------------------

  /** One statement relayed to `backend`, of `kind`, taking `seconds`. */
  readonly query = (backend: QueryBackend, kind: QueryKind, seconds: number): void => {
    const b = backend === "primary" ? 0 : 1;
    this.queriesTotal.values[b * 5 + KIND_INDEX[kind]]++;
    this.queryDuration.observe(b, seconds);
  };

  /** Statements relayed to each backend since start, all kinds (the status page's traffic chart). */
  statementTotals(): { primary: number; secondary: number } {
    const v = this.queriesTotal.values;
    let primary = 0;
    let secondary = 0;
    for (let k = 0; k < 5; k++) {
      primary += v[k];
      secondary += v[5 + k];
    }
    return { primary, secondary };
  }

  /** A write refused with 1290 while read-only. */
  readonly writeRejected = (): void => {
    this.writeRejections.values[0]++;
  };

  /** A client login refused. */
  readonly authFailure = (): void => {
    this.authFailures.values[0]++;
  };

  /** A connection from a blocked address refused with ERR 1129. */
  readonly loginThrottled = (): void => {
    this.loginsThrottled.values[0]++;
  };

  /** A client address blocked by the login throttle. */
  readonly loginBlocked = (): void => {
    this.loginBlocks.values[0]++;
  };

  /** Client sessions opened (+1) or closed (-1). */
  readonly clientConnections = (delta: number): void => {
    this.clientConns.values[0] += delta;
  };

  /** Backend connections opened (+1) or closed (-1). */
  readonly backendConnections = (role: Role, delta: number): void => {
    this.backendConns.values[role === "primary" ? 0 : 1] += delta;
  };

  // ----- everything else ---------------------------------------------------------------------------

  configReload(result: ConfigReloadResult): void {
    this.configReloads.inc({ result });
  }

  /** An error escaped every owner and was caught by the process guard (process-guard.ts). */
  unhandledError(kind: "exception" | "rejection"): void {
    this.unhandledErrors.inc({ kind });
  }

  /** The audit journal's figures, read when Prometheus scrapes. */
  setAuditSource(source: AuditMetricsSource | null): void {
    this.auditSource = source;
  }

  private accountsSource: (() => { accounts: number; loadedAt: number | null; source: Role | null }) | null =
    null;
  private readonly accountsRefreshes: Counter<"result" | "reason">;

  /** The account cache's figures, read when Prometheus scrapes (counts only: no name, no hash). */
  setAccountsSource(source: () => { accounts: number; loadedAt: number | null; source: Role | null }): void {
    this.accountsSource = source;
  }

  /** A read of the accounts from the servers finished. */
  accountsRefresh(ok: boolean, reason: string): void {
    this.accountsRefreshes.inc({ result: ok ? "ok" : "error", reason });
  }

  /** Follow the monitor's events. Returns a function that stops following. */
  attachTopology(topology: Topology): () => void {
    this.detachTopology?.();
    const onCheck = (role: Role, h: BackendHealth) => this.onCheck(role, h);
    const onTransition = (t: Transition) => this.onTransition(t, topology);
    const onCatchUp = (r: CatchUpReport) => {
      this.catchUps.inc({ result: r.status.state });
      if (r.acknowledgedMissing.length) this.ackMissingTotal.inc(r.status.missingCount);
    };
    this.topologyRef = topology;
    topology.on("check", onCheck);
    topology.on("transition", onTransition);
    topology.on("catchUp", onCatchUp);
    const snap = topology.snapshot();
    this.onCheck("primary", snap.primary);
    this.onCheck("secondary", snap.secondary);
    this.setMode(snap.mode);
    this.maintenance.set(snap.maintenance ? 1 : 0);
    this.modeSince.set(snap.since / 1000);
    const detach = () => {
      topology.off("check", onCheck);
      topology.off("transition", onTransition);
      topology.off("catchUp", onCatchUp);
      if (this.topologyRef === topology) this.topologyRef = null;
      if (this.detachTopology === detach) this.detachTopology = null;
    };
    this.detachTopology = detach;
    return detach;
  }

  async render(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  private setMode(mode: Mode): void {
    for (const m of MODES) this.mode.set({ mode: m }, m === mode ? 1 : 0);
  }

  private onTransition(t: Transition, topology: Topology): void {
    this.setMode(t.to);
    this.modeSince.set(t.at / 1000);
    this.maintenance.set(topology.inMaintenance ? 1 : 0);
    this.transitions.inc({ from: t.from, to: t.to });
    if (t.kind === "failover") {
      this.failovers.inc();
      this.detection.observe(t.detectionSeconds);
    } else if (t.kind === "failback") {
      this.failbacks.inc();
    }
  }

  private onCheck(role: Role, h: BackendHealth): void {
    this.backendUp.set({ role }, h.up ? 1 : 0);
    if (h.readOnly !== null) this.backendReadOnly.set({ role }, h.readOnly ? 1 : 0);
    if (h.lastCheckMs !== null) this.backendCheckSeconds.set({ role }, h.lastCheckMs / 1000);
    if (role !== "secondary") return;
    this.secondaryWritable.set(h.up && h.readOnly === false ? 1 : 0);
    const r = h.replication;
    if (h.up && r) {
      this.replIo.set(r.ioRunning === "Yes" ? 1 : 0);
      this.replSql.set(r.sqlRunning === "Yes" ? 1 : 0);
      this.replLag.set(r.secondsBehind ?? Number.NaN);
      this.replContact.set(r.secondsSinceMasterContact ?? Number.NaN);
      this.secondaryLocalGtids.set(r.localGtids ? r.localGtids.length : Number.NaN);
    } else if (!h.up || h.lastError === null) {
      // Unreachable, or reachable but not replicating at all.
      this.replIo.set(0);
      this.replSql.set(0);
      this.replLag.set(Number.NaN);
      this.replContact.set(Number.NaN);
    }
  }
}
