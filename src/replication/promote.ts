/**
 * `pairgate promote --config FILE`: disaster recovery when the primary is lost for good — the seed's
 * "copy the secondary's data files into a fresh installation", done in place on the secondary.
 *
 * 1. Split-brain guard: if the old primary still accepts TCP connections, refuse (unless --force,
 *    which also tries to set read_only=ON there). A server that answers may still take writes.
 * 2. The secondary's IO thread stops (nothing more arrives) and its SQL thread applies everything
 *    it received: MASTER_GTID_WAIT(Gtid_IO_Pos) / WAIT_FOR_EXECUTED_GTID_SET(Retrieved_Gtid_Set).
 *    A secondary whose SQL thread stopped on an error, or that cannot apply all it received in
 *    time (e.g. the relay log ends inside a transaction), is refused unless --force.
 * 3. STOP SLAVE; RESET SLAVE ALL; read_only=OFF; events disabled as a replica enabled again.
 * 4. The config file: backup FILE.bak-<timestamp>, then `primary` becomes the former secondary
 *    (see config-rewrite.ts for `secondary` and `lab`), written atomically.
 * 5. A running pairgate reloads: SIGHUP to --pid, or to the pid in `.pairgate/pairgate.pid` next
 *    to the config (written by `pairgate start`).
 */
import { copyFileSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { Socket } from "node:net";
import { resolve } from "node:path";
import { type Config, configPath, loadConfig, parseConfig } from "../config/load.js";
import { FENCE_SCHEMA, FENCE_TABLE, fenceWriteStatements } from "../topology/fence.js";
import { promoteConfigText } from "./config-rewrite.js";
import { type Endpoint, formatEndpoint, sameEndpoint } from "./endpoint.js";
import { ReplicationError } from "./errors.js";
import { enableSemiSync, readSemiSync } from "./lossless.js";
import { findRunningPairgate } from "./pidfile.js";
import {
  type AdminCredentials,
  type AdminSession,
  closeAll,
  connectAdmin,
  inspect,
  replicaStatus,
  rows,
  scalar,
} from "./server.js";
import { DEFAULT_SEMI_SYNC_TIMEOUT_MS } from "./server-family.js";

export interface PromoteOptions {
  configFile: string;
  admin: AdminCredentials;
  /** Verifies the secondary's certificate; default: `secondary.tls.ca` of the config. */
  sslCa?: string;
  force?: boolean;
  /** SIGHUP this pid instead of the one in the pid file. */
  pid?: number;
  /** Signal a running pairgate (default true). */
  reload?: boolean;
  /** Longest wait for the secondary to apply what it received (default 60 s). */
  timeoutMs?: number;
  /** How long the old primary gets to accept a connection (default 3 s). */
  probeTimeoutMs?: number;
  log?: (line: string) => void;
}

export interface PromoteResult {
  formerPrimary: string;
  newPrimary: string;
  oldPrimaryAnswered: boolean;
  fenced: string | null;
  /** What the secondary had received and applied when replication was stopped; null if it had none. */
  replication: { received: string; applied: string; relayLogDrained: boolean } | null;
  readOnlyWas: boolean;
  /** The promotion epoch written on the new primary (pairgate.fence): every pairgate fences servers with an older one. */
  epoch: number | null;
  configFile: string;
  backupFile: string | null;
  configChanged: boolean;
  removedLab: boolean;
  reload: { pid: number | null; signalled: boolean; note: string };
  warnings: string[];
  nextSteps: string[];
}

/** Does anything accept a TCP connection at `e` within `timeoutMs`? */
export function serverAnswers(e: Endpoint, timeoutMs: number): Promise<boolean> {
  return new Promise((done) => {
    const s = new Socket();
    const finish = (v: boolean) => {
      s.destroy();
      done(v);
    };
    s.setTimeout(timeoutMs, () => finish(false));
    s.once("connect", () => finish(true));
    s.once("error", () => finish(false));
    s.connect(e.port, e.host);
  });
}

function timestamp(d = new Date()): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

function endpointOf(b: Config["primary"]): Endpoint {
  return { host: b.host, port: b.port };
}

export async function promote(o: PromoteOptions): Promise<PromoteResult> {
  const log = o.log ?? (() => {});
  const config = loadConfig(o.configFile);
  const oldPrimary = endpointOf(config.primary);
  const candidate = endpointOf(config.secondary);
  const warnings: string[] = [];
  const timeoutMs = o.timeoutMs ?? 60_000;
  const result: PromoteResult = {
    formerPrimary: formatEndpoint(oldPrimary),
    newPrimary: formatEndpoint(candidate),
    oldPrimaryAnswered: false,
    fenced: null,
    replication: null,
    readOnlyWas: false,
    epoch: null,
    configFile: config.file,
    backupFile: null,
    configChanged: false,
    removedLab: false,
    reload: { pid: null, signalled: false, note: "" },
    warnings,
    nextSteps: [],
  };
  const alreadyPromoted = sameEndpoint(oldPrimary, candidate);
  const sslCa =
    o.sslCa ?? (config.secondary.tls?.ca ? configPath(config, config.secondary.tls.ca) : undefined);

  if (!alreadyPromoted) {
    result.oldPrimaryAnswered = await serverAnswers(oldPrimary, o.probeTimeoutMs ?? 3000);
    if (result.oldPrimaryAnswered && !o.force)
      throw new ReplicationError(
        "PAIRGATE_PROMOTE_PRIMARY_ALIVE",
        `the primary ${formatEndpoint(oldPrimary)} still answers: promoting the secondary now could leave two ` +
          "writable primaries (split brain). Stop it for good (or cut it off) first; --force promotes anyway " +
          "and tries to set read_only=ON on it",
      );
    if (result.oldPrimaryAnswered) {
      warnings.push(`the old primary ${formatEndpoint(oldPrimary)} still answers (--force)`);
      result.fenced = await fence(oldPrimary, o.admin, sslCa);
      log(`old primary: ${result.fenced}`);
    } else {
      log(
        `the primary ${formatEndpoint(oldPrimary)} does not answer: promoting ${formatEndpoint(candidate)}`,
      );
    }
  }

  let ss: AdminSession | undefined;
  try {
    ss = await connectAdmin("secondary", candidate, o.admin, { sslCa });
    const { facts, dialect: d } = await inspect("secondary", ss);
    const c = ss.conn;
    result.readOnlyWas = facts.readOnly;
    const st = await replicaStatus(c, d);
    if (st) {
      if (st.ioRunning !== "No") await c.query(d.stopIoThread());
      let now = (await replicaStatus(c, d)) ?? st;
      if (now.sqlRunning !== "Yes") {
        if (now.lastSqlError && !o.force)
          throw new ReplicationError(
            "PAIRGATE_PROMOTE_NOT_APPLIED",
            `the secondary's SQL thread stopped on an error, so it has not applied everything it received: ${now.lastSqlError}\n` +
              "fix it and START SLAVE SQL_THREAD, or --force to promote it as it is",
          );
        if (!now.lastSqlError) await c.query(d.startSqlThread());
      }
      const received = now.receivedPos;
      if (received && (now.sqlRunning === "Yes" || !now.lastSqlError)) {
        log(`waiting for the secondary to apply everything it received (${received})`);
        const r = await scalar(c, d.waitForPosition(received, Math.max(1, Math.ceil(timeoutMs / 1000))));
        if (r !== "0") {
          const applied = await scalar(c, d.appliedPosition());
          const msg =
            `the secondary received ${received} but applied only ${applied} within ${Math.round(timeoutMs / 1000)} s ` +
            "(the relay log may end inside a transaction the primary never finished sending)";
          if (!o.force)
            throw new ReplicationError(
              "PAIRGATE_PROMOTE_NOT_APPLIED",
              `${msg}; --force promotes it as it is`,
            );
          warnings.push(msg);
        }
      }
      // The SQL thread also says it has read the whole relay log (MariaDB and MySQL word it alike).
      const drainedBy = Date.now() + 5000;
      while (
        now.sqlRunning === "Yes" &&
        !/read all relay log/i.test(now.sqlState) &&
        Date.now() < drainedBy
      ) {
        await new Promise((r) => setTimeout(r, 50));
        now = (await replicaStatus(c, d)) ?? now;
      }
      const relayLogDrained = /read all relay log/i.test(now.sqlState);
      if (!relayLogDrained && now.sqlRunning === "Yes")
        warnings.push(
          `the SQL thread had not reported the relay log read to its end (${now.sqlState || "no state"})`,
        );
      result.replication = { received, applied: await scalar(c, d.appliedPosition()), relayLogDrained };
      await c.query(d.stopReplica());
      await c.query(d.resetReplicaAll());
      log(
        `replication stopped and reset (${d.stopReplica()}; ${d.resetReplicaAll()}); applied ${result.replication.applied || "(empty)"}`,
      );
    } else {
      log("the secondary has no replication configured (promoted before?)");
    }
    for (const s of d.setReadOnly(false)) await c.query(s);
    log(`${formatEndpoint(candidate)}: read_only=OFF — it is the primary now`);
    for (const ev of await rows(c, d.replicaDisabledEvents())) {
      await c.query(d.enableEvent(String(ev.schema), String(ev.name)));
      log(`event ${ev.schema}.${ev.name} enabled again`);
    }
    // The split-brain fence: a new epoch on the new primary, binlogged so its future replicas carry it.
    if (!alreadyPromoted || !(await hasFenceMark(c))) {
      for (const q of fenceWriteStatements()) await c.query(q);
      result.epoch = Number(await scalar(c, `SELECT epoch AS pos FROM ${FENCE_TABLE} WHERE id = 1`)) || null;
      log(
        `promotion epoch ${result.epoch} written to ${FENCE_TABLE}: a pairgate that still sends writes to the old primary fences it`,
      );
    } else {
      result.epoch = Number(await scalar(c, `SELECT epoch AS pos FROM ${FENCE_TABLE} WHERE id = 1`)) || null;
    }
    const serviceUser = config.secondary.user;
    try {
      for (const a of await rows(
        c,
        `SELECT User AS user, Host AS host FROM mysql.user WHERE User = ${c.escape(serviceUser)}`,
      ))
        await c.query(
          `GRANT SELECT ON ${FENCE_SCHEMA}.* TO ${c.escape(String(a.user))}@${c.escape(String(a.host))}`,
        );
    } catch (err) {
      warnings.push(
        `could not grant SELECT on ${FENCE_SCHEMA}.* to the service account ${serviceUser}: ${(err as Error).message} — ` +
          "pairgate instances cannot read the promotion epoch without it",
      );
    }
    // Semi-sync stays coherent for the swapped roles: the new primary waits for the acknowledgement
    // of whichever replica is attached next (inactive, so no commit waits, until one is).
    try {
      const semi = await readSemiSync(c, d);
      await enableSemiSync(c, d, semi?.timeoutMs ?? DEFAULT_SEMI_SYNC_TIMEOUT_MS);
      log(
        "semi-synchronous replication enabled on the new primary: lossless again once a secondary is attached",
      );
    } catch (err) {
      warnings.push(`semi-synchronous replication not enabled on the new primary: ${(err as Error).message}`);
    }
    result.nextSteps.push(
      `Remove read_only=ON from the option file of ${formatEndpoint(candidate)} (${d.optionGroup}), or it comes back read-only after a restart.`,
    );
  } finally {
    await closeAll(ss);
  }

  rewriteConfig(result, log);
  reloadPairgate(result, o, log);
  result.nextSteps.push(
    `The old primary ${formatEndpoint(oldPrimary)} must never come back as a primary: wipe it, or attach it (or a new server) as the new secondary:`,
    `  npx pairgate replication setup --primary ${formatEndpoint(candidate)} --secondary ${formatEndpoint(oldPrimary)} ` +
      `--admin-user ${o.admin.user}${sslCa ? ` --ssl-ca ${sslCa}` : ""} --force`,
    `Then set "secondary" in ${result.configFile} to that server and reload pairgate (kill -HUP <pid>). Until then pairgate has no read-only fallback.`,
  );
  return result;
}

async function hasFenceMark(c: AdminSession["conn"]): Promise<boolean> {
  try {
    return (await rows(c, `SELECT epoch FROM ${FENCE_TABLE} WHERE id = 1`)).length > 0;
  } catch {
    return false;
  }
}

/** Best effort: read_only=ON on an old primary that still answers. */
async function fence(e: Endpoint, admin: AdminCredentials, sslCa?: string): Promise<string> {
  let s: AdminSession | undefined;
  try {
    s = await connectAdmin("old primary", e, admin, { sslCa, connectTimeoutMs: 3000 });
    const { dialect } = await inspect("old primary", s);
    for (const q of dialect.setReadOnly(true)) await s.conn.query(q);
    return "read_only=ON set on the old primary";
  } catch (err) {
    return `could not set read_only=ON on the old primary: ${(err as Error).message}`;
  } finally {
    await closeAll(s);
  }
}

function rewriteConfig(result: PromoteResult, log: (line: string) => void): void {
  const file = result.configFile;
  const before = readFileSync(file, "utf8");
  const next = promoteConfigText(before);
  result.removedLab = next.removedLab;
  if (!next.changed) {
    log(`${file} already names ${result.newPrimary} as the primary`);
    return;
  }
  parseConfig(JSON.parse(next.text), file); // the rewritten file must load, or nothing is written
  const backup = `${file}.bak-${timestamp()}`;
  copyFileSync(file, backup);
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, next.text);
  renameSync(tmp, file);
  result.backupFile = backup;
  result.configChanged = true;
  log(
    `${file}: primary is now ${result.newPrimary} (secondary too, until a new one is set up); backup in ${backup}`,
  );
  if (next.removedLab)
    log(`${file}: the "lab" section was removed (a promoted config no longer describes a lab pair)`);
}

