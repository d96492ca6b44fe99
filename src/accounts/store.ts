/**
 * The accounts pairgate authenticates against when a user is not in the config's `users`: read
 * from the servers (read.ts), kept in memory only, refreshed
 * - every `accounts.refreshIntervalMs`;
 * - after a failed login (at most once per `accounts.failedLoginRefreshMs`): a password changed
 *   or an account created on the server directly is seen at the next try;
 * - after pairgate relayed a statement that changes accounts (ALTER USER, SET PASSWORD, GRANT, ...).
 *
 * Where from: the servers in `order()` (the primary first while it serves; the secondary, which
 * has the accounts by replication, while it is away). A refresh that reaches no server keeps the
 * accounts it had: the cache never empties because a server is unreachable.
 * A login that comes while a refresh runs waits for it (`settled()`), never fails because of it.
 */
import type { Role } from "../backend/connection.js";
import type { Logger } from "../observability/logger.js";
import { pickAccount } from "./host.js";
import type { Account, AccountSnapshot, ServerKind } from "./read.js";

export type RefreshReason = "start" | "interval" | "failed_login" | "statement";

export interface AccountsStatus {
  /** Accounts held now (roles excluded). */
  accounts: number;
  /** The server the accounts held now were read from, and when (epoch ms); null before the first read. */
  source: Role | null;
  loadedAt: number | null;
  serverKind: ServerKind | null;
  lastAttemptAt: number | null;
  /** Why the last refresh failed (no secret in it), or null when it succeeded. */
  lastError: string | null;
  refreshes: number;
  failures: number;
}

export interface AccountStoreOptions {
  read(role: Role): Promise<AccountSnapshot>;
  /** The servers to try, in order. */
  order(): Role[];
  refreshIntervalMs(): number;
  failedLoginRefreshMs(): number;
  logger: Logger;
  /** Each refresh's outcome, for metrics. */
  onRefresh?(ok: boolean, reason: RefreshReason, accounts: number): void;
}

export class AccountStore {
  private snap: AccountSnapshot | null = null;
  private source: Role | null = null;
  private loadedAt: number | null = null;
  private lastAttemptAt: number | null = null;
  private lastError: string | null = null;
  private refreshes = 0;
  private failures = 0;
  private running: Promise<void> | null = null;
  /** A refresh asked for while one ran: the running one may have read before the change. */
  private followUp: Promise<void> | null = null;
  private lastFailureRefresh = 0;
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;

  constructor(private readonly o: AccountStoreOptions) {}

  /** The first read (resolves when it succeeded or failed; never rejects), then the interval. */
  async start(): Promise<void> {
    await this.refresh("start");
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      void this.refresh("interval").then(() => this.schedule());
    }, this.o.refreshIntervalMs());
    this.timer.unref();
  }

  /**
   * Read the accounts again. While a refresh runs, one more follows it (coalesced: any number of
   * requests meanwhile make one); the promise resolves when the refresh that covers this request
   * is done. Never rejects.
   */
  refresh(reason: RefreshReason): Promise<void> {
    if (this.running) {
      this.followUp ??= this.running.then(() => {
        this.followUp = null;
        return this.run(reason);
      });
      return this.followUp;
    }
    return this.run(reason);
  }

  private run(reason: RefreshReason): Promise<void> {
    const p = this.load(reason).finally(() => {
      if (this.running === p) this.running = null;
    });
    this.running = p;
    return p;
  }

  private async load(reason: RefreshReason): Promise<void> {
    this.lastAttemptAt = Date.now();
    const errors: string[] = [];
    for (const role of this.o.order()) {
      try {
        const snap = await this.o.read(role);
        const first = this.snap === null;
        this.snap = snap;
        this.source = role;
        this.loadedAt = Date.now();
        this.lastError = null;
        this.refreshes++;
        this.o.onRefresh?.(true, reason, snap.accounts.length);
        if (first || errors.length > 0)
          this.o.logger.info(
            { source: role, accounts: snap.accounts.length, reason, skipped: errors },
            "accounts read from the servers",
          );
        return;
      } catch (e) {
        // mysql2's messages name the user and host, never the password.
        errors.push(`${role}: ${(e as Error).message}`);
      }
    }
    this.failures++;
    const error = errors.join("; ") || "no server to read the accounts from";
    // Once per new error, not at every interval while a server stays away.
    const level = error === this.lastError ? "debug" : "warn";
    this.lastError = error;
    this.o.onRefresh?.(false, reason, this.snap?.accounts.length ?? 0);
    this.o.logger[level](
      { reason, kept: this.snap?.accounts.length ?? 0, source: this.source },
      `cannot read the accounts from the servers (keeping the ones read before): ${error}`,
    );
  }

  /** Resolves once no refresh runs (a login during a refresh waits for it). */
  async settled(): Promise<void> {
    while (this.running) await this.running;
  }

  /**
   * After a failed login: refresh unless one was made for a failed login less than
   * `failedLoginRefreshMs` ago. Resolves true when the accounts were read again.
   */
  async afterFailedLogin(): Promise<boolean> {
    const now = Date.now();
    if (now - this.lastFailureRefresh < this.o.failedLoginRefreshMs()) return false;
    this.lastFailureRefresh = now;
    const before = this.refreshes;
    await this.refresh("failed_login");
    return this.refreshes > before;
  }

  /** The account a login as `user` from `ip` is (the server's choice), or null. */
  find(user: string, ip: string): { account: Account; kind: ServerKind } | null {
    const s = this.snap;
    if (!s) return null;
    const account = pickAccount(s.accounts, user, ip, s.resolvesNames);
    return account ? { account, kind: s.kind } : null;
  }

  get loaded(): boolean {
    return this.snap !== null;
  }

  status(): AccountsStatus {
    return {
      accounts: this.snap?.accounts.length ?? 0,
      source: this.source,
      loadedAt: this.loadedAt,
      serverKind: this.snap?.kind ?? null,
      lastAttemptAt: this.lastAttemptAt,
      lastError: this.lastError,
      refreshes: this.refreshes,
      failures: this.failures,
    };
  }
}
