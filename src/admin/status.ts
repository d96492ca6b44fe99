/**
 * The status document: what `/status` returns, what the HA page renders and what `pairgate status`
 * prints. Built from the topology's snapshot; the words follow the seed's HA page
 * ("Connection Status: Alive and High Availability Live is in progress now").
 */
import type { AuditCatalogInfo } from "../audit/index.js";
import { sameEndpoint } from "../config/endpoint.js";
import type { SemiSyncStatus } from "../topology/server-status.js";
import type {
  BackendHealth,
  CatchUpStatus,
  FenceStatus,
  Mode,
  PairStatus,
  ReplicationStatus,
  Transition,
} from "../topology/types.js";

export interface StatusBackend {
  role: "primary" | "secondary";
  host: string;
  port: number;
  up: boolean;
  readOnly: boolean | null;
  serverId: number | null;
  version: string | null;
  lastCheckAt: string | null;
  lastCheckMs: number | null;
  lastOkAt: string | null;
  lastError: string | null;
  /** The up/down state holds since. */
  since: string;
}

export interface StatusTransition {
  from: Mode;
  to: Mode;
  at: string;
  cause: string;
  detectionSeconds: number;
}

export interface StatusDocument {
  /** read_write | read_only | down */
  mode: Mode;
  /** "Alive" | "Read-only" | "Down": the seed's "Connection Status". */
  connectionStatus: string;
  /** The sentence after it. */
  headline: string;
  /** "Secondary server is running in host: …" and its kin: one line each. */
  details: string[];
  /** Things an operator should look at even when traffic flows. */
  warnings: string[];
  maintenance: boolean;
  /** Which backend serves reads now. */
  readRole: "primary" | "secondary" | null;
  since: string;
  primary: StatusBackend;
  secondary: StatusBackend;
  /** The secondary's replication, null if it does not replicate (or cannot be read). */
  replication: ReplicationStatus | null;
  lastFailover: StatusTransition | null;
  lastFailback: StatusTransition | null;
  /**
   * `journalProblem`: why the journal is not open (audited statements are refused until it is).
   * `chain`: this instance's hash-chain head; `verification`: the last background check of the table.
   */
  audit: {
    pending: number;
    lastDeliveryAt: string | null;
    journalProblem: string | null;
    chain?: { chainId: string; seq: number; hash: string; alg: string; at: string | null } | null;
    /** The last background verification, its time as an ISO string. */
    verification?: (Omit<StatusVerificationInput, "at"> & { at: string }) | null;
    /**
     * The names audited beyond the rules: derived from the server's catalog (its last read, its
     * age, failed reads) and the copies made through pairgate (<stateDir>/audit-copies.json).
     */
    catalog?: StatusAuditCatalog | null;
  } | null;
  /** Consistency at failover: is the pair lossless now, the last catch-up, the split-brain fence. */
  consistency: {
    /** true: semi-sync active (an acknowledged commit is on the secondary too); false: asynchronous now; null: unknown. */
    lossless: boolean | null;
    losslessReason: string;
    losslessSince: string;
    /** The primary's semi-sync status and settings (null: none or not read). */
    semiSync: SemiSyncStatus | null;
    /** The catch-up at the last failover (times as ISO strings). */
    catchUp: Omit<CatchUpStatus, "startedAt" | "endedAt"> & {
      startedAt: string | null;
      endedAt: string | null;
    };
    fence: FenceStatus;
  };
  sessions: number | null;
  /**
   * Where logins are checked: how many users the config lists, and the accounts read from the
   * servers (null when accounts.fromServers is off) — counts, source and times, never a name or hash.
   */
  accounts: StatusAccounts | null;
  config: object | null;
  generatedAt: string;
  uptimeSeconds: number;
}

export interface StatusAccounts {
  configUsers: number;
  fromServers: {
    accounts: number;
    source: "primary" | "secondary" | null;
    loadedAt: string | null;
    serverKind: string | null;
    lastAttemptAt: string | null;
    lastError: string | null;
    refreshes: number;
    failures: number;
  } | null;
}

/** What proxy.ts reports of its accounts (times as epoch ms). */
export interface AccountsInfo {
  configUsers: number;
  fromServers: {
    accounts: number;
    source: "primary" | "secondary" | null;
    loadedAt: number | null;
    serverKind: string | null;
    lastAttemptAt: number | null;
    lastError: string | null;
    refreshes: number;
    failures: number;
  } | null;
}

