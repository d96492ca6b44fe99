/**
 * Reading the accounts from one server with pairgate's service user: `mysql.global_priv` on
 * MariaDB (10.4+), `mysql.user` on MySQL. The service user needs SELECT on that table and nothing
 * more (README "Accounts"); `replication setup` and the lab grant it.
 *
 * What is kept per account is what a login needs: the plugin, mysql_native_password's stored
 * SHA1(SHA1(password)), whether it is locked and whether its password has expired. Roles are not
 * accounts (MariaDB marks them is_role; MySQL's are locked rows, refused as the server refuses
 * them). max_user_connections and REQUIRE SSL/X509 are the server's to enforce at the backend
 * login pairgate makes as the client, and the server's answer is relayed.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import mysql from "mysql2/promise";
import type { BackendConfig } from "../config/load.js";
import { NATIVE_PASSWORD, parseNativeHash } from "../protocol/auth.js";
import { accountSort, compareAccounts, type HostPattern, parseHostPattern } from "./host.js";

export type ServerKind = "mariadb" | "mysql";

export interface Account {
  user: string;
  host: string;
  pattern: HostPattern;
  sort: number;
  /** The plugin pairgate serves the login with: mysql_native_password, or another it will refuse by name. */
  plugin: string;
  /**
   * mysql_native_password: SHA1(SHA1(password)); an empty buffer for an account without a
   * password; null when the stored string is no usable hash (no login can match it, as 'invalid').
   */
  stage2: Buffer | null;
  locked: boolean;
  /**
   * The password has expired (PASSWORD EXPIRE, or older than its lifetime): the server would only
   * let the client change it, in a sandbox pairgate's own session set-up cannot run in.
   */
  expired: boolean;
}

export interface AccountSnapshot {
  kind: ServerKind;
  /** The server's skip_name_resolve is OFF: loopback clients also match 'localhost'. */
  resolvesNames: boolean;
  /** In the server's order (compareAccounts). */
  accounts: Account[];
}

interface AuthEntry {
  plugin?: string;
  authentication_string?: string;
}

const DAY_SECONDS = 86_400;

/**
 * Has the password expired? `lastChanged`: Unix seconds (0: expired by PASSWORD EXPIRE);
 * `lifetimeDays`: the account's (null or -1: the server's default_password_lifetime; 0: never).
 */
export function passwordExpired(
  lastChanged: number | null,
  lifetimeDays: number | null,
  defaultLifetimeDays: number,
  nowSeconds: number,
): boolean {
  if (lastChanged === 0) return true;
  const days = lifetimeDays === null || lifetimeDays < 0 ? defaultLifetimeDays : lifetimeDays;
  return lastChanged !== null && days > 0 && nowSeconds > lastChanged + days * DAY_SECONDS;
}

/** One MariaDB global_priv row's `priv` JSON to an account; null for a role. */
export function mariadbAccount(
  user: string,
  host: string,
  privJson: string | object,
  defaultLifetimeDays = 0,
  nowSeconds = Date.now() / 1000,
): Account | null {
  const priv = (typeof privJson === "string" ? JSON.parse(privJson) : privJson) as AuthEntry & {
    is_role?: boolean;
    account_locked?: boolean;
    auth_or?: AuthEntry[];
    password_last_changed?: number;
    password_lifetime?: number;
  };
  if (priv.is_role) return null;
  // A row without plugin is an old-style native account; auth_or lists alternatives tried in
  // order ({} standing for the row's own plugin/authentication_string).
  const own: AuthEntry = {
    plugin: priv.plugin ?? NATIVE_PASSWORD,
    authentication_string: priv.authentication_string ?? "",
  };
  const entries = priv.auth_or ? priv.auth_or.map((e) => (e.plugin ? e : own)) : [own];
  const native = entries.find((e) => e.plugin === NATIVE_PASSWORD || e.plugin === "mysql_native_password");
  const expired = passwordExpired(
    priv.password_last_changed ?? null,
    priv.password_lifetime ?? null,
    defaultLifetimeDays,
    nowSeconds,
  );
  return build(user, host, native ?? entries[0], priv.account_locked === true, expired);
}

