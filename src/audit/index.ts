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

import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { join, resolve } from "node:path";
import type { Connection } from "mysql2/promise";
import mysql from "mysql2/promise";
import type { Logger } from "pino";
import type { Transition } from "../topology/types.js";
import { Delivery, type DeliveryHooks } from "./delivery.js";
import { type AuditEvent, type AuditEventInput, completeEvent, UuidV7 } from "./event.js";
import { Journal, JournalError, type JournalIo } from "./journal.js";
import { type AuditLog, createAuditLog } from "./log.js";
import {
  type AuditContext,
  type AuditedNames,
  type AuditRuleConfig,
  AuditRules,
  CaptureTables,
  type RuleMatch,
  type TablesOf,
} from "./rules.js";

export { AuditCatalog, catalogConnection } from "./catalog.js";
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
  };
  instanceId?: string;
  site: string;
  primary: {
    host: string;
    port: number;
    user: string;
    password: string;
    tls?: { ca?: string; rejectUnauthorized: boolean };
  };
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

/** A journal that could not be opened is retried this often in the background until it opens. */
const REOPEN_INTERVAL_MS = 1000;
/** record() itself tries again when the last attempt is at least this old (the lock may just have been freed). */
const RECORD_REOPEN_MS = 100;

export class Audit {
  readonly instanceId: string;
  readonly site: string;
  readonly #cfg: AuditConfig;
  readonly #o: AuditOptions;
  readonly #log: Logger;
  #rules: AuditRules;
  #capture: CaptureTables;
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
      this.#lastOpenAttempt = Date.now();
      try {
        this.#journal = await Journal.open<AuditEvent>({
          dir: this.journalDir,
          logger: this.#log,
          groupCommitMs: this.#cfg.audit.groupCommitMs,
          segmentBytes: this.#o.segmentBytes,
          io: this.#o.journalIo,
        });
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
    const p = this.#cfg.primary;
    return mysql.createConnection({
      host: p.host,
      port: p.port,
      user: p.user,
      password: p.password,
      connectTimeout: 3000,
      charset: "utf8mb4",
      ssl: p.tls
        ? {
            ca: p.tls.ca
              ? readFileSync(resolve(this.#cfg.baseDir ?? process.cwd(), p.tls.ca), "utf8")
              : undefined,
            rejectUnauthorized: p.tls.rejectUnauthorized,
          }
        : undefined,
    });
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
    try {
      if (journal === null)
        throw this.#journalError ?? new JournalError("audit journal is not open", "ECLOSED");
      await journal.append(event);
    } catch (e) {
      this.#failures++;
      this.#auditLog?.write(event, "failed");
      throw e;
    }
    this.#auditLog?.write(event, "ok");
    return event;
  }

  /** Record without waiting (events that hold no statement result: failover, logout...). Failures are counted and logged. */
  post(input: AuditEventInput): void {
    this.record(input).catch((e: unknown) => {
      this.#log.debug({ err: e, operation: input.operation }, "audit event not journaled");
    });
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
    this.#unsubscribe?.();
    this.#unsubscribe = undefined;
    await this.#opening;
    await this.#journal?.flush();
    await this.#delivery?.stop();
    this.#delivery = null;
    await this.#journal?.close();
    this.#journal = null;
    await this.#auditLog?.close();
    this.#auditLog = null;
    this.#started = null;
  }
}
