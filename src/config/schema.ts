/**
 * The configuration contract. Keys named in the issues (listen, admin, primary, secondary,
 * users, lab, monitor, audit) are relied on by users and other parts: extend, never rename.
 * Every object is strict, so an unknown key is reported with its path instead of ignored.
 */
import { z } from "zod";

/** A secret: a literal string, or where to read it from. Resolved once at load time. */
export const secretSchema = z.union([
  z.string(),
  z.strictObject({ env: z.string().min(1) }),
  z.strictObject({ file: z.string().min(1) }),
]);

const port = z.number().int().min(1).max(65535);
const host = z.string().min(1);

export const tlsListenSchema = z.strictObject({
  cert: z.string().min(1),
  key: z.string().min(1),
  /** Refuse clients that do not upgrade with SSLRequest. */
  require: z.boolean().default(false),
});

export const backendSchema = z.strictObject({
  host,
  port,
  /** pairgate's service account: monitoring and audit writes. */
  user: z.string().min(1),
  password: secretSchema,
  /** TLS on the proxy→backend hop. `ca` verifies the server certificate. */
  tls: z
    .strictObject({ ca: z.string().optional(), rejectUnauthorized: z.boolean().default(true) })
    .optional(),
});

export const userSchema = z.strictObject({
  username: z.string().min(1),
  password: secretSchema,
});

/**
 * Accounts read from the servers (README "Accounts"): users not in `users` log in with the
 * password the servers have for them, read by the service user (primary.user) from
 * mysql.global_priv (MariaDB) or mysql.user (MySQL).
 */
export const accountsSchema = z.strictObject({
  /** Read the accounts from the servers. Off: only `users` can log in. */
  fromServers: z.boolean().default(true),
  /** Read them again this often (rotations and revocations made on the servers directly). */
  refreshIntervalMs: z.number().int().min(1000).default(30_000),
  /** A failed login reads them again (a password just changed), at most once in this long. */
  failedLoginRefreshMs: z.number().int().min(0).default(1000),
});

export const monitorSchema = z.strictObject({
  intervalMs: z.number().int().min(10).default(250),
  connectTimeoutMs: z.number().int().min(10).default(500),
  queryTimeoutMs: z.number().int().min(10).default(500),
  fall: z.number().int().min(1).default(2),
  rise: z.number().int().min(1).default(2),
});

/**
 * What happens to reads at a failover (see README "Consistency at failover").
 * - `caught_up`: reads go to the secondary only once it has applied everything it had received
 *   from the primary and every transaction pairgate itself acknowledged; reads arriving meanwhile
 *   wait, at most `catchUpTimeoutMs`, then are served anyway (never failed) — with a warning, a
 *   metric and an audit event naming the acknowledged transactions the secondary lacks.
 * - `immediate`: reads go to the secondary at once, whatever it has applied (fastest, may be stale).
 */
export const failoverSchema = z.strictObject({
  readConsistency: z.enum(["caught_up", "immediate"]).default("caught_up"),
  /** Longest a read waits for the secondary's catch-up at a failover. */
  catchUpTimeoutMs: z.number().int().min(0).default(5000),
  /**
   * Longest a login waits while the primary is suspect (a failed check not yet confirmed) for the
   * monitor's verdict, so it lands on the secondary instead of failing.
   */
  verdictTimeoutMs: z.number().int().min(0).default(2000),
});

export const auditRuleSchema = z
  .strictObject({
    operation: z.string().min(1),
    /** Tables (or views) whose reads are audited: "schema.table", or "table" in any schema. */
    tables: z.array(z.string().min(1)).default([]),
    /** Views over audited tables, matched as tables (a view pairgate is not told about is invisible to it). */
    views: z.array(z.string().min(1)).default([]),
    /** Stored functions and procedures whose calls are audited ("schema.name" or "name"). */
    routines: z.array(z.string().min(1)).default([]),
    /** Database users the rule binds; default every user. Unresolved statements are refused or audited for them. */
    dbUsers: z.array(z.string().min(1)).optional(),
    /** Regex with one capture group run over the statement text: the object's key (e.g. an account id). */
    keyPattern: z.string().optional(),
    /** Regex with one capture group: the application's own user. */
    appUserPattern: z.string().optional(),
    /** Name of a SQL comment tag (app_user in a comment such as "app_user=alice") holding the application user. */
    appUserTag: z.string().optional(),
  })
  .refine((r) => r.tables.length + r.views.length + r.routines.length > 0, {
    message: "a rule names at least one table, view or routine",
  });