const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());

function backend(h: BackendHealth): StatusBackend {
  return {
    role: h.role,
    host: h.host,
    port: h.port,
    up: h.up,
    readOnly: h.readOnly,
    serverId: h.serverId,
    version: h.version,
    lastCheckAt: iso(h.lastCheckAt),
    lastCheckMs: h.lastCheckMs,
    lastOkAt: iso(h.lastOkAt),
    lastError: h.lastError,
    since: new Date(h.since).toISOString(),
  };
}

function transition(t: Transition | null): StatusTransition | null {
  if (!t) return null;
  return {
    from: t.from,
    to: t.to,
    at: new Date(t.at).toISOString(),
    cause: t.cause,
    detectionSeconds: t.detectionSeconds,
  };
}

const hostPort = (h: { host: string; port: number }) => `${h.host}:${h.port}`;

export interface StatusChainHead {
  chainId: string;
  seq: number;
  hash: string;
  alg: string;
  at: number | null;
}

export interface StatusVerificationInput {
  at: number;
  ok: boolean;
  events: number;
  problemCount: number;
  problems: string[];
  error: string | null;
  chains: Array<{ chainId: string; instanceIds: string[]; sites: string[]; seq: number; hash: string }>;
}

export interface StatusAuditCatalog {
  derivedNames: number;
  objects: number;
  lastReadAt: string | null;
  /** Seconds since the last good read, null before one. */
  ageSeconds: number | null;
  lastError: string | null;
  reads: number;
  failures: number;
  copies: number;
  copiesNotRemembered: number;
}

/** What the audit reports about its catalog (Audit.catalogInfo), times in epoch ms. */
export type StatusAuditCatalogInput = AuditCatalogInfo;

export interface StatusInputs {
  snapshot: PairStatus;
  audit?: {
    pending(): number;
    lastDeliveryAt: number | null;
    readonly journalProblem?: string | null;
    chainHead?(): StatusChainHead | null;
    readonly lastVerification?: StatusVerificationInput | null;
    catalogInfo?(): StatusAuditCatalogInput;
  } | null;
  sessions?: (() => number) | null;
  configInfo?: (() => object) | null;
  accounts?: (() => AccountsInfo) | null;
  /** Lag above which a warning is shown. */
  lagWarningSeconds?: number;
}

