/**
 * The audit facade the proxy composes: rules to recognise audited statements, a durable journal,
 * the audit log, and delivery to the primary's audit table.
 *
 *   const audit = new Audit({ config, logger, tablesOf });
 *   await audit.start({ isPrimaryUp: () => topology.mode === "read_write" });
 *   // per statement:
 *   const m = audit.matchStatement(sql, session.schema);           // null for almost every statement
 *   if (m) await audit.record({ operation: m.operation, object: m.object, objectKey: m.key, ... });
 *   // a JournalError (code PAIRGATE_AUDIT_JOURNAL_FAILED) there: refuse if audit.refuseOnJournalFailure
 */

import * as fsp from "node:fs/promises";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import type { Connection } from "mysql2/promise";
import mysql from "mysql2/promise";
import type { Logger } from "pino";
import type { Transition } from "../topology/types.js";
import { AuditedBytes, type ByteSearch } from "./byte-search.js";
import { type ServiceBackend, serviceConnectionOptions } from "./catalog.js";
import { type ChainHead, ChainWriter, loadChainKey } from "./chain.js";
import { Delivery, type DeliveryHooks, hashedValues } from "./delivery.js";
import { type AuditEvent, type AuditEventInput, completeEvent, UuidV7 } from "./event.js";
import { Journal, JournalError, type JournalIo } from "./journal.js";
import { type AuditLog, createAuditLog } from "./log.js";
import { sourceSearchWords } from "./presence.js";
import {
  type AuditContext,
  type AuditedNames,
  type AuditRuleConfig,
  AuditRules,
  CaptureTables,
  type RuleMatch,
  type TablesOf,
} from "./rules.js";
import { runVerify } from "./verify-run.js";

export { AuditCatalog, catalogConnection } from "./catalog.js";
export type { ChainHead } from "./chain.js";
export { COPIES_FILE, CopiesStore } from "./copies-store.js";
export type { AuditEvent, AuditEventInput, AuditOperation, AuditOutcome } from "./event.js";
export { JOURNAL_FAILED, JournalError } from "./journal.js";
export type { AuditContext, RuleMatch, TablesOf } from "./rules.js";
export { AuditedNames, UNRESOLVED_OPERATION } from "./rules.js";

/** The parts of the config audit reads (a full `Config` fits). */
export interface AuditConfig {
  audit: {
    enabled: boolean;
    journalDir: string;
    table: string;
    rules: readonly AuditRuleConfig[];
    captureTables: readonly string[];
    unresolved?: "audit" | "refuse";
    safeRoutines?: readonly string[];
    onJournalFailure: "refuse" | "allow";
    groupCommitMs: number;
    deliveryBatchSize: number;
    deliveryIntervalMs: number;
    logFile?: string;
    chain?: {
      keyFile?: string;
      keyEnv?: string;
      anchorFile?: string;
      anchorIntervalMs?: number;
      verifyIntervalMs?: number;
      verifyRange?: number;
    };
  };
  instanceId?: string;
  site: string;
  primary: ServiceBackend;
  /** Relative paths resolve against this (the config file's folder). */
  baseDir?: string;
}

export interface AuditOptions {
  config: AuditConfig;
  logger: Logger;
  /** The classifier's `tablesOf` (src/sql). */
  tablesOf: TablesOf;
  /** Connection to the primary for delivery; default: mysql2 with config.primary (the service account). */
  connect?: () => Promise<Connection>;
  /** Tests: injected fsync/write, a tiny segment size, delivery hooks, an audit log to a stream. */
  journalIo?: Partial<JournalIo>;
  segmentBytes?: number;
  hooks?: DeliveryHooks;
  auditLog?: AuditLog;
  /** Audited names beyond the rules' (the server's catalog, copies): kept across config reloads. */
  names?: AuditedNames;
}

export interface AuditStartOptions {
  /** Delivery makes no periodic attempt while this says false. */
  isPrimaryUp?: () => boolean;
  /** Subscribe to "the primary became available" (deliver at once); may return an unsubscribe function. */
  onPrimaryUp?: (listener: () => void) => (() => void) | undefined;
}