/** One MySQL mysql.user row to an account. */
export function mysqlAccount(
  user: string,
  host: string,
  plugin: string,
  authenticationString: string,
  locked: string,
  expired = false,
): Account {
  return build(user, host, { plugin, authentication_string: authenticationString }, locked === "Y", expired);
}

function build(user: string, host: string, e: AuthEntry, locked: boolean, expired: boolean): Account {
  const plugin = e.plugin ?? NATIVE_PASSWORD;
  const auth = e.authentication_string ?? "";
  const stage2 = plugin === NATIVE_PASSWORD ? (auth === "" ? Buffer.alloc(0) : parseNativeHash(auth)) : null;
  return {
    user,
    host,
    pattern: parseHostPattern(host),
    sort: accountSort(user, host),
    plugin,
    stage2,
    locked,
    expired,
  };
}

const text = (v: unknown): string => (Buffer.isBuffer(v) ? v.toString("utf8") : v == null ? "" : String(v));

export interface ReadTimeouts {
  connectTimeoutMs: number;
  queryTimeoutMs: number;
}

/** Connect with the service user, read every account, disconnect. Rejects on any failure or timeout. */
export async function readAccounts(
  b: BackendConfig,
  baseDir: string,
  t: ReadTimeouts,
): Promise<AccountSnapshot> {
  let conn: mysql.Connection | null = null;
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      // Destroy, not end(): a silent server must not hold the refresh.
      (conn as unknown as { destroy?: () => void } | null)?.destroy?.();
      reject(
        new Error(`${b.host}:${b.port} did not answer within ${t.connectTimeoutMs + t.queryTimeoutMs} ms`),
      );
    }, t.connectTimeoutMs + t.queryTimeoutMs);
  });
  const work = (async () => {
    conn = await mysql.createConnection({
      host: b.host,
      port: b.port,
      user: b.user,
      password: b.password,
      connectTimeout: t.connectTimeoutMs,
      ssl: b.tls
        ? {
            ca: b.tls.ca ? readFileSync(resolve(baseDir, b.tls.ca), "utf8") : undefined,
            rejectUnauthorized: b.tls.rejectUnauthorized,
          }
        : undefined,
      connectAttributes: { program_name: "pairgate-accounts" },
    });
    const [vars] = await conn.query(
      "SELECT @@version AS v, @@skip_name_resolve AS s, @@default_password_lifetime AS d, UNIX_TIMESTAMP() AS n",
    );
    const row = (vars as Record<string, unknown>[])[0];
    const kind: ServerKind = /mariadb/i.test(text(row.v)) ? "mariadb" : "mysql";
    const defaultLifetime = Number(row.d) || 0;
    const now = Number(row.n) || Date.now() / 1000; // the server's clock decides, as it does
    const accounts: Account[] = [];
    if (kind === "mariadb") {
      const [rows] = await conn.query("SELECT User AS u, Host AS h, Priv AS p FROM mysql.global_priv");
      for (const r of rows as Record<string, unknown>[]) {
        // mysql2 hands a JSON column over parsed; a string when the server types it as text.
        const priv = Buffer.isBuffer(r.p) ? r.p.toString("utf8") : (r.p as string | object);
        const a = mariadbAccount(text(r.u), text(r.h), priv, defaultLifetime, now);
        if (a) accounts.push(a);
      }
    } else {
      const [rows] = await conn.query(
        "SELECT User AS u, Host AS h, plugin AS p, authentication_string AS a, account_locked AS l, " +
          "password_expired AS e, UNIX_TIMESTAMP(password_last_changed) AS c, password_lifetime AS t FROM mysql.user",
      );
      for (const r of rows as Record<string, unknown>[]) {
        const expired =
          text(r.e) === "Y" ||
          passwordExpired(
            r.c == null ? null : Number(r.c),
            r.t == null ? null : Number(r.t),
            defaultLifetime,
            now,
          );
        accounts.push(mysqlAccount(text(r.u), text(r.h), text(r.p), text(r.a), text(r.l), expired));
      }
    }
    accounts.sort(compareAccounts);
    return { kind, resolvesNames: Number(row.s) === 0, accounts };
  })();
  try {
    return await Promise.race([work, deadline]);
  } finally {
    clearTimeout(timer);
    work.catch(() => {});
    const c = conn as mysql.Connection | null;
    if (c) c.end().catch(() => (c as unknown as { destroy(): void }).destroy());
  }
}
