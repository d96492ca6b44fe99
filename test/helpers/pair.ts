/**
 * An isolated primary/secondary pair of real MariaDB servers for one test suite: free ports,
 * a private temporary folder, always torn down — by `stop()`, and as a safety net when the
 * process exits or is interrupted. A later run also removes what a killed run left behind.
 * Only the cached, read-only data-dir template is shared between pairs.
 *
 *   const pair = await startPair();
 *   try { ...pair.proxyConfig()... } finally { await pair.stop(); }
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Connection, ConnectionOptions } from "mysql2/promise";
import mysql from "mysql2/promise";
import type { ConfigInput } from "../../src/config/schema.js";
import {
  type Credentials,
  DEMO_SCHEMA,
  LAB_APP_USER_FILE,
  Lab,
  LabError,
  ROLES,
  type Role,
} from "../../src/lab/index.js";
import { isAlive, pidsWithArg, signal } from "../../src/lab/process.js";
import { freePorts } from "./ports.js";

export interface Endpoint {
  host: string;
  port: number;
}

export interface StartPairOptions {
  appUser?: Credentials;
  serviceUser?: Credentials;
  /** Keep the temporary folder after stop() (also PAIRGATE_KEEP_PAIR=1), to read the servers' logs. */
  keep?: boolean;
}

/** A nested partial of the raw config: objects merge key by key, arrays and values replace. */
export type ConfigOverrides = { [key: string]: unknown };

export interface TestPair {
  readonly lab: Lab;
  /** The pair's private temporary folder (the lab dir). */
  readonly dir: string;
  readonly primary: Endpoint;
  readonly secondary: Endpoint;
  /** The application user (users[0] in proxyConfig()): DML/DDL on passtrix.* and sbtest.*, no SUPER. */
  readonly appUser: Credentials;
  /** pairgate's service account (primary/secondary user in proxyConfig()). */
  readonly serviceUser: Credentials;
  /** The lab CA that signed both servers' certificate. */
  readonly caFile: string;
  /** Free ports reserved for this pair's proxy; proxyConfig() uses them. */
  readonly listenPort: number;
  readonly adminPort: number;
  /**
   * A raw config (the shape of proxy.config.json) pointing at this pair: listen/admin on this
   * pair's free ports, the app user in `users` (none with PAIRGATE_TEST_ACCOUNTS=servers; pass
   * `{ users: [] }` for a config that lists none: logins checked against the servers' accounts),
   * the audit journal inside the pair's folder, log level warn. No `lab` key: the pair is already up. A second proxy in one suite needs its own ports (see freePort()).
   */
  proxyConfig(overrides?: ConfigOverrides): ConfigInput;
  /** A direct client session (mysql2/promise) to one server, as the app user unless `options` say otherwise. */
  connect(role: Role, options?: ConnectionOptions): Promise<Connection>;
  /** A root session over the server's unix socket. */
  rootConnection(role: Role): Promise<Connection>;
  /** Stops both servers and removes the folder; safe to call twice. */
  stop(): Promise<void>;
}

const PREFIX = "pairgate-pair-";
const OWNER_FILE = "owner.pid";
const live = new Set<{ lab: Lab; dir: string; keep: boolean }>();
let hooksInstalled = false;

function killNow(lab: Lab): void {
  for (const role of ROLES) {
    for (const pid of pidsWithArg(`--defaults-file=${lab.optionFile(role)}`)) signal(pid, "SIGKILL");
  }
}

/** Synchronous: the only kind of work an 'exit' handler can do. */
function cleanupAllNow(): void {
  for (const p of live) {
    try {
      killNow(p.lab);
      if (!p.keep) rmSync(p.dir, { recursive: true, force: true });
    } catch {}
  }
  live.clear();
}

function installHooks(): void {
  if (hooksInstalled) return;
  hooksInstalled = true;
  process.on("exit", cleanupAllNow);
  for (const sig of ["SIGINT", "SIGTERM", "SIGHUP"] as const) {
    process.once(sig, () => {
      cleanupAllNow();
      process.exit(128 + (sig === "SIGINT" ? 2 : sig === "SIGTERM" ? 15 : 1));
    });
  }
}

