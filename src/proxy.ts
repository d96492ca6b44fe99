/**
 * The composition root: builds every part from the config, starts and stops them. The only module
 * that knows all the others.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { createSecureContext } from "node:tls";
import { readAccounts } from "./accounts/read.js";
import { AccountStore } from "./accounts/store.js";
import { StatusHistory } from "./admin/history.js";
import { type AdminServer, startAdminServer } from "./admin/server.js";
import { truncateField } from "./audit/event.js";
import {
  Audit,
  AuditCatalog,
  AuditedNames,
  COPIES_FILE,
  CopiesStore,
  catalogConnection,
} from "./audit/index.js";
import { RoutineReach } from "./audit/routine-reach.js";
import { BackendConnection, type BackendTarget, type Role, serverGreetingOf } from "./backend/connection.js";
import { type Config, configPath } from "./config/load.js";
import type { AuthenticatedClient } from "./frontend/handshake.js";
import { ClientListener } from "./frontend/listener.js";
import type { Logger } from "./observability/logger.js";
import { Metrics } from "./observability/metrics.js";
import { DEFAULT_COLLATION_ID } from "./protocol/constants.js";
import { guardSetup } from "./session/secondary-guard.js";
import { ClientSession, type SessionContext } from "./session/session.js";
import { tablesOf } from "./sql/index.js";
import { FENCE_STATE_FILE } from "./topology/fence-store.js";
import { Topology } from "./topology/monitor.js";
import type { BackendHealth, Mode } from "./topology/types.js";

/** The longest start waits for the first read of the audit catalog. */
const CATALOG_START_WAIT_MS = 3000;

export class PairgateProxy {
  readonly topology: Topology;
  readonly metrics: Metrics;
  readonly audit: Audit | null = null;
  /** What else reaches an audited table, read from the serving backend's catalog. */
  readonly auditCatalog: AuditCatalog | null = null;
  /** Audited names beyond the rules' (the catalog's, copies made through pairgate). */
  readonly auditNames: AuditedNames | null = null;
  /** The last hour for the status page's charts. */
  readonly history: StatusHistory;
  private listener: ClientListener;
  private sessions = new Set<ClientSession>();
  private users: Map<string, string>;
  /** The accounts read from the servers (accounts.fromServers), null when off. */
  readonly accounts: AccountStore | null = null;
  private tls: ReturnType<PairgateProxy["buildTls"]>;
  /** The version the greeting announces: the one of the server that serves now (updated by checks). */
  private serverVersion = "5.5.5-10.11.0-MariaDB-pairgate";
  private sha2Cache = new Set<string>();
  private sessionContext: SessionContext;
  address: { host: string; port: number } | null = null;
  private admin: AdminServer | null = null;
  adminPort: number | null = null;