export const auditSchema = z.strictObject({
  enabled: z.boolean().default(true),
  journalDir: z.string().default(".pairgate/audit"),
  table: z.string().default("passtrix.pairgate_audit"),
  rules: z.array(auditRuleSchema).default([]),
  captureTables: z.array(z.string()).default([]),
  /**
   * A statement pairgate cannot resolve for audit (a routine no rule names, dynamic SQL, a HANDLER
   * read of an unknown handle, text it cannot read as the server does), for users bound by a rule:
   * "audit" records an `unresolved_access` event saying what was not resolved; "refuse" refuses it.
   */
  unresolved: z.enum(["audit", "refuse"]).default("audit"),
  /** Routines known not to read audited tables: calling them is not unresolved. */
  safeRoutines: z.array(z.string().min(1)).default([]),
  /**
   * How often the server's catalog (views, triggers, routines, events, foreign keys) is read again
   * to learn which names reach an audited table; 0: only at start and after relayed DDL.
   */
  catalogRefreshMs: z.number().int().min(0).default(60_000),
  onJournalFailure: z.enum(["refuse", "allow"]).default("refuse"),
  /** Group commit: a fixed wait before each fsync batch; 0 = leader/follower (journal.ts). */
  groupCommitMs: z.number().int().min(0).default(0),
  deliveryBatchSize: z.number().int().min(1).default(500),
  deliveryIntervalMs: z.number().int().min(10).default(1000),
  /** A separate JSON-lines audit log (pino); stdout is the operational log. */
  logFile: z.string().optional(),
  /** The hash chain over audit events (README: Audit hash chain). */
  chain: z
    .strictObject({
      /** A file holding the HMAC key (≥ 16 bytes). The key itself is never in this file. */
      keyFile: z.string().min(1).optional(),
      /** Or the name of an environment variable holding it. */
      keyEnv: z.string().min(1).optional(),
      /** Where chain heads are appended (JSON lines); default `<journalDir>/anchors.jsonl`. */
      anchorFile: z.string().min(1).optional(),
      /** The chain head is published (log, anchor file) this often when it moved, and at shutdown. */
      anchorIntervalMs: z.number().int().min(1000).default(60_000),
      /** Background verification of the audit table on the primary (0: off). */
      verifyIntervalMs: z.number().int().min(0).default(3_600_000),
      /** It checks the newest this-many events of each chain (0: all). */
      verifyRange: z.number().int().min(0).default(100_000),
    })
    .refine((c) => !(c.keyFile && c.keyEnv), { message: "name keyFile or keyEnv, not both" })
    .prefault({}),
});