/** Removes pairs whose owning process died without cleaning up (SIGKILL, a crash). */
function sweepOrphans(): void {
  const root = tmpdir();
  let names: string[];
  try {
    names = readdirSync(root).filter((n) => n.startsWith(PREFIX));
  } catch {
    return;
  }
  for (const name of names) {
    const dir = join(root, name);
    try {
      const owner = Number(readFileSync(join(dir, OWNER_FILE), "utf8"));
      if (owner === process.pid || isAlive(owner)) continue;
    } catch {
      continue; // being created right now, or not ours
    }
    for (const role of ROLES)
      for (const pid of pidsWithArg(`--defaults-file=${join(dir, role, "my.cnf")}`)) signal(pid, "SIGKILL");
    rmSync(dir, { recursive: true, force: true });
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

export function deepMerge<T extends Record<string, unknown>>(base: T, overrides: ConfigOverrides): T {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(overrides)) {
    out[k] = isPlainObject(v) && isPlainObject(out[k]) ? deepMerge(out[k] as Record<string, unknown>, v) : v;
  }
  return out as T;
}

function isPortClash(e: unknown): boolean {
  return e instanceof LabError && /Address already in use|Do you already have another/i.test(e.message);
}

export async function startPair(opts: StartPairOptions = {}): Promise<TestPair> {
  installHooks();
  sweepOrphans();
  const keep = opts.keep ?? process.env.PAIRGATE_KEEP_PAIR === "1";
  const appUser = opts.appUser ?? { username: "pmpuser", password: "pmp-test-secret" };
  const serviceUser = opts.serviceUser ?? { username: "pairgate_svc", password: "svc-test-secret" };
  const host = "127.0.0.1";

  for (let attempt = 1; ; attempt++) {
    const dir = mkdtempSync(join(tmpdir(), PREFIX));
    writeFileSync(join(dir, OWNER_FILE), String(process.pid));
    // The lab's application user when a config with `lab.dir` = this folder lists no `users`
    // (labAppUser): the pair's own, so such a `start` does not give it another password.
    writeFileSync(join(dir, LAB_APP_USER_FILE), JSON.stringify(appUser), { mode: 0o600 });
    const [primaryPort, secondaryPort, listenPort, adminPort] = await freePorts(4, host);
    const lab = new Lab({ dir, host, primaryPort, secondaryPort, appUser, serviceUser });
    const entry = { lab, dir, keep };
    live.add(entry);
    try {
      await lab.up();
    } catch (e) {
      await lab.down().catch(() => killNow(lab));
      live.delete(entry);
      if (!keep) rmSync(dir, { recursive: true, force: true });
      // Another process took one of the ports between our probe and the server's bind: try new ones.
      if (isPortClash(e) && attempt < 3) continue;
      throw e;
    }
    let stopped = false;
    const pair: TestPair = {
      lab,
      dir,
      primary: { host, port: primaryPort },
      secondary: { host, port: secondaryPort },
      appUser,
      serviceUser,
      caFile: lab.caFile,
      listenPort,
      adminPort,
      proxyConfig(overrides = {}) {
        const backend = (port: number) => ({
          host,
          port,
          user: serviceUser.username,
          password: serviceUser.password,
        });
        const base: ConfigInput = {
          listen: { host, port: listenPort },
          admin: { host, port: adminPort },
          primary: backend(primaryPort),
          secondary: backend(secondaryPort),
          // PAIRGATE_TEST_ACCOUNTS=servers runs a suite with no `users`: every login is checked
          // against the accounts pairgate reads from the servers (the app user is created there).
          ...(process.env.PAIRGATE_TEST_ACCOUNTS === "servers"
            ? {}
            : { users: [{ username: appUser.username, password: appUser.password }] }),
          audit: { journalDir: join(dir, "audit") },
          stateDir: join(dir, "state"),
          log: { level: "warn" },
          // Lenient health checks: suites not about failover must not fail over when a busy 2-core
          // machine stalls a check; failover suites pass their own tight timings.
          monitor: { intervalMs: 250, connectTimeoutMs: 2500, queryTimeoutMs: 2500, fall: 3, rise: 2 },
        };
        return deepMerge(base, overrides);
      },
      connect(role, options = {}) {
        return mysql.createConnection({
          host,
          port: role === "primary" ? primaryPort : secondaryPort,
          user: appUser.username,
          password: appUser.password,
          database: DEMO_SCHEMA,
          ...options,
        });
      },
      rootConnection(role) {
        return lab.rootConnection(role);
      },
      async stop() {
        if (stopped) return;
        stopped = true;
        try {
          await lab.down();
        } finally {
          live.delete(entry);
          if (!keep) rmSync(dir, { recursive: true, force: true });
        }
      },
    };
    return pair;
  }
}

/** The mariadbd processes still running with this lab folder's option files (for teardown tests). */
export function pairProcessesLeft(dir: string): number[] {
  return ROLES.flatMap((role) => pidsWithArg(`--defaults-file=${join(dir, role, "my.cnf")}`));
}