  constructor(
    private config: Config,
    private logger: Logger,
  ) {
    this.metrics = new Metrics();
    this.topology = new Topology({
      primary: config.primary,
      secondary: config.secondary,
      monitor: config.monitor,
      failover: config.failover,
      logger, // the monitor binds part: "topology" itself (once: a second child binding duplicated the JSON key)
      baseDir: config.baseDir,
      fenceStateFile: join(configPath(config, config.stateDir), FENCE_STATE_FILE),
    });
    this.topology.setMaxListeners(0); // every session waiting out a fault listens for a moment
    this.metrics.attachTopology(this.topology);
    this.history = new StatusHistory(
      {
        mode: () => this.topology.mode,
        lagSeconds: () => this.topology.snapshot().secondary.replication?.secondsBehind ?? null,
        statements: () => this.metrics.statementTotals(),
      },
      config.admin.charts,
    );
    this.topology.on("transition", (t) => this.history.transition(t));
    this.users = new Map(config.users.map((u) => [u.username, u.password]));
    if (config.accounts.fromServers) this.accounts = this.buildAccounts(logger);
    this.tls = this.buildTls(config);
    this.topology.on("transition", (t) => {
      for (const s of this.sessions) s.onModeChange(t.to);
    });
    this.topology.on("check", (role, h) => {
      // The server that serves now: after a promotion or a reload that moved a backend, the
      // greeting follows it (clients pick dialects and workarounds from it).
      if (h.version && role === this.servingRole()) {
        this.serverVersion = /mariadb/i.test(h.version) ? `5.5.5-${h.version}` : h.version;
      }
    });
    const hooks = {
      query: this.metrics.query,
      writeRejected: this.metrics.writeRejected,
      authFailure: this.metrics.authFailure,
      backendConnections: this.metrics.backendConnections,
      accountsMayHaveChanged: () => void this.accounts?.refresh("statement"),
    };
    this.sessionContext = {
      logger: logger.child({ part: "session" }),
      sessions: {
        find: (id) => {
          for (const s of this.sessions) if (s.id === id) return s;
          return null;
        },
      },
      mode: () => this.topology.mode,
      readRole: () => this.topology.readRole ?? "secondary",
      isUp: (role) => this.topology.isUp(role),
      activity: { primary: 0, secondary: 0 },
      target: (role) => this.target(role),
      reportBackendError: (role, err) => this.topology.reportBackendError(role, err),
      settle: (ms, role, modeSeen) => this.settle(ms, role, modeSeen),
      sessionSetup: guardSetup,
      secondaryReadable: () => this.topology.secondaryReadable(),
      noteAcknowledged: (gtid) => this.topology.noteAcknowledged(gtid),
      verdict: () => this.topology.verdict(),
      users: this.users,
      accounts: this.accounts,
      authPlugin: () => this.config.listen.authPlugin,
      sha2Cache: this.sha2Cache,
      connectTimeoutMs: config.monitor.connectTimeoutMs,
      maxAllowedPacket: config.maxAllowedPacket,
      replayLimits: {
        maxUserVariables: config.maxUserVariables,
        maxUserVariableBytes: config.maxUserVariableBytes,
      },
      netReadTimeoutMs: config.netReadTimeoutMs,
      maxLexedStatement: config.maxLexedStatement,
      maxPreparedStatements: config.maxPreparedStatements,
      hooks,
      audit: null,
    };
    // Read with the audit off too: its triggers and views that run routines unnamed (RoutineReach)
    // decide when the session state is read back and the secondary's guard set again (issue 19).
    this.auditCatalog = new AuditCatalog({
      connect: () => catalogConnection(this.config[this.servingRole()], this.config.baseDir),
      intervalMs: config.audit.catalogRefreshMs,
      logger: logger.child({ part: "audit-catalog" }),
    });
    this.sessionContext.routineReach = new RoutineReach(this.auditCatalog);
    if (config.audit.enabled) {
      this.audit = new Audit({
        config,
        logger,
        tablesOf,
        names: (this.auditNames = new AuditedNames(
          this.auditCatalog,
          logger.child({ part: "audit" }),
          new CopiesStore(join(configPath(config, config.stateDir), COPIES_FILE), logger),
        )),
      });
      this.sessionContext.audit = this.audit;
      this.metrics.setAuditSource(this.audit);
      this.topology.on("transition", (t) => this.audit?.transition(t));
      this.topology.on("catchUp", (r) => {
        const s = r.status;
        if (!r.acknowledgedMissing.length && s.state === "caught_up") return;
        // Acknowledged writes the secondary lacks (semi-sync had fallen back), or a catch-up that
        // ran out of time: a fact an auditor must be able to find.
        this.audit?.post({
          operation: r.acknowledgedMissing.length ? "acknowledged_writes_missing" : "catch_up_timeout",
          outcome: "error",
          backend: "secondary",
          detail: {
            state: s.state,
            waitedMs: s.waitedMs,
            missing: r.acknowledgedMissing.length ? r.acknowledgedMissing : s.missing,
            missingCount: s.missingCount,
            acknowledged: s.acknowledged,
            received: s.received,
            applied: s.applied,
          },
        });
      });
      this.topology.on("fence", (f) => {
        if (f.fenced)
          this.audit?.post({
            operation: "primary_fenced",
            outcome: "refused",
            backend: "primary",
            detail: { ...f },
          });
      });
    }
    const activity = this.sessionContext.activity;
    this.topology.setActivitySource((role) => activity[role]);
    let authFailuresLogged = 0;
    let authWindow = 0;
    this.listener = new ClientListener({
      host: config.listen.host,
      port: config.listen.port,
      logger,
      maxConnections: () => this.config.maxConnections,
      handshakeTimeoutMs: () => this.config.handshakeTimeoutMs,
      users: () => this.users,
      accounts: () => this.accounts,
      tls: () => this.tls,
      serverVersion: () => this.serverVersion,
      backendGreeting: () => serverGreetingOf(this.target(this.servingRole())),
      authPlugin: () => this.config.listen.authPlugin,
      sha2Cache: this.sha2Cache,
      onClient: (client, id) => this.startSession(client, id),
      onAuthFailure: (username, address, message) => {
        this.metrics.authFailure();
        // Rate-limited: a password-guessing client must not flood the log.
        const now = Date.now();
        if (now - authWindow > 10_000) {
          authWindow = now;
          authFailuresLogged = 0;
        }
        if (authFailuresLogged++ < 10)
          this.logger.warn(
            { user: username && truncateField(username, 128), client: address },
            truncateField(message, 512),
          );
        this.audit?.post({
          operation: "login_failed",
          outcome: "refused",
          dbUser: username,
          clientAddr: address,
        });
      },
      loginThrottle: () => this.config.listen.loginThrottle,
      onAddressBlocked: (address, blockMs, user) => {
        this.metrics.loginBlocked();
        this.logger.warn(
          { client: address, user, blockMs },
          user === null
            ? "client address blocked after too many failed logins (users that logged in from it still may)"
            : "user blocked at this client address after too many failed logins",
        );
        this.audit?.post({
          operation: "login_blocked",
          outcome: "refused",
          clientAddr: address,
          dbUser: user,
          detail: { blockMs, maxFailures: this.config.listen.loginThrottle.maxFailures },
        });
      },
      onThrottled: () => this.metrics.loginThrottled(),
      onCount: (d) => this.metrics.clientConnections(d),
    });
  }

