/**
 * Failed-login throttling (`listen.loginThrottle`), keyed by source address AND user name, so that
 * guesses at other names never lock out an account that keeps logging in correctly (issue 19: 10
 * wrong passwords for any name from the app's address locked the app out for 60 s).
 *
 * Two counters, both over `windowMs`, both blocking for `blockMs`:
 * - per (address, user): `maxFailures` refused logins block that user from that address (ERR 1129
 *   after the handshake response, when the name is known). Guesses at one account's password stop
 *   there; the same user from other addresses, and other users from this address, are unaffected.
 *   A success does not clear the count (else the app logging in every second would reset an
 *   attacker's guesses at its password).
 * - per address, a storm guard: `addressMaxFailures` refused logins for any names block the
 *   address — but not the users that logged in successfully from it before (within `trustMs`,
 *   24 h): they still get their password checked. Everybody else from the address gets ERR 1129
 *   without a password check, and an address with no such user gets it before any greeting (one
 *   accept and one small write per attempt, as the server's max_connect_errors).
 *
 * MySQL's max_connect_errors, MaxScale's max_auth_errors_until_block and ProxySQL's client host
 * error counts all key by host only, so a storm from a shared address (NAT, a proxy, the app's own
 * host) locks its legitimate users out; the per-user counter and the trusted users are what keep
 * the app in here. The cost: an attacker at the app's address can still lock out the app's own
 * account by guessing *its* password `maxFailures` times — the price of throttling those guesses.
 *
 * Memory: at most `maxTracked` entries per table (expired ones dropped first, then the oldest).
 */

export interface LoginThrottleConfig {
  enabled: boolean;
  maxFailures: number;
  /** Failures for any names from one address that block the address for untrusted users. */
  addressMaxFailures: number;
  windowMs: number;
  blockMs: number;
}

interface Entry {
  windowStart: number;
  failures: number;
  blockedUntil: number;
}

/** How long a successful login keeps its user trusted at its address through a storm. */
export const TRUST_MS = 24 * 3_600_000;

function key(address: string, user: string): string {
  return `${address}\u0000${user}`;
}

export class LoginThrottle {
  /** Per (address, user). */
  private readonly pairs = new Map<string, Entry>();
  /** Per address (the storm guard). */
  private readonly addresses = new Map<string, Entry>();
  /** (address, user) → time of the last successful login; per address, how many such users. */
  private readonly trusted = new Map<string, number>();
  private readonly trustedPerAddress = new Map<string, number>();

  constructor(
    private config: () => LoginThrottleConfig,
    private readonly maxTracked = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Before the greeting: milliseconds `address` stays blocked for everybody (0: greet it). An
   * address in a storm with a trusted user is greeted; `blockedUserFor` decides per user.
   */
  blockedFor(address: string): number {
    if (!this.config().enabled) return 0;
    const left = this.left(this.addresses.get(address));
    if (left === 0 || this.hasTrusted(address)) return 0;
    return left;
  }

  /** After the handshake response: milliseconds `user` from `address` stays blocked (0: check the password). */
  blockedUserFor(address: string, user: string): number {
    if (!this.config().enabled) return 0;
    const own = this.left(this.pairs.get(key(address, user)));
    if (own > 0) return own;
    const storm = this.left(this.addresses.get(address));
    if (storm === 0 || this.isTrusted(address, user)) return 0;
    return storm;
  }

  /** A refused login. Returns "user" or "address" when this failure blocked one, else null. */
  failure(address: string, user: string | null): "user" | "address" | null {
    const c = this.config();
    if (!c.enabled) return null;
    const now = this.now();
    const blockedUser = this.count(this.pairs, key(address, user ?? ""), c.maxFailures, now);
    const blockedAddress = this.count(this.addresses, address, c.addressMaxFailures, now);
    return blockedUser ? "user" : blockedAddress ? "address" : null;
  }

  /** A login that succeeded: `user` stays trusted at `address` through a storm from it. */
  success(address: string, user: string): void {
    if (!this.config().enabled) return;
    const k = key(address, user);
    const now = this.now();
    if (this.trusted.has(k))
      this.trusted.delete(k); // re-insert: the Map's order is by last success
    else {
      if (this.trusted.size >= this.maxTracked) this.pruneTrusted(now);
      this.trustedPerAddress.set(address, (this.trustedPerAddress.get(address) ?? 0) + 1);
    }
    this.trusted.set(k, now);
  }

  /** Addresses and (address, user) pairs blocked now. */
  blockedCount(): number {
    const now = this.now();
    let n = 0;
    for (const e of this.addresses.values()) if (e.blockedUntil > now) n++;
    for (const e of this.pairs.values()) if (e.blockedUntil > now) n++;
    return n;
  }

  private left(e: Entry | undefined): number {
    if (!e) return 0;
    return Math.max(e.blockedUntil - this.now(), 0);
  }

  private isTrusted(address: string, user: string): boolean {
    const t = this.trusted.get(key(address, user));
    return t !== undefined && this.now() - t < TRUST_MS;
  }

  private hasTrusted(address: string): boolean {
    return (this.trustedPerAddress.get(address) ?? 0) > 0;
  }

  /** Count a failure in `table`; true when it blocked the key. */
  private count(table: Map<string, Entry>, k: string, max: number, now: number): boolean {
    const c = this.config();
    let e = table.get(k);
    if (!e) {
      if (table.size >= this.maxTracked) this.prune(table, now);
      e = { windowStart: now, failures: 0, blockedUntil: 0 };
    }
    // Re-insert: the Map's order is then the order of last activity, oldest first.
    table.delete(k);
    table.set(k, e);
    if (e.blockedUntil > now) return false; // already blocked (a login that was under way)
    if (now - e.windowStart > c.windowMs) {
      e.windowStart = now;
      e.failures = 0;
    }
    e.failures++;
    if (e.failures < max) return false;
    e.blockedUntil = now + c.blockMs;
    e.failures = 0;
    e.windowStart = e.blockedUntil;
    return true;
  }

  private prune(table: Map<string, Entry>, now: number): void {
    const c = this.config();
    for (const [k, e] of table) {
      if (e.blockedUntil <= now && now - e.windowStart > c.windowMs) table.delete(k);
    }
    // Still full: forget the oldest tenth.
    if (table.size >= this.maxTracked) {
      let drop = Math.ceil(this.maxTracked / 10);
      for (const k of table.keys()) {
        if (drop-- <= 0) break;
        table.delete(k);
      }
    }
  }

  private pruneTrusted(now: number): void {
    let drop = Math.ceil(this.maxTracked / 10);
    for (const [k, t] of this.trusted) {
      if (now - t < TRUST_MS && drop-- <= 0) break;
      this.trusted.delete(k);
      const address = k.slice(0, k.indexOf("\u0000"));
      const n = (this.trustedPerAddress.get(address) ?? 1) - 1;
      if (n > 0) this.trustedPerAddress.set(address, n);
      else this.trustedPerAddress.delete(address);
    }
  }
}
