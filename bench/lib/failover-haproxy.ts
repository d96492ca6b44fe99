/**
 * HAProxy as a new user would put it in front of a primary/secondary pair: TCP mode, the primary
 * active and the secondary a `backup` server, `option mysql-check` health checks every 250 ms with
 * `fall 2 rise 2` (the same cadence as pairgate's monitor defaults) and a 500 ms check timeout.
 * Nothing else: no `on-marked-down shutdown-sessions`, no `on-marked-up shutdown-backup-sessions`
 * (a new user rarely knows them), client/server timeouts of a minute.
 */
import { spawnSync } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type Managed, spawnManaged } from "./children.js";

export interface FailoverHaproxyOptions {
  listen: { host: string; port: number };
  primary: { host: string; port: number };
  secondary: { host: string; port: number };
  /** A passwordless MySQL user for `option mysql-check` (a clean login and QUIT). */
  checkUser: string;
  interMs: number;
}

export function failoverHaproxyConfig(o: FailoverHaproxyOptions): string {
  const check = `check inter ${o.interMs}ms fall 2 rise 2`;
  return [
    "global",
    "    maxconn 4096",
    "",
    "defaults",
    "    mode tcp",
    "    timeout connect 5s",
    "    timeout client 1m",
    "    timeout server 1m",
    "    timeout check 500ms",
    "",
    "listen mysql",
    `    bind ${o.listen.host}:${o.listen.port}`,
    "    mode tcp",
    `    option mysql-check user ${o.checkUser} post-41`,
    `    server primary ${o.primary.host}:${o.primary.port} ${check}`,
    `    server secondary ${o.secondary.host}:${o.secondary.port} ${check} backup`,
    "",
  ].join("\n");
}

/** Writes the config into `dir` (haproxy-<tag>.cfg), checks it, and starts HAProxy in the foreground. */
export function startFailoverHaproxy(
  bin: string,
  dir: string,
  tag: string,
  o: FailoverHaproxyOptions,
): Managed {
  const cfg = join(dir, `haproxy-${tag}.cfg`);
  writeFileSync(cfg, failoverHaproxyConfig(o));
  const check = spawnSync(bin, ["-c", "-q", "-f", cfg], { encoding: "utf8" });
  if (check.status !== 0)
    throw new Error(`haproxy rejects its config ${cfg}:\n${check.stdout}${check.stderr}`);
  return spawnManaged("haproxy", bin, ["-db", "-f", cfg], join(dir, `haproxy-${tag}.log`));
}
