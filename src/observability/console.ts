/**
 * What a person at a terminal sees from `pairgate start`: a short banner (where to connect, the
 * lab's user and password when it is the lab, the status page, how to stop) and log lines in words
 * (pino-pretty) instead of JSON. JSON stays the format for files, pipes and collectors: it is the
 * default whenever stdout is not a TTY, and `--log-format json` (or `log.format: "json"`) forces it.
 */
import type { Config } from "../config/load.js";
import { DEMO_SCHEMA } from "../lab/provision.js";

export type LogFormat = "json" | "pretty";
export type LogFormatSetting = LogFormat | "auto";

/** `auto`: pretty on a TTY, JSON otherwise. The command-line flag wins over the config. */
export function resolveLogFormat(
  flag: string | undefined,
  configured: LogFormatSetting,
  isTTY: boolean,
): LogFormat {
  const want = (flag ?? configured) as LogFormatSetting;
  if (want !== "auto" && want !== "json" && want !== "pretty")
    throw new Error(`--log-format must be auto, json or pretty (got ${JSON.stringify(flag)})`);
  return want === "auto" ? (isTTY ? "pretty" : "json") : want;
}

/** A host an operator can type: wildcard listens are reached at localhost. */
function reachable(host: string): string {
  if (host === "0.0.0.0" || host === "::" || host === "") return "127.0.0.1";
  return host.includes(":") ? `[${host}]` : host;
}

export interface BannerInputs {
  config: Config;
  listen: { host: string; port: number };
  adminPort: number;
  mode: string;
  pid: number;
  version: string;
  /** Colour the labels (a TTY). */
  color?: boolean;
  /** The lab's application user (users[0], or the one the lab keeps in its folder when the config lists none). */
  labUser?: { username: string; password: string };
}

/** Single-quote for a POSIX shell. */
const sh = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replaceAll("'", `'\\''`)}'`);

export function renderBanner(b: BannerInputs): string {
  const bold = (s: string) => (b.color ? `\x1b[1m${s}\x1b[22m` : s);
  const dim = (s: string) => (b.color ? `\x1b[2m${s}\x1b[22m` : s);
  const c = b.config;
  const host = reachable(b.listen.host);
  const adminUrl = `http://${reachable(c.admin.host)}:${b.adminPort}/`;
  const lines: [string, string][] = [];
  const u = b.labUser ?? c.users[0];
  if (c.lab && u) {
    lines.push([
      "Connect",
      `mysql -h ${host} -P ${b.listen.port} -u ${sh(u.username)} -p${sh(u.password)} ${DEMO_SCHEMA}`,
    ]);
    lines.push([
      "Lab user",
      `${u.username} / ${u.password}  ${dim(c.users.length ? "(the lab's application user)" : "(the lab's application user; pairgate reads its account from the servers)")}`,
    ]);
    lines.push([
      "Lab pair",
      `primary ${c.primary.host}:${c.primary.port}, secondary ${c.secondary.host}:${c.secondary.port}  ${dim(`(data in ${c.lab.dir})`)}`,
    ]);
  } else if (c.users.length) {
    const names = c.users.map((u) => u.username).join(", ");
    const more = c.accounts.fromServers ? " or any account of the servers" : "";
    lines.push([
      "Connect",
      `${host}:${b.listen.port}  ${dim(`as ${names} (passwords in ${c.file})${more}`)}`,
    ]);
  } else {
    lines.push([
      "Connect",
      `${host}:${b.listen.port}  ${dim("as any account of the servers, with its password there")}`,
    ]);
  }
  lines.push(["Status page", adminUrl]);
  lines.push(["Metrics", `${adminUrl}metrics`]);
  lines.push(["Stop", `Ctrl-C  ${dim(`(or kill -TERM ${b.pid}; kill -HUP ${b.pid} reloads ${c.file})`)}`]);
  const width = Math.max(...lines.map(([k]) => k.length));
  const out = [
    "",
    `  ${bold(`pairgate ${b.version}`)} is serving — mode ${bold(b.mode)}`,
    "",
    ...lines.map(([k, v]) => `  ${bold(k.padEnd(width))}  ${v}`),
    "",
  ];
  return `${out.join("\n")}\n`;
}