export function buildStatus(inputs: StatusInputs, now = Date.now()): StatusDocument {
  const s = inputs.snapshot;
  const p = s.primary;
  const sec = s.secondary;
  // After `pairgate promote` the config names the promoted server twice: there is no secondary.
  const alone = sameEndpoint(p, sec);
  const rep = sec.up && !alone ? sec.replication : null;
  const details: string[] = [];
  const warnings: string[] = [];
  let connectionStatus: string;
  let headline: string;

  if (s.mode === "read_write") {
    connectionStatus = "Alive";
    if (alone) {
      headline =
        "the promoted server serves reads and writes alone: there is no secondary, so High Availability is not protecting you until one is set up";
    } else if (sec.up && rep && rep.ioRunning === "Yes" && rep.sqlRunning === "Yes") {
      headline = "High Availability Live is in progress now";
    } else if (sec.up) {
      headline = "the primary serves reads and writes; replication to the secondary is not running";
    } else {
      headline =
        "the primary serves reads and writes; the secondary is unreachable, so High Availability is not protecting you now";
    }
  } else if (s.mode === "read_only") {
    connectionStatus = "Read-only";
    if (s.maintenance) {
      headline = "planned maintenance: the service is read-only on purpose; writes are refused until it ends";
    } else if (p.up && s.fence.fenced) {
      headline =
        "the configured primary is fenced (a newer promotion exists): reads are served, writes are refused — point this pairgate at the promoted server";
    } else if (p.up && p.readOnly) {
      headline = "the primary reports read_only=1: the service is read-only; writes are refused";
    } else if (p.up && s.failbackHold) {
      headline = `the primary answers again; read_write resumes once the secondary has caught up (waiting for ${s.failbackHold.waitingFor})`;
    } else {
      headline =
        "the primary is unavailable; the secondary gives emergency read-only access; writes are refused until the primary is back";
      // How stale the reads may be: the secondary has nothing newer than its last contact.
      if (rep?.secondsSinceMasterContact != null)
        headline += ` — its data is as of its last contact with the primary, ${rep.secondsSinceMasterContact} s ago`;
    }
  } else {
    connectionStatus = "Down";
    headline = "neither server can serve: clients get a clear error until one of them answers";
  }

  if (alone) details.push("No secondary is configured (the state `pairgate promote` leaves)");
  else if (sec.up) details.push(`Secondary server is running in host: ${hostPort(sec)}`);
  else
    details.push(
      `Secondary server at ${hostPort(sec)} is not answering${sec.lastError ? `: ${sec.lastError}` : ""}`,
    );
  if (p.up) {
    details.push(`Primary server is running in host: ${hostPort(p)}${p.readOnly ? " (read_only=1)" : ""}`);
  } else {
    details.push(`Primary server at ${hostPort(p)} is not answering${p.lastError ? `: ${p.lastError}` : ""}`);
  }
  if (s.readRole)
    details.push(
      `Reads are served by the ${s.readRole}; writes ${s.mode === "read_write" ? "go to the primary" : "are refused (ERR 1290)"}`,
    );
  if (rep) {
    const lag = rep.secondsBehind === null ? "unknown" : `${rep.secondsBehind} s`;
    details.push(`Replication: IO thread ${rep.ioRunning}, SQL thread ${rep.sqlRunning}, ${lag} behind`);
    if (rep.secondsSinceMasterContact !== null) {
      details.push(`The secondary last heard from the primary ${rep.secondsSinceMasterContact} s ago`);
    }
  }

  if (alone) {
    warnings.push(
      'No secondary: set one up with `pairgate replication setup` and write it under "secondary" in the config, then reload (SIGHUP).',
    );
  } else if (sec.up && sec.readOnly === false) {
    warnings.push(
      "The secondary reports read_only=0: privileged users could write to it (pairgate never does). Set read_only=1 there.",
    );
  }
  if (!alone && sec.up && !sec.replication)
    warnings.push("The secondary does not report any replication status.");
  if (rep && rep.ioRunning !== "Yes" && p.up)
    warnings.push(
      `Replication IO thread is ${rep.ioRunning}${rep.lastIoError ? `: ${rep.lastIoError}` : ""}`,
    );
  if (rep && rep.sqlRunning !== "Yes")
    warnings.push(
      `Replication SQL thread is ${rep.sqlRunning}${rep.lastSqlError ? `: ${rep.lastSqlError}` : ""}`,
    );
  if (rep && !rep.sslAllowed) warnings.push("Replication is not encrypted (Master_SSL_Allowed=No).");
  const local = sec.up ? sec.replication?.localGtids : undefined;
  if (local?.length)
    warnings.push(
      `The secondary has transactions of its own (${local.slice(0, 5).join(", ")}${local.length > 5 ? ", …" : ""}): something wrote on it, not through replication. Its data may differ from the primary's; find the writer before the next failover.`,
    );
  const lagWarn = inputs.lagWarningSeconds ?? 30;
  if (rep && rep.secondsBehind !== null && rep.secondsBehind > lagWarn)
    warnings.push(`The secondary is ${rep.secondsBehind} s behind the primary.`);

  const cu = s.catchUp;
  if (!alone && s.mode === "read_write") {
    if (s.lossless.lossless === true) details.push(`Replication is lossless: ${s.lossless.reason}`);
    else if (s.lossless.lossless === false)
      warnings.push(`Replication is NOT lossless: ${s.lossless.reason}`);
  }
  if (cu.state === "waiting") details.push("Reads wait for the secondary to catch up (failover in progress)");
  else if (cu.state !== "idle")
    details.push(
      `Last failover's catch-up: ${cu.state.replace("_", " ")}${cu.waitedMs === null ? "" : ` after ${cu.waitedMs} ms`}`,
    );
  if (cu.missing.length)
    warnings.push(
      `At the last failover the secondary lacked ${cu.missingCount} transaction(s) (${cu.missing.join(", ")}) — acknowledged or received before the primary was lost.`,
    );
  if (s.fence.fenced) warnings.push(s.fence.fenced);

  let audit: StatusDocument["audit"] = null;
  if (inputs.audit) {
    audit = {
      pending: inputs.audit.pending(),
      lastDeliveryAt: iso(inputs.audit.lastDeliveryAt),
      journalProblem: inputs.audit.journalProblem ?? null,
    };
    const head = inputs.audit.chainHead?.() ?? null;
    audit.chain = head?.chainId ? { ...head, at: iso(head.at) } : null;
    const v = inputs.audit.lastVerification ?? null;
    audit.verification = v ? { ...v, at: new Date(v.at).toISOString() } : null;
    if (v && !v.ok)
      warnings.unshift(
        `The audit trail was changed: the last verification of the audit table found ${v.problemCount} problem(s) (${v.problems[0] ?? ""}). Run \`pairgate audit verify\`.`,
      );
    const cat = inputs.audit.catalogInfo?.() ?? null;
    audit.catalog = cat
      ? {
          ...cat,
          lastReadAt: iso(cat.lastReadAt),
          ageSeconds: cat.lastReadAt === null ? null : Math.max(0, Math.round((now - cat.lastReadAt) / 1000)),
        }
      : null;
    if (cat?.lastError)
      warnings.push(
        `Audit catalog cannot be read (${cat.lastError}): the names derived ${cat.lastReadAt === null ? "— none yet —" : "at the last good read"} stay audited; views, routines or triggers created since are not known.`,
      );
    if (cat && cat.copiesNotRemembered > 0)
      warnings.push(
        `Audit: ${cat.copiesNotRemembered} copy(ies) of audited data not remembered (the limit of copies was reached): those tables are not audited; list them in audit.rules.`,
      );
    if (audit.journalProblem) {
      warnings.unshift(
        `Audit journal unavailable: ${audit.journalProblem}. Audited statements are refused; pairgate retries every second.`,
      );
    }
    if (audit.pending > 0 && s.mode === "read_write") {
      details.push(`Audit: ${audit.pending} event(s) waiting for delivery to the primary`);
    } else if (audit.pending > 0) {
      details.push(`Audit: ${audit.pending} event(s) kept safe on local disk until the primary is back`);
    }
  }

  return {
    mode: s.mode,
    connectionStatus,
    headline,
    details,
    warnings,
    maintenance: s.maintenance,
    readRole: s.readRole,
    since: new Date(s.since).toISOString(),
    primary: backend(p),
    secondary: { ...backend(sec) },
    replication: sec.replication,
    lastFailover: transition(s.lastFailover),
    lastFailback: transition(s.lastFailback),
    audit,
    consistency: {
      lossless: s.lossless.lossless,
      losslessReason: s.lossless.reason,
      losslessSince: new Date(s.lossless.since).toISOString(),
      semiSync: p.semiSync,
      catchUp: { ...cu, startedAt: iso(cu.startedAt), endedAt: iso(cu.endedAt) },
      fence: s.fence,
    },
    sessions: inputs.sessions ? inputs.sessions() : null,
    accounts: accountsDoc(inputs.accounts?.() ?? null, warnings),
    config: inputs.configInfo ? inputs.configInfo() : null,
    generatedAt: new Date(now).toISOString(),
    uptimeSeconds: Math.round(process.uptime()),
  };
}

