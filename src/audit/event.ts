/**
 * The audit event model: what an auditor reads in the primary's audit table, the audit log and
 * the local journal. One shape everywhere; the journal stores it as JSON.
 */
import { randomFillSync } from "node:crypto";
import type { ChainFields } from "./chain.js";

/** Operations pairgate records. Rules may name others (a rule's `operation` is free text). */
export type AuditOperation =
  | "login"
  | "login_failed"
  /** A client address blocked by listen.loginThrottle (once per block, not per refused connection). */
  | "login_blocked"
  | "logout"
  | "password_retrieval"
  | "write_rejected"
  | "failover"
  | "failback"
  | "captured_write"
  /** An audited statement refused because its event could not be made durable. */
  | "audit_refused"
  | (string & {});

export type AuditOutcome = "ok" | "error" | "refused";
export type AuditBackend = "primary" | "secondary";

export interface AuditEvent {
  /** UUIDv7: time-ordered, unique across instances; the key in the primary's table. */
  id: string;
  /** Unix time in ms. */
  occurredAt: number;
  instanceId: string;
  site: string;
  operation: AuditOperation;
  outcome: AuditOutcome;
  clientAddr: string | null;
  dbUser: string | null;
  sessionId: string | null;
  backend: AuditBackend | null;
  /** `schema.table` (or a table name when no schema was known). */
  object: string | null;
  /** A key a rule extracted from the statement, e.g. an account id. */
  objectKey: string | null;
  /** The application's own user, from a rule's pattern or comment tag. */
  appUser: string | null;
  /** Statement digest (normalised text hash) from the classifier. */
  digest: string | null;
  /** logout: how long the session lasted. */
  durationMs?: number;
  /** captured_write: the statement to replay on the primary, and the schema it ran in. */
  sql?: string;
  schema?: string | null;
  /** Anything else worth keeping (error text, failover cause, ...): stored as JSON. */
  detail?: Record<string, unknown>;
  /**
   * The hash chain (chain.ts): set when the journal makes the event durable, absent on events
   * journaled by a version before the chain. Delivered in the chain_* columns.
   */
  chain?: ChainFields;
}

/** What a caller supplies; the facade fills id, time, instance and site. */
export type AuditEventInput = Partial<
  Omit<AuditEvent, "operation" | "id" | "instanceId" | "site" | "chain">
> & {
  operation: AuditOperation;
};

/**
 * UUIDv7 generator (RFC 9562 §5.7) with a 12-bit counter in `rand_a` (method 1 of §6.2) so ids made
 * in the same millisecond by one generator are strictly increasing; a clock that steps back
 * keeps the last timestamp. Random bits come from a pooled `randomFillSync` buffer.
 * One generator per Audit instance: no module-level state.
 */
export class UuidV7 {
  #lastMs = -1;
  #counter = 0;
  #pool = Buffer.allocUnsafe(4096);
  #poolPos = 4096;
  readonly #out = Buffer.allocUnsafe(16);

