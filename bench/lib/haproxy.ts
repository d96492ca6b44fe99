/**
 * HAProxy in TCP mode as the bench's reference proxy: installed from Debian's packages when
 * missing, one listener on a loopback port, one server (the primary).
 */
import { execFileSync, spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Managed, spawnManaged } from "./children.js";

export function haproxyBinary(): string | null {
  for (const p of ["/usr/sbin/haproxy", "/usr/local/sbin/haproxy", "/usr/bin/haproxy"]) {
    if (spawnSync(p, ["-v"], { stdio: "ignore" }).status === 0) return p;
  }
  const which = spawnSync("sh", ["-c", "command -v haproxy"], { encoding: "utf8" });
  return which.status === 0 && which.stdout.trim() ? which.stdout.trim() : null;
}

/** The haproxy binary, installing Debian's `haproxy` package first when it is missing (needs root). */
export function ensureHaproxy(log: (msg: string) => void): string {
  const found = haproxyBinary();
  if (found) return found;
  if (process.getuid?.() !== 0) {
    throw new Error("haproxy is missing and the bench is not root: sudo apt-get install -y haproxy");
  }
  log("haproxy is missing: apt-get install -y haproxy");
  const env = { ...process.env, DEBIAN_FRONTEND: "noninteractive" };
  execFileSync("apt-get", ["update", "-qq"], { stdio: "inherit", env });
  execFileSync("apt-get", ["install", "-y", "-qq", "--no-install-recommends", "haproxy"], {
    stdio: "inherit",
    env,
  });
  const bin = haproxyBinary();
  if (!bin) throw new Error("apt-get installed haproxy but no haproxy binary was found");
  return bin;
}

export function haproxyVersion(bin: string): string {
  const out = spawnSync(bin, ["-v"], { encoding: "utf8" }).stdout ?? "";
  return /version\s+(\S+)/i.exec(out)?.[1] ?? "unknown";
}

export interface HaproxyConfigOptions {
  listen: { host: string; port: number };
  server: { host: string; port: number };
  /** A passwordless MySQL user for `option mysql-check` (a clean login and QUIT every 2 s). */
  checkUser: string;
  maxconn?: number;
}

/**
 * The config: `mode tcp`, one server. The health check logs in and quits (mysql-check) every 2 s
 * rather than opening and dropping TCP connections, which MariaDB would count as aborted connects
 * (and, with enough of them, block the host). Long client/server timeouts: sysbench's sessions
 * are idle only between runs. Threads: HAProxy's default (one per available CPU).
 */
export function haproxyConfig(o: HaproxyConfigOptions): string {
  return [
    "global",
    `    maxconn ${o.maxconn ?? 4096}`,
    "",
    "defaults",
    "    mode tcp",
    "    timeout connect 5s",
    "    timeout client 1h",
    "    timeout server 1h",
    "    timeout check 2s",
    "",
    "listen mysql",
    `    bind ${o.listen.host}:${o.listen.port}`,
    "    mode tcp",
    "    balance first",
    `    option mysql-check user ${o.checkUser} post-41`,
    `    server primary ${o.server.host}:${o.server.port} check inter 2s`,
    "",
  ].join("\n");
}

/** Writes the config into `dir`, checks it (`haproxy -c`), and starts HAProxy in the foreground (-db). */
export function startHaproxy(bin: string, dir: string, o: HaproxyConfigOptions): Managed {
  const cfg = join(dir, "haproxy.cfg");
  writeFileSync(cfg, haproxyConfig(o));
  const check = spawnSync(bin, ["-c", "-q", "-f", cfg], { encoding: "utf8" });
  if (check.status !== 0)
    throw new Error(`haproxy rejects its config ${cfg}:\n${check.stdout}${check.stderr}`);
  return spawnManaged("haproxy", bin, ["-db", "-f", cfg], join(dir, "haproxy.log"));
}