  /**
   * The accounts come from the server that serves (the primary while it does; the secondary,
   * which has them by replication, while it is away), the other one when that fails.
   */
  private buildAccounts(logger: Logger): AccountStore {
    const store = new AccountStore({
      read: (role) =>
        readAccounts(role === "primary" ? this.config.primary : this.config.secondary, this.config.baseDir, {
          connectTimeoutMs: this.config.monitor.connectTimeoutMs,
          queryTimeoutMs: this.config.monitor.queryTimeoutMs,
        }),
      order: () => {
        const first: Role =
          this.topology.mode === "read_only" ? (this.topology.readRole ?? "secondary") : "primary";
        const second: Role = first === "primary" ? "secondary" : "primary";
        // A server the monitor sees down is tried last: no connect timeout spent on it first.
        return this.topology.isUp(first) || !this.topology.isUp(second) ? [first, second] : [second, first];
      },
      refreshIntervalMs: () => this.config.accounts.refreshIntervalMs,
      failedLoginRefreshMs: () => this.config.accounts.failedLoginRefreshMs,
      logger: logger.child({ part: "accounts" }),
      onRefresh: (ok, reason) => this.metrics.accountsRefresh(ok, reason),
    });
    this.metrics.setAccountsSource(() => store.status());
    return store;
  }

  private buildTls(config: Config) {
    const t = config.listen.tls;
    if (!t) return null;
    return {
      context: createSecureContext({
        cert: readFileSync(configPath(config, t.cert)),
        key: readFileSync(configPath(config, t.key)),
      }),
      require: t.require,
    };
  }

  /** The backend that serves clients now: the primary, or the read role in read_only mode. */
  private servingRole(): Role {
    return this.topology.mode === "read_only" ? (this.topology.readRole ?? "secondary") : "primary";
  }

  target(role: Role): BackendTarget {
    const b = role === "primary" ? this.config.primary : this.config.secondary;
    return {
      role,
      host: b.host,
      port: b.port,
      tls: b.tls
        ? {
            ca: b.tls.ca ? configPath(this.config, b.tls.ca) : undefined,
            rejectUnauthorized: b.tls.rejectUnauthorized,
          }
        : undefined,
    };
  }