  next(now: number = Date.now()): string {
    let ms = now;
    if (ms <= this.#lastMs) {
      ms = this.#lastMs;
      this.#counter++;
      if (this.#counter > 0xfff) {
        // Counter exhausted within one ms: borrow the next millisecond.
        ms++;
        this.#counter = this.#randomBits() & 0x1ff;
      }
    } else {
      // Start low in the range so many ids fit in one ms before borrowing.
      this.#counter = this.#randomBits() & 0x1ff;
    }
    this.#lastMs = ms;
    const b = this.#out;
    // 48-bit big-endian timestamp.
    b.writeUIntBE(ms, 0, 6);
    b[6] = 0x70 | ((this.#counter >> 8) & 0x0f);
    b[7] = this.#counter & 0xff;
    if (this.#poolPos + 8 > this.#pool.length) {
      randomFillSync(this.#pool);
      this.#poolPos = 0;
    }
    this.#pool.copy(b, 8, this.#poolPos, this.#poolPos + 8);
    this.#poolPos += 8;
    b[8] = 0x80 | (b[8]! & 0x3f);
    const h = b.toString("hex");
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
  }

  #randomBits(): number {
    if (this.#poolPos + 2 > this.#pool.length) {
      randomFillSync(this.#pool);
      this.#poolPos = 0;
    }
    const v = this.#pool.readUInt16BE(this.#poolPos);
    this.#poolPos += 2;
    return v;
  }
}

/** The millisecond timestamp inside a UUIDv7. */
export function uuidV7Time(id: string): number {
  return Number.parseInt(id.slice(0, 8) + id.slice(9, 13), 16);
}

const UUID_V7 = /^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;
export function isUuidV7(id: string): boolean {
  return UUID_V7.test(id);
}

/**
 * The longest each client-supplied field of an event may be, in UTF-16 code units; longer values
 * are cut and end with "…". A client controls these (a user name in a failed login can be 65,000
 * bytes), and every event is written to the journal, the audit log and the primary: without a
 * bound, an unauthenticated client fills the disk. Documented in README (Audit field limits).
 * `sql` (a captured write, replayed on the primary) is never cut: it is bounded by
 * maxAllowedPacket and comes only from a logged-in client.
 */
export const AUDIT_FIELD_LIMITS = {
  dbUser: 128,
  clientAddr: 64,
  sessionId: 64,
  object: 255,
  objectKey: 255,
  appUser: 255,
  digest: 64,
  schema: 192,
  /** Each string value inside `detail` (error text and the like). */
  detailValue: 1024,
} as const;

/** `s` cut to at most `max` code units (ending in "…" when cut), never inside a surrogate pair. */
export function truncateField(s: string, max: number): string {
  if (s.length <= max) return s;
  let end = max - 1;
  const c = s.charCodeAt(end - 1);
  if (c >= 0xd800 && c <= 0xdbff) end--;
  return `${s.slice(0, end)}…`;
}

function cut(v: string | null | undefined, max: number): string | null {
  return v == null ? null : truncateField(v, max);
}

function cutDetail(d: Record<string, unknown>): Record<string, unknown> {
  let out: Record<string, unknown> | null = null;
  for (const k of Object.keys(d)) {
    const v = d[k];
    if (typeof v === "string" && v.length > AUDIT_FIELD_LIMITS.detailValue) {
      out ??= { ...d };
      out[k] = truncateField(v, AUDIT_FIELD_LIMITS.detailValue);
    }
  }
  return out ?? d;
}

/** Fill in an input into a complete event; client-supplied fields are cut to AUDIT_FIELD_LIMITS. */
export function completeEvent(
  input: AuditEventInput,
  ids: UuidV7,
  instanceId: string,
  site: string,
  now: number = Date.now(),
): AuditEvent {
  const occurredAt = input.occurredAt ?? now;
  const ev: AuditEvent = {
    id: ids.next(occurredAt),
    occurredAt,
    instanceId,
    site,
    operation: input.operation,
    outcome: input.outcome ?? "ok",
    clientAddr: cut(input.clientAddr, AUDIT_FIELD_LIMITS.clientAddr),
    dbUser: cut(input.dbUser, AUDIT_FIELD_LIMITS.dbUser),
    sessionId: cut(input.sessionId, AUDIT_FIELD_LIMITS.sessionId),
    backend: input.backend ?? null,
    object: cut(input.object, AUDIT_FIELD_LIMITS.object),
    objectKey: cut(input.objectKey, AUDIT_FIELD_LIMITS.objectKey),
    appUser: cut(input.appUser, AUDIT_FIELD_LIMITS.appUser),
    digest: cut(input.digest, AUDIT_FIELD_LIMITS.digest),
  };
  if (input.durationMs !== undefined) ev.durationMs = input.durationMs;
  if (input.sql !== undefined) ev.sql = input.sql;
  if (input.schema !== undefined) ev.schema = cut(input.schema, AUDIT_FIELD_LIMITS.schema);
  if (input.detail !== undefined) ev.detail = cutDetail(input.detail);
  return ev;
}