/** The outcome of the last background verification of the audit table (status page, metrics). */
export interface ChainVerification {
  at: number;
  ok: boolean;
  durationMs: number;
  events: number;
  /** Heads of the chains found in the table. */
  chains: Array<{ chainId: string; instanceIds: string[]; sites: string[]; seq: number; hash: string }>;
  /** The first findings, as verify prints them. */
  problems: string[];
  problemCount: number;
  /** The verification could not run (primary unreachable, …): not a finding. */
  error: string | null;
}

/** A journal that could not be opened is retried this often in the background until it opens. */
const REOPEN_INTERVAL_MS = 1000;
/** record() itself tries again when the last attempt is at least this old (the lock may just have been freed). */
const RECORD_REOPEN_MS = 100;

/** What `Audit.catalogInfo` reports. */
export interface AuditCatalogInfo {
  /** Names audited because the catalog shows them reaching an audited table (views, routines, …). */
  derivedNames: number;
  /** Objects (views, routines, triggers, events, foreign keys, remote tables) in the last read. */
  objects: number;
  /** When the catalog was last read successfully (epoch ms), null before. */
  lastReadAt: number | null;
  /** Why the last read failed, null when it succeeded. */
  lastError: string | null;
  /** Reads since start; failed ones. */
  reads: number;
  failures: number;
  /** Copies of audited data made through pairgate, remembered (at most MAX_COPIES). */
  copies: number;
  /** Copies not remembered because the limit was reached. */
  copiesNotRemembered: number;
}

export class Audit {
  readonly instanceId: string;
  readonly site: string;
  readonly #cfg: AuditConfig;
  readonly #o: AuditOptions;
  readonly #log: Logger;
  #rules: AuditRules;
  #capture: CaptureTables;
  #bytes: AuditedBytes;
  /** The audited names #bytes was built with (catalog and copies included). */
  #bytesKey = "";
  /** The rules as configured (the byte search is rebuilt from them). */
  #ruleConfigs: readonly AuditRuleConfig[];
  readonly #ids = new UuidV7();
  readonly #counts: Record<string, number> = Object.create(null);
  readonly journalDir: string;
  #journal: Journal<AuditEvent> | null = null;
  #journalError: JournalError | null = null;
  #lastOpenAttempt = 0;
  #opening: Promise<void> | null = null;
  #openFailures = 0;
  #retryTimer: NodeJS.Timeout | null = null;
  #auditLog: AuditLog | null = null;
  #delivery: Delivery | null = null;
  #unsubscribe: (() => void) | undefined;
  #failures = 0;
  #stopped = false;
  #chain: ChainWriter | null = null;
  #anchorTimer: NodeJS.Timeout | null = null;
  #anchoredSeq = -1;
  #anchorFile: string;
  #verifyTimer: NodeJS.Timeout | null = null;
  #verifying: Promise<ChainVerification | null> | null = null;
  lastVerification: ChainVerification | null = null;

  constructor(opts: AuditOptions) {
    this.#o = opts;
    this.#cfg = opts.config;
    this.#log = opts.logger.child({ part: "audit" });
    this.instanceId = opts.config.instanceId ?? hostname();
    this.site = opts.config.site;
    const base = opts.config.baseDir ?? process.cwd();
    this.journalDir = resolve(base, opts.config.audit.journalDir);
    this.#rules = new AuditRules(opts.config.audit.rules, opts.tablesOf, opts.config.audit, opts.names);
    this.#capture = new CaptureTables(opts.config.audit.captureTables, opts.tablesOf);
    const anchor = opts.config.audit.chain?.anchorFile;
    this.#anchorFile = anchor ? resolve(base, anchor) : join(this.journalDir, "anchors.jsonl");
    this.#ruleConfigs = opts.config.audit.rules;
    this.#bytes = new AuditedBytes(opts.config.audit.rules, opts.config.audit);
  }

  get enabled(): boolean {
    return this.#cfg.audit.enabled;
  }

  /** `audit.onJournalFailure === "refuse"`: refuse an audited statement whose event could not be made durable. */
  get refuseOnJournalFailure(): boolean {
    return this.#cfg.audit.onJournalFailure === "refuse";
  }