function accountsDoc(a: AccountsInfo | null, warnings: string[]): StatusAccounts | null {
  if (!a) return null;
  const f = a.fromServers;
  if (f?.lastError)
    warnings.push(
      `The accounts could not be read from the servers (${f.lastError}); ${f.loadedAt === null ? "none held yet: only the config's users can log in" : `the ${f.accounts} read from the ${f.source} at ${iso(f.loadedAt)} are kept`}.`,
    );
  return {
    configUsers: a.configUsers,
    fromServers: f ? { ...f, loadedAt: iso(f.loadedAt), lastAttemptAt: iso(f.lastAttemptAt) } : null,
  };
}

function ago(isoTime: string | null, now: number): string {
  if (!isoTime) return "never";
  const s = Math.max(0, (now - Date.parse(isoTime)) / 1000);
  if (s < 1) return "just now";
  if (s < 120) return `${Math.round(s)} s ago`;
  if (s < 7200) return `${Math.round(s / 60)} min ago`;
  if (s < 172800) return `${Math.round(s / 3600)} h ago`;
  return `${Math.round(s / 86400)} days ago`;
}

const yesNo = (b: boolean | null) => (b === null ? "?" : b ? "ON" : "OFF");

/** The terminal summary (`pairgate status`). */
export function formatStatusText(doc: StatusDocument, now = Date.now()): string {
  const lines: string[] = [];
  lines.push(`Connection Status: ${doc.connectionStatus} — ${doc.headline}`);
  lines.push(
    `Mode: ${doc.mode}${doc.maintenance ? " (maintenance)" : ""} since ${doc.since} (${ago(doc.since, now)})`,
  );
  for (const d of doc.details) lines.push(d);
  lines.push("");
  for (const b of [doc.primary, doc.secondary]) {
    const state = b.up ? "UP  " : "DOWN";
    const extra = b.up
      ? `read_only=${yesNo(b.readOnly)}  server_id=${b.serverId ?? "?"}  ${b.version ?? ""}`
      : `${b.lastError ?? "not checked yet"}`;
    lines.push(`${b.role.padEnd(9)} ${`${b.host}:${b.port}`.padEnd(22)} ${state}  ${extra}`.trimEnd());
  }
  const r = doc.replication;
  if (r) {
    lines.push("");
    lines.push(
      `replication  IO ${r.ioRunning}  SQL ${r.sqlRunning}  behind ${r.secondsBehind ?? "-"} s  TLS ${r.sslAllowed ? "yes" : "NO"}` +
        `  last heard from primary ${r.secondsSinceMasterContact === null ? "?" : `${r.secondsSinceMasterContact} s ago`}`,
    );
    if (r.gtidIoPos || r.gtidExecuted)
      lines.push(`             GTID received ${r.gtidIoPos || "-"}  executed ${r.gtidExecuted || "-"}`);
    if (r.lastIoError) lines.push(`             last IO error: ${r.lastIoError}`);
    if (r.lastSqlError) lines.push(`             last SQL error: ${r.lastSqlError}`);
  }
  lines.push("");
  const t = (label: string, x: StatusTransition | null) =>
    x
      ? `${label} ${x.at} (${ago(x.at, now)}): ${x.cause}; detected in ${x.detectionSeconds.toFixed(3)} s`
      : `${label} none`;
  lines.push(t("last failover:", doc.lastFailover));
  lines.push(t("last failback:", doc.lastFailback));
  if (doc.audit) {
    lines.push(
      `audit backlog: ${doc.audit.pending} event(s); last delivery ${ago(doc.audit.lastDeliveryAt, now)}`,
    );
    const ch = doc.audit.chain;
    if (ch) lines.push(`audit chain: ${ch.chainId} head seq ${ch.seq} hash ${ch.hash} (${ch.alg})`);
    const cat = doc.audit.catalog;
    if (cat)
      lines.push(
        `audit catalog: ${cat.derivedNames} derived name(s) from ${cat.objects} object(s), read ${ago(cat.lastReadAt, now)}` +
          `${cat.failures ? `, ${cat.failures} of ${cat.reads} read(s) failed` : ""}${cat.lastError ? ` (last: ${cat.lastError})` : ""}; ${cat.copies} cop(ies)`,
      );
    const v = doc.audit.verification;
    if (v)
      lines.push(
        `audit verification: ${v.ok ? "OK" : "FAILED"} ${ago(v.at, now)}, ${v.events} event(s)${v.problemCount ? `, ${v.problemCount} problem(s)` : ""}${v.error ? `; last attempt failed: ${v.error}` : ""}`,
      );
  }
  const c = doc.consistency;
  lines.push(
    `lossless: ${c.lossless === null ? "unknown" : c.lossless ? "yes" : "NO"} — ${c.losslessReason}`,
  );
  if (c.catchUp.state !== "idle")
    lines.push(
      `last catch-up: ${c.catchUp.state}${c.catchUp.waitedMs === null ? "" : ` (${c.catchUp.waitedMs} ms)`}` +
        `${c.catchUp.missing.length ? `; missing ${c.catchUp.missing.join(", ")}` : ""}`,
    );
  if (c.fence.epochSeen > 0)
    lines.push(
      `promotion epoch seen: ${c.fence.epochSeen} on ${c.fence.seenOn}${c.fence.fenced ? " — FENCED" : ""}`,
    );
  if (doc.sessions !== null) lines.push(`client sessions: ${doc.sessions}`);
  const a = doc.accounts?.fromServers;
  if (a)
    lines.push(
      `accounts: ${a.accounts} read from the ${a.source ?? "servers: none yet"}${a.loadedAt ? ` ${ago(a.loadedAt, now)}` : ""}` +
        `${doc.accounts!.configUsers ? `; ${doc.accounts!.configUsers} user(s) in the config` : ""}`,
    );
  for (const w of doc.warnings) lines.push(`WARNING: ${w}`);
  return `${lines.join("\n")}\n`;
}