export const configSchema = z.strictObject({
  listen: z
    .strictObject({
      host: host.default("127.0.0.1"),
      port: port.default(2345),
      tls: tlsListenSchema.optional(),
      /**
       * The authentication plugin pairgate announces. mysql_native_password suits MariaDB clients and
       * older drivers; caching_sha2_password is what MySQL 8 clients expect (full authentication over
       * TLS on a user's first login, fast path after).
       */
      authPlugin: z.enum(["mysql_native_password", "caching_sha2_password"]).default("mysql_native_password"),
      /**
       * Failed-login throttling per client address: `maxFailures` refused logins within `windowMs`
       * block the address for `blockMs` (its new connections get ERR 1129 before the greeting).
       */
      loginThrottle: z
        .strictObject({
          enabled: z.boolean().default(true),
          /** Refused logins for one user from one address that block that user there. */
          maxFailures: z.number().int().min(1).default(10),
          /**
           * Refused logins for any names from one address that block it for every user that has
           * not logged in from it successfully (see src/frontend/throttle.ts).
           */
          addressMaxFailures: z.number().int().min(1).default(50),
          windowMs: z.number().int().min(1).default(60_000),
          blockMs: z.number().int().min(1).default(60_000),
        })
        .prefault({}),
    })
    .prefault({}),
  admin: z
    .strictObject({
      host: host.default("127.0.0.1"),
      port: port.default(9345),
      token: secretSchema.optional(),
      /** The status page's charts: one sample every `sampleMs`, the last `windowMs` kept in memory. */
      charts: z
        .strictObject({
          sampleMs: z.number().int().min(100).max(60_000).default(5000),
          windowMs: z
            .number()
            .int()
            .min(10_000)
            .max(24 * 3_600_000)
            .default(3_600_000),
        })
        .prefault({}),
      /**
       * Host names the admin answers to (the Host header), besides IP addresses, localhost and
       * admin.host: a DNS-rebinding page uses a name of its own and is refused (421).
       */
      allowedHosts: z.array(z.string().min(1)).default([]),
    })
    .prefault({}),
  primary: backendSchema,
  secondary: backendSchema,
  /**
   * Users pairgate knows the password of (from this file, an environment variable or a file). They
   * win over the servers' accounts of the same name. Empty (the default): every login is checked
   * against the accounts read from the servers.
   */
  users: z.array(userSchema).default([]),
  accounts: accountsSchema.prefault({}),
  lab: z.strictObject({ dir: z.string().default(".pairgate/lab") }).optional(),
  monitor: monitorSchema.prefault({}),
  audit: auditSchema.prefault({}),
  failover: failoverSchema.prefault({}),
  /** Most client sessions at once; the next gets ERR 1040 and is closed. */
  maxConnections: z.number().int().min(1).default(4000),
  /** A client that has not finished the handshake in this time is closed. */
  handshakeTimeoutMs: z.number().int().min(100).default(10_000),
  /**
   * A logged-in client that stops in the middle of a packet gets ERR 1159 and is closed after this
   * long without a byte (the server's net_read_timeout, 30 s by default). An idle client between
   * commands is not affected.
   */
  netReadTimeoutMs: z.number().int().min(100).default(30_000),
  /** Largest packet accepted from a client (bytes), as the server's max_allowed_packet. */
  maxAllowedPacket: z
    .number()
    .int()
    .min(1024)
    .default(64 * 1024 * 1024),
  /**
   * User variables one session carries to another backend (failover, a lost connection): at most
   * this many, of at most this many bytes in all. Beyond either the session keeps working where it
   * is, but a move fails for it with a clear error (it is closed; the client reconnects).
   */
  maxUserVariables: z.number().int().min(0).default(64),
  maxUserVariableBytes: z
    .number()
    .int()
    .min(0)
    .default(1024 * 1024),
  /**
   * Statements (COM_QUERY, COM_STMT_PREPARE) longer than this many bytes are not lexed: routed as
   * writes (refused with 1290 in read_only mode) and audited by a plain search of their bytes for
   * the audited names, so no pass over a huge text can hold pairgate's event loop.
   */
  maxLexedStatement: z
    .number()
    .int()
    .min(1024)
    .default(1024 * 1024),
  /**
   * Open prepared statements per client session; the next PREPARE gets ERR 1461. Well under the
   * server's global max_prepared_stmt_count (16382 by default), which one session could otherwise
   * exhaust for every other.
   */
  maxPreparedStatements: z.number().int().min(1).default(1024),
  /**
   * Where pairgate keeps what must survive a restart besides the audit journal: the highest
   * promotion epoch seen (`fence.json`, the split-brain fence). Relative to the config's folder.
   */
  stateDir: z.string().default(".pairgate/state"),
  /** Names this pairgate in audit events and logs; one per site. */
  instanceId: z.string().optional(),
  site: z.string().default("default"),
  log: z
    .strictObject({
      level: z.enum(["trace", "debug", "info", "warn", "error", "fatal"]).default("info"),
      /** auto: lines in words on a TTY, JSON otherwise; `pairgate start --log-format` overrides. */
      format: z.enum(["auto", "json", "pretty"]).default("auto"),
    })
    .prefault({}),
  shutdownTimeoutMs: z.number().int().min(0).default(10_000),
});

export type ConfigInput = z.input<typeof configSchema>;
export type Secret = z.infer<typeof secretSchema>;