  /**
   * Open the journal and the audit log. A journal that cannot be opened does not throw: the audit
   * is unhealthy, record() rejects with JournalError (and retries opening), the rest of the proxy runs.
   */
  async open(): Promise<void> {
    if (!this.enabled) return;
    if (!this.#auditLog) {
      this.#auditLog =
        this.#o.auditLog ??
        createAuditLog(
          this.#cfg.audit.logFile
            ? resolve(this.#cfg.baseDir ?? process.cwd(), this.#cfg.audit.logFile)
            : join(this.journalDir, "audit.log"),
          (e) =>
            this.#log.error(
              { err: e.message },
              "audit log file cannot be written; audit events still go to the journal",
            ),
        );
    }
    await this.#openJournal();
  }

  #openJournal(): Promise<void> {
    this.#opening ??= (async () => {
      // Yield first: a body that fails without awaiting would run its `finally` (clearing
      // #opening) before `??=` stores this promise, and no open would ever be tried again.
      await Promise.resolve();
      this.#lastOpenAttempt = Date.now();
      try {
        // The key is read at each attempt: a key file fixed while pairgate runs is picked up.
        let key: ReturnType<typeof loadChainKey>;
        try {
          key = loadChainKey(this.#cfg.audit.chain ?? {}, this.#cfg.baseDir ?? process.cwd());
        } catch (e) {
          throw new JournalError((e as Error).message, "ECHAINKEY", { cause: e });
        }
        const chain = new ChainWriter({ dir: this.journalDir, key, rowValues: hashedValues });
        this.#journal = await Journal.open<AuditEvent>({
          dir: this.journalDir,
          logger: this.#log,
          groupCommitMs: this.#cfg.audit.groupCommitMs,
          segmentBytes: this.#o.segmentBytes,
          io: this.#o.journalIo,
          sealer: chain,
        });
        this.#chain = chain;
        if (this.#openFailures > 0) {
          this.#log.info(
            { dir: this.journalDir, failedAttempts: this.#openFailures },
            "audit journal opened; audited statements are served again",
          );
        }
        this.#journalError = null;
        this.#openFailures = 0;
        if (this.#stopped) {
          // stop() ran while this open was under way: let the folder go again.
          const j = this.#journal;
          this.#journal = null;
          await j.close();
        } else if (this.#started) this.#startDelivery();
      } catch (e) {
        this.#journalError =
          e instanceof JournalError ? e : new JournalError((e as Error).message, "EUNKNOWN", { cause: e });
        // The first failure is an error; the retries every second repeat it only once a minute.
        if (this.#openFailures % 60 === 0) {
          this.#log.error(
            { err: this.#journalError.message, dir: this.journalDir, attempts: this.#openFailures + 1 },
            "audit journal unavailable; audited statements fail; retrying every second",
          );
        }
        this.#openFailures++;
        this.#scheduleRetry();
      } finally {
        this.#opening = null;
      }
    })();
    return this.#opening;
  }

  #scheduleRetry(): void {
    if (this.#stopped || this.#retryTimer) return;
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = null;
      if (this.#journal === null && !this.#stopped) void this.#openJournal();
    }, REOPEN_INTERVAL_MS);
    this.#retryTimer.unref();
  }

  /** Why the journal is not open (null when it is, or audit is off): for /readyz and the status page. */
  get journalProblem(): string | null {
    if (!this.enabled || this.#journal !== null) return null;
    return this.#journalError?.message ?? "the audit journal is not open yet";
  }

  #started: AuditStartOptions | null = null;

  /** Open (if not yet) and start delivery to the primary. */
  async start(opts: AuditStartOptions = {}): Promise<void> {
    if (!this.enabled) return;
    this.#started = opts;
    this.#stopped = false;
    await this.open();
    this.#startDelivery();
    this.#unsubscribe = opts.onPrimaryUp?.(() => this.primaryAvailable()) ?? undefined;
    const c = this.#cfg.audit.chain;
    if (!this.#anchorTimer) {
      this.#anchorTimer = setInterval(
        () => void this.publishAnchor("interval"),
        c?.anchorIntervalMs ?? 60_000,
      );
      this.#anchorTimer.unref();
    }
    const every = c?.verifyIntervalMs ?? 0;
    if (every > 0 && !this.#verifyTimer) {
      // The first check a minute after start (the status page has something to show), then every interval.
      const run = (next: number) => {
        this.#verifyTimer = setTimeout(() => {
          if (!this.#started?.isPrimaryUp || this.#started.isPrimaryUp()) void this.verifyNow();
          if (!this.#stopped) run(every);
        }, next);
        this.#verifyTimer.unref();
      };
      run(Math.min(every, 60_000));
    }
  }

  /** This instance's chain head (the newest durable event), null before the journal opened. */
  chainHead(): ChainHead | null {
    return this.#chain?.head() ?? null;
  }

  /** Where chain heads are appended. */
  get anchorFile(): string {
    return this.#anchorFile;
  }

  /**
   * Publish the chain head: a log line and a line in the anchor file (at an interval when it moved,
   * and at shutdown). Kept outside the database, so truncating the newest rows is detectable.
   */
  async publishAnchor(reason: "interval" | "shutdown" | "request"): Promise<void> {
    const h = this.chainHead();
    if (!h || h.seq === 0 || (reason === "interval" && h.seq === this.#anchoredSeq)) return;
    this.#anchoredSeq = h.seq;
    const line = {
      at: new Date().toISOString(),
      chain: h.chainId,
      seq: h.seq,
      hash: h.hash,
      alg: h.alg,
      instance: this.instanceId,
      site: this.site,
      reason,
    };
    this.#log.info({ chain: h.chainId, seq: h.seq, hash: h.hash, reason }, "audit chain head");
    try {
      const fh = await fsp.open(this.#anchorFile, "a", 0o600);
      try {
        await fh.write(`${JSON.stringify(line)}\n`);
        await fh.datasync();
      } finally {
        await fh.close();
      }
    } catch (e) {
      this.#log.warn(
        { err: (e as Error).message, file: this.#anchorFile },
        "audit chain anchor file cannot be written",
      );
    }
  }

  /**
   * Verify the audit table on the primary now (the newest `verifyRange` events of each chain),
   * with this instance's newest delivered event as an anchor. A failure is logged as an error
   * and kept for the status page and pairgate_audit_chain_verify_ok.
   */
  verifyNow(): Promise<ChainVerification | null> {
    this.#verifying ??= this.#verify().finally(() => {
      this.#verifying = null;
    });
    return this.#verifying;
  }

  async #verify(): Promise<ChainVerification | null> {
    if (!this.enabled) return null;
    const t0 = Date.now();
    const c = this.#cfg.audit.chain;
    let key: ReturnType<typeof loadChainKey> = null;
    let v: ChainVerification;
    try {
      key = loadChainKey(c ?? {}, this.#cfg.baseDir ?? process.cwd());
      const anchor = this.#delivery?.lastDeliveredChain;
      const r = await runVerify({
        server: { connection: this.#primaryOptions(), table: this.#cfg.audit.table },
        keys: key ? [key] : [],
        anchors: anchor
          ? [
              {
                chainId: anchor.id,
                seq: anchor.seq,
                hash: anchor.hash,
                source: "this pairgate's last delivery",
              },
            ]
          : [],
        range: c?.verifyRange ?? 100_000,
      });
      v = {
        at: Date.now(),
        ok: r.ok,
        durationMs: Date.now() - t0,
        events: r.events,
        chains: r.chains.map((x) => ({
          chainId: x.chainId,
          instanceIds: x.instanceIds,
          sites: x.sites,
          seq: x.lastSeq,
          hash: x.lastHash,
        })),
        problems: r.problems
          .slice(0, 10)
          .map((p) => `${p.kind}: ${p.chain ? `chain ${p.chain} ` : ""}${p.message}`),
        problemCount: r.problems.length + r.problemsDropped,
        error: null,
      };
      if (!r.ok)
        this.#log.error(
          { problems: v.problems, count: v.problemCount, table: this.#cfg.audit.table },
          "audit chain verification FAILED: the audit table was changed; run `pairgate audit verify` for the full report",
        );
    } catch (e) {
      v = {
        at: Date.now(),
        ok: this.lastVerification?.ok ?? true,
        durationMs: Date.now() - t0,
        events: 0,
        chains: this.lastVerification?.chains ?? [],
        problems: this.lastVerification?.problems ?? [],
        problemCount: this.lastVerification?.problemCount ?? 0,
        error: (e as Error).message,
      };
      this.#log.warn({ err: (e as Error).message }, "audit chain verification could not run");
    }
    this.lastVerification = v;
    return v;
  }

  #startDelivery(): void {
    if (this.#delivery || !this.#journal) return;
    const journal = this.#journal;
    this.#delivery = new Delivery({
      journal,
      table: this.#cfg.audit.table,
      connect: this.#o.connect ?? (() => this.#connectPrimary()),
      logger: this.#log,
      batchSize: this.#cfg.audit.deliveryBatchSize,
      intervalMs: this.#cfg.audit.deliveryIntervalMs,
      hooks: this.#o.hooks,
    });
    this.#delivery.start({ isPrimaryUp: this.#started?.isPrimaryUp });
  }

  #connectPrimary(): Promise<Connection> {
    return mysql.createConnection(this.#primaryOptions());
  }

  #primaryOptions() {
    return serviceConnectionOptions(this.#cfg.primary, this.#cfg.baseDir);
  }

  /** The primary became available again: deliver at once. */
  primaryAvailable(): void {
    this.#delivery?.kick();
  }

  /**
   * A topology transition: records `failover` / `failback` (`mode_change` between read_only and
   * down), and delivers at once when the primary serves again. Wire it to the monitor's transitions.
   */
  transition(t: Transition): void {
    if (t.to === "read_write") this.primaryAvailable();
    if (t.kind === "startup") return;
    const operation = t.kind === "other" ? "mode_change" : t.kind;
    this.post({
      operation,
      occurredAt: t.at,
      backend: t.to === "read_write" ? "primary" : t.to === "read_only" ? "secondary" : null,
      detail: { from: t.from, to: t.to, cause: t.cause, detectionSeconds: t.detectionSeconds },
    });
  }

  /** Config reload: new rules and capture tables apply to the next statement. */
  setRules(rules: readonly AuditRuleConfig[], captureTables: readonly string[]): void {
    this.#rules = new AuditRules(rules, this.#o.tablesOf, this.#cfg.audit, this.#o.names);
    this.#capture = new CaptureTables(captureTables, this.#o.tablesOf);
    this.#ruleConfigs = rules;
    this.#bytesKey = "";
    this.#bytes = new AuditedBytes(rules, this.#cfg.audit);
  }

  /** A statement too long to lex: a search of its bytes for the audited names (byte-search.ts); null when no rule binds `dbUser`. */
  searchBytes(dbUser: string | null): ByteSearch | null {
    if (!this.enabled) return null;
    // The names the catalog and copies made audited change at run time: rebuild the automaton when
    // they did (only statements over maxLexedStatement get here).
    const names = this.#rules.auditedNames();
    const key = names.join("\u0000");
    if (key !== this.#bytesKey) {
      this.#bytesKey = key;
      this.#bytes = new AuditedBytes(this.#ruleConfigs, this.#cfg.audit, [...names, ...sourceSearchWords()]);
    }
    return this.#bytes.search(dbUser);
  }

  /** Does this statement read a table an audit rule names? Cheap when not (one regex test). */
  matchStatement(sql: string, context: string | null | undefined | AuditContext): RuleMatch | null {
    if (!this.enabled) return null;
    return this.#rules.match(sql, context);
  }

  /** A statement too large to lex: audited by a plain search for the audited names (AuditRules.matchUnlexed). */
  matchUnlexed(text: string | Uint8Array, dbUser?: string | null): RuleMatch | null {
    if (!this.enabled) return null;
    return this.#rules.matchUnlexed(text, dbUser);
  }

  /**
   * During read-only mode: may this write be captured (journaled, answered OK, replayed later)?
   * Returns the resolved `schema.table` for a plain INSERT into an `audit.captureTables` table.
   */
  captureTable(sql: string, defaultSchema: string | null | undefined): string | null {
    if (!this.enabled) return null;
    return this.#capture.match(sql, defaultSchema);
  }

  /**
   * Record an event: journal it (resolves once durable), write the audit log line, count it.
   * Rejects with JournalError (code PAIRGATE_AUDIT_JOURNAL_FAILED) when it could not be made durable.
   */
  async record(input: AuditEventInput): Promise<AuditEvent> {
    const event = completeEvent(input, this.#ids, this.instanceId, this.site);
    this.#counts[event.operation] = (this.#counts[event.operation] ?? 0) + 1;
    if (!this.enabled) return event;
    if (this.#journal === null && !this.#stopped) {
      if (this.#opening) await this.#opening;
      else if (Date.now() - this.#lastOpenAttempt >= RECORD_REOPEN_MS) await this.#openJournal();
    }
    const journal = this.#journal;
    // Serialised once: the journal record and the audit log line are made from this text.
    let json: string | undefined;
    try {
      if (journal === null)
        throw this.#journalError ?? new JournalError("audit journal is not open", "ECLOSED");
      json = JSON.stringify(event);
      await journal.append(event, json);
    } catch (e) {
      this.#failures++;
      this.#auditLog?.write(event, "failed");
      throw e;
    }
    this.#auditLog?.write(event, "ok", json);
    return event;
  }

  /** Record without waiting (events that hold no statement result: failover, logout...). Failures are counted and logged. */
  post(input: AuditEventInput): void {
    this.record(input).catch((e: unknown) => {
      this.#log.debug({ err: e, operation: input.operation }, "audit event not journaled");
    });
  }

  /**
   * The names audited beyond the rules (metrics, /status): those derived from the server's catalog
   * and its last read, and the copies made through pairgate (kept in <stateDir>/audit-copies.json).
   */
  catalogInfo(): AuditCatalogInfo {
    const names = this.#o.names;
    const cat = names?.catalog ?? null;
    return {
      derivedNames: this.#rules.derivedNames,
      objects: cat?.objects.length ?? 0,
      lastReadAt: cat?.lastReadAt ?? null,
      lastError: cat?.lastError ?? null,
      reads: cat?.reads ?? 0,
      failures: cat?.failures ?? 0,
      copies: names?.copies.length ?? 0,
      copiesNotRemembered: names?.dropped ?? 0,
    };
  }

  /** Events recorded per operation since start (journaled or not). */
  counts(): Record<string, number> {
    return { ...this.#counts };
  }

  /** Undelivered events in the journal (`pairgate_audit_journal_pending_events`). */
  pending(): number {
    return this.#journal?.pending() ?? 0;
  }

  /** The journal accepts writes (false after a failed write or open, until one succeeds). */
  get healthy(): boolean {
    return !this.enabled || this.#journal?.healthy === true;
  }

  /** Events that could not be journaled (`pairgate_audit_journal_failures_total`). */
  get journalFailures(): number {
    return this.#failures;
  }

  get lastDeliveryAt(): number | null {
    return this.#delivery?.lastDeliveryAt ?? null;
  }

  get lastDeliveryError(): string | null {
    return this.#delivery?.lastError ?? this.#journalError?.message ?? null;
  }

  /** For POST /audit/deliver: deliver everything durable now; rejects if the primary cannot take it. */
  async deliverNow(): Promise<{ delivered: number }> {
    if (!this.#delivery) {
      if (!this.enabled) return { delivered: 0 };
      throw this.#journalError ?? new Error("audit delivery is not started");
    }
    return this.#delivery.deliverNow();
  }

  /** Flush the journal, stop delivery, close the journal and the audit log. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retryTimer) clearTimeout(this.#retryTimer);
    this.#retryTimer = null;
    if (this.#anchorTimer) clearInterval(this.#anchorTimer);
    this.#anchorTimer = null;
    if (this.#verifyTimer) clearTimeout(this.#verifyTimer);
    this.#verifyTimer = null;
    await this.#verifying?.catch(() => {});
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    await this.#opening;
    await this.#journal?.flush();
    await this.#delivery?.stop();
    this.#delivery = null;
    await this.#journal?.close();
    this.#journal = null;
    await this.publishAnchor("shutdown");
    await this.#auditLog?.close();
    this.#auditLog = null;
    this.#started = null;
  }
}
