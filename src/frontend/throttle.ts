/**
 * Failed-login throttling per client address (`listen.loginThrottle`): an address with
 * `maxFailures` refused logins within `windowMs` is blocked for `blockMs`; while blocked, each new
 * connection from it gets ERR 1129 (ER_HOST_IS_BLOCKED, as the server's max_connect_errors) before
 * any greeting, so a password-guessing client costs pairgate one accept and one small write, and
 * other addresses are not affected. A successful login does not clear the count (else one valid
 * account would reset the guesses at the others). At most `maxTracked` addresses are remembered
 * (expired ones are dropped first, then the oldest), so a client with many addresses cannot grow
 * the table without bound.
 */

export interface LoginThrottleConfig {
  enabled: boolean;
  maxFailures: number;
  windowMs: number;
  blockMs: number;
}

interface Entry {
  windowStart: number;
  failures: number;
  blockedUntil: number;
}

export class LoginThrottle {
  private readonly entries = new Map<string, Entry>();

  constructor(
    private config: () => LoginThrottleConfig,
    private readonly maxTracked = 100_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Milliseconds `address` stays blocked (0: not blocked). */
  blockedFor(address: string): number {
    const c = this.config();
    if (!c.enabled) return 0;
    const e = this.entries.get(address);
    if (!e) return 0;
    const left = e.blockedUntil - this.now();
    return Math.max(left, 0);
  }

  /** A refused login from `address`. Returns true when this failure blocked the address. */
  failure(address: string): boolean {
    const c = this.config();
    if (!c.enabled) return false;
    const now = this.now();
    let e = this.entries.get(address);
    if (!e) {
      if (this.entries.size >= this.maxTracked) this.prune(now);
      e = { windowStart: now, failures: 0, blockedUntil: 0 };
      this.entries.set(address, e);
    }
    if (e.blockedUntil > now) return false; // already blocked (a login that was under way)
    if (now - e.windowStart > c.windowMs) {
      e.windowStart = now;
      e.failures = 0;
    }
    e.failures++;
    if (e.failures < c.maxFailures) return false;
    e.blockedUntil = now + c.blockMs;
    e.failures = 0;
    e.windowStart = e.blockedUntil;
    // Re-insert: the Map's order is then the order of last activity, oldest first.
    this.entries.delete(address);
    this.entries.set(address, e);
    return true;
  }

  /** Addresses blocked now. */
  blockedCount(): number {
    const now = this.now();
    let n = 0;
    for (const e of this.entries.values()) if (e.blockedUntil > now) n++;
    return n;
  }

  private prune(now: number): void {
    const c = this.config();
    for (const [a, e] of this.entries) {
      if (e.blockedUntil <= now && now - e.windowStart > c.windowMs) this.entries.delete(a);
    }
    // Still full: forget the oldest tenth.
    if (this.entries.size >= this.maxTracked) {
      let drop = Math.ceil(this.maxTracked / 10);
      for (const a of this.entries.keys()) {
        if (drop-- <= 0) break;
        this.entries.delete(a);
      }
    }
  }
}