  /**
   * After a session saw `role` fail: resolve on the topology's verdict — a transition, a check of
   * `role` that succeeded (the failure was the session's alone) or marked it down — or after `ms`.
   */
  private settle(ms: number, role: Role, modeSeen: Mode): Promise<void> {
    if (this.topology.mode !== modeSeen) return Promise.resolve();
    return new Promise((resolve) => {
      const onCheck = (r: Role, h: BackendHealth) => {
        if (r === role && (!h.up || h.consecutiveFailures === 0)) done();
      };
      const done = () => {
        clearTimeout(timer);
        this.topology.off("transition", done);
        this.topology.off("check", onCheck);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.topology.on("transition", done);
      this.topology.on("check", onCheck);
    });
  }

  /**
   * What a new login waits for before its session opens a backend, or null to go at once:
   * - the primary is suspect (a fault's first sign, no verdict yet): the monitor's verdict, so the
   *   login lands on the secondary instead of failing on a dying primary (failover.verdictTimeoutMs);
   * - reads are held for the secondary's catch-up: its end (failover.catchUpTimeoutMs).
   * The client's socket is paused after the handshake: it simply waits for its login OK.
   */
  private loginGate(): Promise<void> | null {
    const t = this.topology;
    if (t.primarySuspect) return t.verdict().then(() => this.catchUpGate() ?? undefined);
    return this.catchUpGate();
  }

  private catchUpGate(): Promise<void> | null {
    const t = this.topology;
    if (t.mode !== "read_only" || t.readRole !== "secondary") return null;
    const r = t.secondaryReadable();
    return r === true ? null : r;
  }

  private startSession(client: AuthenticatedClient, id: number): void {
    const gate = this.loginGate();
    if (gate) {
      void gate.then(() => {
        if (client.socket.destroyed) return;
        this.openSession(client, id);
      });
      return;
    }
    this.openSession(client, id);
  }

  private openSession(client: AuthenticatedClient, id: number): void {
    const session = new ClientSession(id, client.socket, this.sessionContext);
    this.sessions.add(session);
    client.socket.once("close", () => this.sessions.delete(session));
    void session.begin(
      client.socket,
      {
        username: client.username,
        password: client.password,
        capabilities: client.capabilities,
        database: client.response.database,
        collation: client.response.collation,
        connectAttrs: client.response.connectAttrs,
        scramble: client.scramble,
        mariadbCapabilities: client.mariadbCapabilities,
      },
      client.nextSeq,
    );
  }

  /** Where logins are checked: the config's users (names only) and the accounts read from the servers. */
  accountsInfo() {
    return {
      configUsers: this.users.size,
      fromServers: this.accounts ? this.accounts.status() : null,
    };
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** The live client sessions (for diagnostics and tests). */
  activeSessions(): ReadonlySet<ClientSession> {
    return this.sessions;
  }

  async start(): Promise<void> {
    await this.audit?.start({
      isPrimaryUp: () => this.topology.mode === "read_write",
      onPrimaryUp: (listener) => {
        const onTransition = (t: { to: Mode }) => {
          if (t.to === "read_write") listener();
        };
        this.topology.on("transition", onTransition);
        return () => this.topology.off("transition", onTransition);
      },
    });
    this.topology.start();
    try {
      await this.topology.ready(Math.max(3000, this.config.monitor.connectTimeoutMs * 4));
    } catch (e) {
      this.logger.warn({ err: (e as Error).message }, "starting before both backends were checked");
    }
    // The first read of the accounts before the first login (a failure is logged; it is retried
    // at the interval and at failed logins).
    await this.accounts?.start();
    // Before serving: the views, triggers and routines that reach an audited table are known (a
    // backend that does not answer delays the listener by CATALOG_START_WAIT_MS at most).
    const catalog = this.auditCatalog?.start();
    if (catalog)
      await Promise.race([catalog, new Promise((r) => setTimeout(r, CATALOG_START_WAIT_MS).unref())]);
    await this.learnGreeting();
    this.address = await this.listener.listen();
    this.history.start();
    this.admin = await this.startAdmin(this.config);
    this.adminPort = this.admin.port;
    this.logger.info({ listen: this.address, mode: this.topology.mode }, "pairgate is serving");
  }

  /**
   * One service-account login to the serving backend before listening: its greeting (collation,
   * status flags, session tracking) is what pairgate's greeting repeats, from the first client on.
   * Later logins of sessions keep it current. Unreachable: pairgate's defaults until then.
   */
  private async learnGreeting(): Promise<void> {
    const role = this.servingRole();
    const b = role === "primary" ? this.config.primary : this.config.secondary;
    try {
      const c = await BackendConnection.open(
        this.target(role),
        {
          username: b.user,
          password: b.password,
          database: null,
          collation: DEFAULT_COLLATION_ID,
          capabilities: 0,
          connectAttrs: null,
        },
        this.config.monitor.connectTimeoutMs,
      );
      c.quit();
    } catch (e) {
      this.logger.debug({ role, err: (e as Error).message }, "could not read the backend's greeting yet");
    }
  }

  private startAdmin(config: Config): Promise<AdminServer> {
    return startAdminServer({
      host: config.admin.host,
      port: config.admin.port,
      // Read at each request: a token added or changed by a reload (SIGHUP) applies at once.
      token: () => this.config.admin.token,
      allowedHosts: () => this.config.admin.allowedHosts,
      topology: this.topology,
      metrics: this.metrics,
      logger: this.logger, // the admin server binds part: "admin" itself
      audit: this.audit ?? undefined,
      sessions: () => this.sessions.size,
      history: () => this.history.document(),
      configInfo: () => ({ file: this.config.file, site: this.config.site, listen: this.address }),
      accounts: () => this.accountsInfo(),
    });
  }

  /**
   * A reload changed `listen` or `admin`: bind the new address, then let go of the old one. Open
   * client sessions stay. When the new address cannot be bound the old one keeps serving.
   * Resolves when done (reload() does not wait for it).
   */
  private async rebind(previous: Config, next: Config): Promise<void> {
    if (!sameAddress(previous.listen, next.listen)) {
      try {
        this.address = await this.listener.rebind(next.listen.host, next.listen.port);
        this.logger.info({ listen: this.address }, "listening on the reloaded address");
      } catch (e) {
        this.metrics.configReload("error");
        this.logger.error(
          { listen: next.listen, err: (e as Error).message },
          "cannot listen on the reloaded address: still listening on the old one",
        );
      }
    }
    if (!sameAddress(previous.admin, next.admin) && this.admin) {
      try {
        const admin = await this.startAdmin(next);
        const old = this.admin;
        this.admin = admin;
        this.adminPort = admin.port;
        await old.close().catch(() => {});
        this.logger.info({ admin: { host: next.admin.host, port: admin.port } }, "admin moved");
      } catch (e) {
        this.metrics.configReload("error");
        this.logger.error(
          { admin: next.admin, err: (e as Error).message },
          "cannot listen on the reloaded admin address: the admin stays where it was",
        );
      }
    }
  }

  /**
   * Apply a new, already validated config without dropping sessions: backends' addresses (sessions
   * move at their next statement boundary), users, monitor timings, limits, audit rules — at once;
   * a new `listen` or `admin` address once it is bound (the returned promise; it never rejects).
   */
  reload(next: Config): Promise<void> {
    const previous = this.config;
    const movedRoles = (["primary", "secondary"] as const).filter(
      (r: Role) => !sameAddress(this.config[r], next[r]),
    );
    this.config = next;
    if (previous.admin.token !== next.admin.token)
      this.logger.warn(
        { token: next.admin.token ? "set" : "none (actions from loopback only)" },
        "admin.token changed by the reload: applied to admin actions from now on",
      );
    this.users.clear();
    for (const u of next.users) this.users.set(u.username, u.password);
    if (next.accounts.fromServers !== previous.accounts.fromServers)
      this.logger.warn(
        { fromServers: next.accounts.fromServers },
        "accounts.fromServers changed by the reload: applied at the next restart",
      );
    this.listener.clearAuthCache();
    this.tls = this.buildTls(next);
    this.sessionContext.connectTimeoutMs = next.monitor.connectTimeoutMs;
    this.sessionContext.netReadTimeoutMs = next.netReadTimeoutMs;
    this.sessionContext.maxAllowedPacket = next.maxAllowedPacket;
    this.sessionContext.maxLexedStatement = next.maxLexedStatement;
    this.sessionContext.maxPreparedStatements = next.maxPreparedStatements;
    if (next.maxAllowedPacket !== previous.maxAllowedPacket)
      for (const s of this.sessions) s.setMaxAllowedPacket(next.maxAllowedPacket);
    this.topology.reconfigure(next.primary, next.secondary, next.monitor);
    this.topology.setFailoverConfig(next.failover);
    this.audit?.setRules(next.audit.rules, next.audit.captureTables);
    for (const s of this.sessions) for (const r of movedRoles) s.backendMoved(r);
    this.metrics.configReload("ok");
    this.logger.info({ file: next.file, moved: movedRoles }, "config reloaded");
    this.rebinding = this.rebinding.then(() => this.rebind(previous, next));
    return this.rebinding;
  }

  /** Rebinds run one after another (two quick SIGHUPs must not race). */
  private rebinding: Promise<void> = Promise.resolve();

  /** Stop accepting, let statements finish until the deadline, close sessions, stop the monitor. */
  async stop(deadlineMs = this.config.shutdownTimeoutMs): Promise<void> {
    this.listener.stopAccepting();
    await this.admin?.close().catch(() => {});
    const until = Date.now() + deadlineMs;
    for (const s of this.sessions) s.drain();
    while (this.sessions.size > 0 && Date.now() < until) await new Promise((r) => setTimeout(r, 20));
    this.listener.destroyAll();
    this.auditCatalog?.stop();
    await this.auditNames?.flush().catch(() => {});
    await this.audit?.stop();
    this.accounts?.stop();
    this.history.stop();
    await this.topology.stop();
  }
}

/**
 * Exactly the same host and port. Not sameEndpoint(): "localhost" and "127.0.0.1" are one server
 * but not one address to bind or connect to (localhost may resolve to ::1).
 */
function sameAddress(a: { host: string; port: number }, b: { host: string; port: number }): boolean {
  return a.host === b.host && a.port === b.port;
}
