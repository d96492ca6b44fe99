/**
 * Can these two servers be paired? Pure: takes what `inspect` read from both and says what is
 * wrong (refuse), what is merely unwise (warn), and — for what only the option file and a restart
 * can change — the exact lines to add.
 */

import { formatEndpoint } from "./endpoint.js";
import type { ServerFacts } from "./server.js";
import { type Dialect, unsupportedVersion } from "./server-family.js";

export interface OptionLines {
  /** Without these the pair cannot be set up. */
  required: string[];
  /** Advised: the setup works without them. */
  recommended: string[];
}

export interface PreflightResult {
  problems: string[];
  warnings: string[];
  /** One line per server: what was found. */
  summary: string[];
  lines: { primary: OptionLines; secondary: OptionLines };
}

function describe(f: ServerFacts, d: Dialect): string {
  const family = d.flavor === "mariadb" ? "MariaDB" : "MySQL";
  const v = `${d.version.major}.${d.version.minor}.${d.version.patch}`;
  const binlog = f.logBin ? `binlog ON (${f.binlogFormat || "?"})` : "binlog OFF";
  const gtid = d.flavor === "mariadb" ? "GTID" : `gtid_mode=${f.gtidMode}`;
  return `${f.role} ${formatEndpoint(f.endpoint)}: ${family} ${v}, server_id ${f.serverId}, ${binlog}, ${gtid}, TLS ${f.tlsAvailable ? "available" : "NOT available"}`;
}

export function preflight(p: ServerFacts, pd: Dialect, s: ServerFacts, sd: Dialect): PreflightResult {
  const problems: string[] = [];
  const warnings: string[] = [];
  const lines = {
    primary: { required: [] as string[], recommended: [] as string[] },
    secondary: { required: [] as string[], recommended: [] as string[] },
  };
  const servers = [
    { f: p, d: pd, l: lines.primary },
    { f: s, d: sd, l: lines.secondary },
  ];
  const name = (f: ServerFacts) => `${f.role} ${formatEndpoint(f.endpoint)}`;

  if (pd.flavor !== sd.flavor)
    problems.push(
      `${name(p)} runs ${pd.flavor === "mariadb" ? "MariaDB" : "MySQL"} and ${name(s)} runs ` +
        `${sd.flavor === "mariadb" ? "MariaDB" : "MySQL"}: both must be the same family`,
    );
  for (const { f, d } of servers) {
    const why = unsupportedVersion(d.version);
    if (why) problems.push(`${name(f)} runs ${f.version}: ${why}`);
  }
  if (pd.flavor === sd.flavor) {
    const pv = pd.version;
    const sv = sd.version;
    const older = sv.major < pv.major || (sv.major === pv.major && sv.minor < pv.minor);
    if (older)
      problems.push(
        `${name(s)} runs ${sv.major}.${sv.minor}, older than the primary's ${pv.major}.${pv.minor}: ` +
          "a replica must run the same or a newer version",
      );
    else if (sv.major !== pv.major || sv.minor !== pv.minor || sv.patch !== pv.patch)
      warnings.push(
        `versions differ (primary ${pv.major}.${pv.minor}.${pv.patch}, secondary ${sv.major}.${sv.minor}.${sv.patch}): ` +
          "fine for replication, but a promoted secondary then runs another version",
      );
  }

  for (const { f, d, l } of servers) {
    if (f.serverId === 0) {
      problems.push(`${name(f)} has server_id 0, which cannot replicate`);
      l.required.push(`server_id = ${f.role === "primary" ? 1 : 2}`);
    }
    if (!f.logBin) {
      problems.push(
        f.role === "primary"
          ? `${name(f)} has binary logging off: replication reads the primary's binlog`
          : `${name(f)} has binary logging off: it needs a binlog to take over as primary (promote)`,
      );
      l.required.push("log_bin = mysql-bin");
    }
    if (d.flavor === "mysql") {
      if (f.gtidMode !== "ON") {
        problems.push(`${name(f)} has gtid_mode=${f.gtidMode}: replication by GTID needs gtid_mode=ON`);
        l.required.push("gtid_mode = ON");
      }
      if (f.enforceGtidConsistency !== "ON") {
        if (f.gtidMode === "ON")
          problems.push(`${name(f)} has enforce_gtid_consistency=${f.enforceGtidConsistency}`);
        l.required.push("enforce_gtid_consistency = ON");
      }
    } else if (f.gtidStrictMode === false) {
      warnings.push(`${name(f)} has gtid_strict_mode=OFF: an out-of-order GTID would go unnoticed`);
      l.recommended.push("gtid_strict_mode = ON");
    }
    if (f.logBin && /^statement$/i.test(f.binlogFormat)) {
      warnings.push(`${name(f)} logs statements (binlog_format=STATEMENT): ROW replicates exactly`);
      l.recommended.push("binlog_format = ROW");
    }
  }

  if (p.serverId !== 0 && p.serverId === s.serverId) {
    problems.push(`both servers have server_id ${p.serverId}: each server of a pair needs its own`);
    lines.secondary.required.push(`server_id = ${p.serverId + 1}`);
  }
  if (s.logBin && s.logReplicaUpdates === false) {
    warnings.push(`${name(s)} does not log what it replicates: after a promotion its binlog starts empty`);
    lines.secondary.recommended.push(
      sd.flavor === "mysql" ? "log_replica_updates = ON" : "log_slave_updates = ON",
    );
  }
  const tlsLines = [
    "ssl_cert = /path/to/server-cert.pem",
    "ssl_key = /path/to/server-key.pem",
    "ssl_ca = /path/to/ca.pem",
  ];
  if (!p.tlsAvailable) {
    problems.push(`${name(p)} has no TLS: replication must travel encrypted`);
    lines.primary.required.push(...tlsLines);
  }
  if (!s.tlsAvailable) {
    warnings.push(`${name(s)} has no TLS: pairgate and clients reach it unencrypted`);
    lines.secondary.recommended.push(...tlsLines);
  }
  return { problems, warnings, summary: [describe(p, pd), describe(s, sd)], lines };
}

/** "[mariadbd]\nlog_bin = mysql-bin\nserver_id = 2": what the operator pastes into an option file. */
export function formatOptionLines(group: string, lines: string[]): string {
  return [group, ...lines].join("\n");
}

/** The option-file advice of a preflight, for printing. Empty when nothing must or should change. */
export function optionFileAdvice(
  r: PreflightResult,
  who: { primary: string; secondary: string },
  group: string,
): string[] {
  const out: string[] = [];
  for (const role of ["primary", "secondary"] as const) {
    const l = r.lines[role];
    if (l.required.length)
      out.push(
        `${who[role]}: add to its option file and restart it:`,
        formatOptionLines(group, [...l.required, ...l.recommended]),
      );
    else if (l.recommended.length)
      out.push(`${who[role]}: advised in its option file:`, formatOptionLines(group, l.recommended));
  }
  return out;
}
