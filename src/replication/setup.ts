/**
 * `pairgate replication setup`: two servers become a primary/secondary pair replicating by GTID
 * over TLS — the seed's four manual steps (package the primary's data, edit config files, copy the
 * package, run the enable scripts) as one command that checks what it does.
 *
 * 1. Reach both servers and check them (preflight): same family, a replica no older than its
 *    primary, binlog, GTID, distinct server_ids, TLS. Option-file changes are printed, not guessed.
 * 2. A secondary that already replicates from this primary is only verified (TLS turned on if it
 *    was off, threads started, read_only set, caught up): running setup twice is harmless.
 * 3. Otherwise, unless --force, refuse a secondary that holds databases of its own with tables
 *    (or routines, events) in them, or follows another primary. Databases without any (a fresh
 *    install's `test`) are named, dropped and replaced by the primary's. Then: secondary read-only; replication user (REQUIRE SSL, random password)
 *    on the primary; missing accounts copied; the primary's databases streamed across from one
 *    consistent snapshot; the replica starts at that snapshot's GTID position, over TLS.
 * 4. Lossless by default: semi-synchronous replication (AFTER_SYNC, `semiSyncTimeoutMs`) on both
 *    servers — each acknowledges as a replica and waits as a source, so the roles can swap after a
 *    promotion — and parallel apply on the secondary (both at runtime; the option-file lines to keep
 *    them are printed).
 * 5. Wait for both replication threads and for the secondary to catch up; print the summary.
 */
import { randomBytes } from "node:crypto";
import type { Connection } from "mysql2/promise";
import { accountsTable, copyMissingAccounts, grantAccountsRead } from "./accounts.js";
import { type Endpoint, formatEndpoint, sameEndpoint } from "./endpoint.js";
import { ReplicationError } from "./errors.js";
import {
  enableSemiSync,
  formatLossless,
  type LosslessReport,
  losslessReport,
  parallelApplyOk,
  readParallelApply,
  readSemiSync,
  waitSemiSyncActive,
} from "./lossless.js";
import { formatOptionLines, optionFileAdvice, preflight } from "./preflight.js";
import { type SeedProgress, type SeedResult, streamSeed } from "./seed.js";
import {
  type AdminCredentials,
  type AdminSession,
  closeAll,
  connectPair,
  databaseObjects,
  inspect,
  label,
  replicaStatus,
  rows,
  type ServerFacts,
  scalar,
  userDatabases,
} from "./server.js";
import { DEFAULT_SEMI_SYNC_TIMEOUT_MS, type Dialect, type ReplicaStatus } from "./server-family.js";

export const DEFAULT_REPLICATION_USER = "pairgate_repl";

export interface SetupOptions {
  primary: Endpoint;
  secondary: Endpoint;
  admin: AdminCredentials;
  /** CA that verifies both servers' certificates for pairgate's own sessions and the dump. */
  sslCa?: string;
  /** The CA file as a path on the secondary's host, for the replication channel (default: sslCa). */
  replicationSslCa?: string;
  replicationUser?: string;
  /** Host part of the replication account (default '%'). */
  replicationUserHost?: string;
  /** Copy the primary's accounts that the secondary lacks (default true). */
  copyAccounts?: boolean;
  /**
   * pairgate's service account: granted SELECT on the accounts table (mysql.global_priv on
   * MariaDB, mysql.user on MySQL) on both servers, so pairgate can read the accounts it
   * authenticates clients against (README "Accounts").
   */
  serviceUser?: string;
  force?: boolean;
  /** Longest wait for the replica to start and catch up (default 300 s). */
  timeoutMs?: number;
  /** Semi-synchronous (lossless) replication: default true. */
  semiSync?: boolean;
  /** How long a commit waits for the secondary's acknowledgement before the primary falls back to asynchronous (default 10 s). */
  semiSyncTimeoutMs?: number;
  log?: (line: string) => void;
  onProgress?: (p: SeedProgress) => void;
}

