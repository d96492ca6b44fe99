/**
 * What the checks of one backend read, kept for the status page, the machine's facts and the
 * watches: its `BackendHealth` (the published view), the primary's binlog position and when the
 * last answer began. The up/down verdict itself is the machine's (machine.ts); it is copied into
 * the health after each step, so that the published view is one object.
 */
import type { BackendConfig } from "../config/load.js";
import type { Logger } from "../observability/logger.js";
import { describeError } from "./describe-error.js";
import { HealthNotes } from "./health-notes.js";
import type { BackendVerdict } from "./machine.js";
import type { ProbeResult } from "./probe.js";
import type { BackendHealth, Role } from "./types.js";

export class BackendReadings {
  readonly health: BackendHealth;
  /** The primary's @@gtid_binlog_pos at its last check, and when that check ended (epoch ms). */
  binlogPos: string | null = null;
  binlogPosAt: number | null = null;
  /** When the last successful check began (the secondary's answer is at least that fresh). */
  okCheckStartedAt: number | null = null;
  private readonly notes: HealthNotes;

  constructor(
    readonly role: Role,
    cfg: BackendConfig,
    logger: Logger,
    now: number,
  ) {
    this.notes = new HealthNotes(role, logger);
    this.health = {
      role,
      host: cfg.host,
      port: cfg.port,
      up: false,
      readOnly: null,
      serverId: null,
      version: null,
      lastCheckAt: null,
      lastError: null,
      consecutiveFailures: 0,
      consecutiveSuccesses: 0,
      replication: null,
      lastOkAt: null,
      lastCheckMs: null,
      since: now,
      semiSync: null,
      fence: null,
    };
  }

  /** A copy safe to hand out (events, status). */
  snapshot(): BackendHealth {
    const h = this.health;
    return { ...h, replication: h.replication ? { ...h.replication } : null };
  }

  /** The backend moved (a config reload). */
  movedTo(cfg: BackendConfig): void {
    this.health.host = cfg.host;
    this.health.port = cfg.port;
  }

  /** A check answered. `samePrimary`: this is the secondary and the primary's server (a promoted config). */
  answered(r: ProbeResult, started: number, now: number, address: string, samePrimary: boolean): void {
    const h = this.health;
    this.checkEnded(started, now);
    this.okCheckStartedAt = started;
    h.lastOkAt = now;
    h.lastError = null;
    h.serverId = r.serverId;
    h.version = r.version;
    this.notes.localGtidsAre(r.replication?.localGtids);
    h.replication = r.replication;
    h.semiSync = r.semiSync ?? null;
    h.fence = r.fence ?? null;
    this.binlogPos = r.gtidBinlogPos ?? null;
    this.binlogPosAt = r.gtidBinlogPos == null ? null : now;
    this.notes.readOnlyIs(r.readOnly, address, samePrimary);
    this.notes.replicationErrorIs(r.replicationError);
  }

  /** A check failed; returns the error as one line. */
  failed(err: unknown, started: number, now: number): string {
    this.checkEnded(started, now);
    const msg = describeError(err);
    this.health.lastError = msg;
    return msg;
  }

  /** The machine's verdict, into the published view. */
  judged(v: BackendVerdict): void {
    const h = this.health;
    h.up = v.up;
    h.readOnly = v.readOnly;
    h.consecutiveFailures = v.consecutiveFailures;
    h.consecutiveSuccesses = v.consecutiveSuccesses;
    h.since = v.since;
  }

  private checkEnded(started: number, now: number): void {
    this.health.lastCheckAt = now;
    this.health.lastCheckMs = now - started;
  }
}