function reloadPairgate(result: PromoteResult, o: PromoteOptions, log: (line: string) => void): void {
  if (o.reload === false) {
    result.reload.note = "not reloaded (--no-reload): send SIGHUP to pairgate yourself";
    return;
  }
  let pid = o.pid ?? null;
  if (pid === null) {
    const found = findRunningPairgate(resolve(o.configFile));
    if (!found.found) {
      result.reload.note = `no running pairgate found (${found.reason}): if one runs with this config, send it SIGHUP (kill -HUP <pid>)`;
      log(result.reload.note);
      return;
    }
    pid = found.pid;
  }
  result.reload.pid = pid;
  try {
    process.kill(pid, "SIGHUP");
    result.reload.signalled = true;
    result.reload.note = `pairgate (pid ${pid}) reloads its config: new sessions go to ${result.newPrimary}`;
  } catch (e) {
    result.reload.note = `could not signal pid ${pid}: ${(e as Error).message}`;
    result.warnings.push(result.reload.note);
  }
  log(result.reload.note);
}

export function formatPromoteResult(r: PromoteResult): string[] {
  return [
    "",
    `Promoted ${r.newPrimary} to primary (the former primary was ${r.formerPrimary}).`,
    ...(r.replication
      ? [`  it had applied everything it received: ${r.replication.applied || "(empty)"}`]
      : []),
    ...(r.epoch !== null
      ? [
          `  promotion epoch ${r.epoch}: pairgate instances fence any primary with an older one (split-brain fence)`,
        ]
      : []),
    r.configChanged
      ? `  config ${r.configFile} rewritten (backup ${r.backupFile})`
      : `  config ${r.configFile} unchanged`,
    `  ${r.reload.note}`,
    ...r.warnings.map((w) => `warning: ${w}`),
    "",
    "Next:",
    ...r.nextSteps.map((s) => (s.startsWith("  ") ? s : `- ${s}`)),
  ];
}