export interface SetupResult {
  action: "seeded" | "verified";
  primary: ServerFacts;
  secondary: ServerFacts;
  /** The primary's position the secondary was seen to reach. */
  position: string;
  seed?: SeedResult;
  replicationUser: string;
  /** The replication channel verifies the primary's certificate. */
  tlsVerified: boolean;
  accountsCopied: string[];
  warnings: string[];
  /** The seed's summary, then details. */
  summary: string[];
  /** Option-file lines the operator should add so the setup survives a restart. */
  advice: string[];
  /** Semi-sync and parallel apply as they are once set up. */
  lossless: LosslessReport | null;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function exec(conn: Connection, statements: string[]): Promise<void> {
  for (const s of statements) await conn.query(s);
}

/** Waits until both replication threads run; throws with the server's own error when one stops. */
export async function waitReplicating(
  conn: Connection,
  d: Dialect,
  timeoutMs: number,
): Promise<ReplicaStatus> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const st = await replicaStatus(conn, d);
    if (!st)
      throw new ReplicationError("PAIRGATE_REPL_NOT_REPLICA", "the secondary has no replication configured");
    if (st.ioRunning === "Yes" && st.sqlRunning === "Yes") return st;
    if (st.sqlRunning === "No" && st.lastSqlError)
      throw new ReplicationError(
        "PAIRGATE_REPL_SQL_ERROR",
        `the secondary's SQL thread stopped: ${st.lastSqlError}`,
      );
    if (st.ioRunning === "No" && st.lastIoError)
      throw new ReplicationError(
        "PAIRGATE_REPL_IO_ERROR",
        `the secondary's IO thread stopped: ${st.lastIoError}`,
      );
    if (Date.now() > deadline)
      throw new ReplicationError(
        "PAIRGATE_REPL_TIMEOUT",
        `replication did not start within ${Math.round(timeoutMs / 1000)} s: IO ${st.ioRunning}, SQL ${st.sqlRunning}` +
          (st.lastIoError ? `; last IO error: ${st.lastIoError}` : ""),
      );
    await sleep(100);
  }
}

/** Waits until the secondary has applied what the primary has logged now; returns that position. */
export async function waitCaughtUp(
  primary: Connection,
  pd: Dialect,
  secondary: Connection,
  sd: Dialect,
  timeoutMs: number,
): Promise<string> {
  const pos = await scalar(primary, pd.loggedPosition());
  if (!pos) return pos;
  const seconds = Math.max(1, Math.ceil(timeoutMs / 1000));
  const r = await scalar(secondary, sd.waitForPosition(pos, seconds));
  if (r !== "0") {
    const st = await replicaStatus(secondary, sd);
    throw new ReplicationError(
      "PAIRGATE_REPL_TIMEOUT",
      `the secondary did not reach the primary's position ${pos} within ${seconds} s ` +
        `(applied: ${st?.executedPos || "?"}, lag ${st?.secondsBehind ?? "?"} s)` +
        (st?.lastSqlError ? `; last SQL error: ${st.lastSqlError}` : ""),
    );
  }
  return pos;
}

/**
 * Semi-sync on both servers and parallel apply on the secondary. `replicaStopped`: the secondary's
 * replication threads are stopped now (parallel apply can only change then); otherwise they are
 * restarted when a setting needs it (the replica side of semi-sync takes effect when its IO thread
 * reconnects).
 */
async function configureLossless(
  pc: Connection,
  pd: Dialect,
  sc: Connection,
  sd: Dialect,
  timeoutMs: number,
  replicaStopped: boolean,
  log: (line: string) => void,
): Promise<void> {
  const before = await readSemiSync(sc, sd);
  await enableSemiSync(pc, pd, timeoutMs);
  await enableSemiSync(sc, sd, timeoutMs);
  log(`semi-synchronous replication on both servers (AFTER_SYNC, timeout ${timeoutMs} ms)`);
  const parallel = await readParallelApply(sc, sd);
  const needParallel = !parallelApplyOk(parallel, sd);
  if (replicaStopped) {
    if (needParallel) await exec(sc, sd.parallelApplyStatements());
  } else if (needParallel) {
    await sc.query(sd.stopReplica());
    await exec(sc, sd.parallelApplyStatements());
    await sc.query(sd.startReplica());
  } else if (!before?.replicaEnabled) {
    // The replica side of semi-sync is negotiated when the IO thread connects.
    await sc.query(sd.stopIoThread());
    await sc.query(sd.startReplica());
  }
  if (needParallel) log("parallel apply on the secondary");
}

export async function setupReplication(o: SetupOptions): Promise<SetupResult> {
  const log = o.log ?? (() => {});
  const timeoutMs = o.timeoutMs ?? 300_000;
  const replUser = o.replicationUser ?? DEFAULT_REPLICATION_USER;
  const replHost = o.replicationUserHost ?? "%";
  const replCa = o.replicationSslCa ?? o.sslCa;
  const semiSync = o.semiSync ?? true;
  const semiSyncTimeoutMs = o.semiSyncTimeoutMs ?? DEFAULT_SEMI_SYNC_TIMEOUT_MS;
  if (sameEndpoint(o.primary, o.secondary))
    throw new ReplicationError("PAIRGATE_REPL_SAME_SERVER", "--primary and --secondary are the same address");

  let ps: AdminSession | undefined;
  let ss: AdminSession | undefined;
  try {
    // The seed's "do a ping": both must answer before anything changes.
    [ps, ss] = await connectPair(o.primary, o.secondary, o.admin, { sslCa: o.sslCa });
    const p = await inspect("primary", ps);
    const s = await inspect("secondary", ss);
    const pre = preflight(p.facts, p.dialect, s.facts, s.dialect);
    for (const line of pre.summary) log(line);
    const who = { primary: label("primary", o.primary), secondary: label("secondary", o.secondary) };
    if (pre.problems.length)
      throw new ReplicationError(
        "PAIRGATE_REPL_PREFLIGHT",
        `the servers cannot be paired yet:\n  - ${pre.problems.join("\n  - ")}`,
        optionFileAdvice(pre, who, p.dialect.optionGroup),
      );
    for (const w of pre.warnings) log(`warning: ${w}`);
    const warnings = [...pre.warnings];
    const pd = p.dialect;
    const sd = s.dialect;
    const pc = ps.conn;
    const sc = ss.conn;
    // Nothing pairgate does on the secondary is the secondary's own history.
    await sc.query("SET SESSION sql_log_bin = 0");
    if (o.serviceUser) {
      // On both: the secondary may already have the account (then the copy below leaves it alone).
      for (const [conn, d, name] of [
        [pc, pd, who.primary],
        [sc, sd, who.secondary],
      ] as const) {
        const g = await grantAccountsRead(conn, d.flavor, o.serviceUser);
        if (g.copied.length)
          log(
            `${name}: SELECT on ${accountsTable(d.flavor)} granted to ${g.copied.join(", ")} (pairgate reads the accounts)`,
          );
        // Missing on the secondary only: the account copy below brings it, with this grant.
        for (const f of g.failed)
          if (conn === pc || !f.endsWith("no such account"))
            warnings.push(`${name}: service account not granted the accounts read: ${f}`);
      }
    }

    const advice = [
      `${who.secondary}: keep it read-only after a restart; add to its option file:`,
      formatOptionLines(sd.optionGroup, [
        "read_only = ON",
        ...(semiSync ? [...sd.semiSyncOptionLines(semiSyncTimeoutMs), ...sd.parallelApplyOptionLines()] : []),
      ]),
      ...(semiSync
        ? [
            `${who.primary}: keep replication lossless after a restart; add to its option file:`,
            formatOptionLines(pd.optionGroup, [
              ...pd.semiSyncOptionLines(semiSyncTimeoutMs),
              ...pd.parallelApplyOptionLines(),
            ]),
          ]
        : []),
      ...optionFileAdvice(pre, who, pd.optionGroup),
    ];
    /** After the replica runs: semi-sync seen active (or not), reported. */
    const finishLossless = async (): Promise<LosslessReport | null> => {
      if (!semiSync) {
        warnings.push(
          "--no-semi-sync: replication is asynchronous; a commit acknowledged just before a crash can be lost",
        );
        return null;
      }
      await waitSemiSyncActive(pc, pd, Math.min(timeoutMs, 10_000));
      const r = await losslessReport(pc, pd, sc, sd);
      for (const x of r.problems) warnings.push(x);
      return r;
    };
    const changeTls = { sslCa: replCa, verifyServerCert: replCa !== undefined };
    if (!replCa)
      warnings.push(
        "no --ssl-ca: the replication channel is encrypted but the primary's certificate is not verified",
      );

    const current = await replicaStatus(sc, sd);
    const fromThisPrimary =
      current !== null &&
      current.sourcePort === o.primary.port &&
      sameEndpoint({ host: current.sourceHost, port: current.sourcePort }, o.primary);
    const broken = current !== null && current.sqlRunning === "No" && current.lastSqlError !== "";

    if (fromThisPrimary && current.usingGtid !== "No" && !(broken && o.force)) {
      // Already set up: verify, and mend what can be mended without copying data again.
      log(`${who.secondary} already replicates from ${formatEndpoint(o.primary)}: verifying`);
      if (broken)
        throw new ReplicationError(
          "PAIRGATE_REPL_SQL_ERROR",
          `the secondary's SQL thread stopped with an error: ${current.lastSqlError}\n` +
            "fix the cause and START SLAVE, or copy the data again with --force",
        );
      const tlsOk =
        current.sslAllowed &&
        (replCa === undefined || (current.sslCa === replCa && current.sslVerifyServerCert));
      if (!tlsOk) {
        log("turning TLS on for the existing replication channel");
        await sc.query(sd.stopReplica());
        await sc.query(sd.changeSourceTls(changeTls));
        await sc.query(sd.startReplica());
      } else if (current.ioRunning !== "Yes" || current.sqlRunning !== "Yes") {
        log("starting the replication threads");
        await sc.query(sd.startReplica());
      }
      if (semiSync) await configureLossless(pc, pd, sc, sd, semiSyncTimeoutMs, false, log);
      await exec(sc, sd.setReadOnly(true));
      const st = await waitReplicating(sc, sd, Math.min(timeoutMs, 60_000));
      const position = await waitCaughtUp(pc, pd, sc, sd, timeoutMs);
      const lossless = await finishLossless();
      return {
        action: "verified",
        primary: p.facts,
        secondary: { ...s.facts, readOnly: true },
        position,
        replicationUser: st.sourceUser,
        tlsVerified: st.sslVerifyServerCert,
        accountsCopied: [],
        warnings,
        summary: [
          ...summaryLines(o, st, position, "verified: already set up, nothing copied"),
          ...(lossless ? formatLossless(lossless).map((l) => `  ${l}`) : []),
        ],
        advice,
        lossless,
      };
    }

    if (current !== null && !fromThisPrimary && !o.force)
      throw new ReplicationError(
        "PAIRGATE_REPL_OTHER_PRIMARY",
        `${who.secondary} already replicates from ${current.sourceHost}:${current.sourcePort}: ` +
          "pass --force to point it at this primary and copy the data again",
      );
    if (current !== null && fromThisPrimary && current.usingGtid === "No" && !o.force)
      throw new ReplicationError(
        "PAIRGATE_REPL_NO_GTID",
        `${who.secondary} replicates from this primary by binlog file and position, not GTID: ` +
          "pass --force to copy the data again and replicate by GTID",
      );
    const own = s.facts.userDatabases;
    const objects = await databaseObjects(sc, own);
    const emptyDbs = own.filter((db) => (objects.get(db) ?? 0) === 0);
    const withData = own.filter((db) => !emptyDbs.includes(db));
    if (withData.length && !o.force && !fromThisPrimary)
      throw new ReplicationError(
        "PAIRGATE_REPL_SECONDARY_HAS_DATA",
        `${who.secondary} holds databases of its own (${withData.join(", ")}): setting it up would overwrite them. ` +
          "Pass --force to replace them with the primary's data",
      );
    if (emptyDbs.length && !o.force)
      log(
        `${who.secondary}: database(s) without tables, routines or events will be dropped: ${emptyDbs.join(", ")}`,
      );

    // --- seed --------------------------------------------------------------------------------
    log(`${who.secondary}: read_only=ON, replication stopped`);
    await exec(sc, sd.setReadOnlyExceptAdmins());
    if (current !== null) {
      await sc.query(sd.stopReplica());
      await sc.query(sd.resetReplicaAll());
    }

    const password = randomBytes(24).toString("base64url");
    await exec(pc, pd.createReplicationUser(replUser, replHost, password));
    log(`${who.primary}: replication account '${replUser}'@'${replHost}' (REQUIRE SSL, new random password)`);

    let accountsCopied: string[] = [];
    if (o.copyAccounts ?? true) {
      const copy = await copyMissingAccounts(pc, pd, sc, sd);
      accountsCopied = copy.copied;
      if (copy.copied.length) log(`accounts copied to the secondary: ${copy.copied.join(", ")}`);
      for (const f of copy.failed) warnings.push(`account not copied: ${f}`);
    }

    const databases = await userDatabases(pc);
    if (!o.force) {
      // Counted again now the secondary is read-only: a table created since the check is not dropped.
      const now = await databaseObjects(sc, emptyDbs);
      const filled = emptyDbs.filter((db) => (now.get(db) ?? 0) > 0);
      if (filled.length)
        throw new ReplicationError(
          "PAIRGATE_REPL_SECONDARY_HAS_DATA",
          `${who.secondary}: tables appeared in ${filled.join(", ")} during the setup; nothing was dropped. ` +
            "Pass --force to replace them with the primary's data",
        );
      for (const db of emptyDbs) {
        log(`${who.secondary}: dropping empty database ${db}`);
        await sc.query(`DROP DATABASE ${sc.escapeId(db)}`);
      }
    } else {
      const onlyHere = (await userDatabases(sc)).filter((db) => !databases.includes(db));
      for (const db of onlyHere) {
        log(`${who.secondary}: dropping database ${db} (--force; the primary has no such database)`);
        await sc.query(`DROP DATABASE ${sc.escapeId(db)}`);
      }
    }
    // The secondary's own binlog history would collide with the primary's GTIDs: it starts afresh.
    if (await scalar(sc, sd.loggedPosition())) {
      log(`${who.secondary}: clearing its own binlog history (${sd.resetBinlog()})`);
      await sc.query(sd.resetBinlog());
    }

    let seed: SeedResult | undefined;
    let position: string;
    if (databases.length) {
      log(`copying ${databases.join(", ")} from one consistent snapshot of the primary`);
      seed = await streamSeed({
        dialect: pd,
        primary: o.primary,
        secondary: o.secondary,
        admin: o.admin,
        databases,
        primaryTls: { enabled: ps.tls, ca: ps.verified ? o.sslCa : undefined },
        secondaryTls: { enabled: ss.tls, ca: ss.verified ? o.sslCa : undefined },
        dropDatabases: o.force === true,
        onProgress: o.onProgress,
      });
      position = seed.position;
      log(`snapshot copied at GTID position ${position || "(empty)"}`);
      for (const ev of await rows(sc, sd.enabledEvents(databases))) {
        await sc.query(sd.disableEventOnReplica(ev.schema, ev.name));
        log(`event ${ev.schema}.${ev.name} disabled on the secondary (it runs on the primary)`);
      }
    } else {
      position = await scalar(pc, pd.loggedPosition());
      log("the primary holds no databases of its own: nothing to copy");
    }

    if (semiSync) await configureLossless(pc, pd, sc, sd, semiSyncTimeoutMs, true, log);
    await exec(sc, sd.seedPosition(position));
    await sc.query(
      sd.changeSource({
        host: o.primary.host,
        port: o.primary.port,
        user: replUser,
        password,
        ...changeTls,
      }),
    );
    await sc.query(sd.startReplica());
    await exec(sc, sd.setReadOnly(true));
    log(`replication started from ${position || "the beginning"}; waiting for the secondary to catch up`);
    const st = await waitReplicating(sc, sd, Math.min(timeoutMs, 60_000));
    const reached = await waitCaughtUp(pc, pd, sc, sd, timeoutMs);
    const lossless = await finishLossless();
    return {
      action: "seeded",
      primary: p.facts,
      secondary: { ...s.facts, readOnly: true, userDatabases: databases },
      position: reached,
      seed,
      replicationUser: replUser,
      tlsVerified: st.sslVerifyServerCert,
      accountsCopied,
      warnings,
      summary: [
        ...summaryLines(o, st, reached, "set up"),
        ...(lossless ? formatLossless(lossless).map((l) => `  ${l}`) : []),
      ],
      advice,
      lossless,
    };
  } finally {
    await closeAll(ps, ss);
  }
}

function summaryLines(o: SetupOptions, st: ReplicaStatus, position: string, what: string): string[] {
  const tls = st.sslAllowed
    ? st.sslVerifyServerCert
      ? `TLS, the primary's certificate verified against ${st.sslCa}`
      : "TLS (certificate not verified: pass --ssl-ca)"
    : "NOT encrypted";
  return [
    "Connection Status: Alive — High Availability Live is in progress now",
    `Secondary server is running in host: ${formatEndpoint(o.secondary)}`,
    `  ${what}; replicating from ${formatEndpoint(o.primary)} as ${st.sourceUser}, by GTID (${st.usingGtid}), ${tls}`,
    `  IO thread ${st.ioRunning}, SQL thread ${st.sqlRunning}, caught up with the primary at ${position || "(empty position)"}`,
    "  secondary read_only=ON",
  ];
}
