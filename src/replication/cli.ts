/**
 * `pairgate replication setup | check` and `pairgate promote`: the operator's commands for the pair.
 * Exit codes: 0 done / consistent; 1 refused, failed, drift or broken replication; 2 bad usage.
 */
import { type Command, InvalidArgumentError, Option } from "commander";
import { ConfigError } from "../config/load.js";
import { PairgateError } from "../protocol/errors.js";
import { type CheckReport, checkReplication, formatCheckReport } from "./check.js";
import { type Endpoint, parseEndpoint } from "./endpoint.js";
import { ReplicationError } from "./errors.js";
import { formatPromoteResult, promote } from "./promote.js";
import { formatBytes, type SeedProgress } from "./seed.js";
import type { AdminCredentials } from "./server.js";
import { DEFAULT_SEMI_SYNC_TIMEOUT_MS } from "./server-family.js";
import { DEFAULT_REPLICATION_USER, setupReplication } from "./setup.js";

export const ADMIN_PASSWORD_ENV = "PAIRGATE_ADMIN_PASSWORD";

function endpointArg(value: string): Endpoint {
  try {
    return parseEndpoint(value);
  } catch (e) {
    throw new InvalidArgumentError((e as Error).message);
  }
}

function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError("expected a positive whole number");
  return n;
}

class UsageError extends PairgateError {
  constructor(message: string) {
    super("PAIRGATE_USAGE", message);
  }
}

function adminCredentials(o: { adminUser: string; adminPassword?: string }): AdminCredentials {
  const password = o.adminPassword ?? process.env[ADMIN_PASSWORD_ENV];
  if (password === undefined)
    throw new UsageError(
      `the admin password is missing: pass --admin-password or set ${ADMIN_PASSWORD_ENV} (safer: not in the process list)`,
    );
  return { user: o.adminUser, password };
}

const out = (line = "") => process.stdout.write(`${line}\n`);

/** Runs a command body; errors become a message on stderr and an exit code. */
async function run(name: string, body: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await body();
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`pairgate ${name}: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (e instanceof ConfigError) {
      process.stderr.write(`pairgate ${name}: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    const details = e instanceof ReplicationError ? e.details : [];
    process.stderr.write(`pairgate ${name}: ${(e as Error).message}\n`);
    for (const d of details) process.stderr.write(`${d}\n`);
    process.exitCode = 1;
  }
}

/** Progress on stderr: one line rewritten in place on a terminal, a line every few seconds otherwise. */
function progressPrinter(): (p: SeedProgress) => void {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  return (p) => {
    const text = `streaming: ${formatBytes(p.bytes)}, ${p.tables} table${p.tables === 1 ? "" : "s"}${p.current ? ` (${p.current})` : ""}`;
    if (tty) {
      process.stderr.write(`\r\x1b[2K${text}${p.done ? "\n" : ""}`);
    } else if (p.done || Date.now() - last >= 2000) {
      last = Date.now();
      process.stderr.write(`${text}${p.done ? " — done" : ""}\n`);
    }
  };
}

interface ServerPairOptions {
  primary: Endpoint;
  secondary: Endpoint;
  adminUser: string;
  adminPassword?: string;
  sslCa?: string;
  json?: boolean;
}

function pairOptions(cmd: Command): Command {
  return cmd
    .requiredOption("--primary <host:port>", "the primary server", endpointArg)
    .requiredOption("--secondary <host:port>", "the secondary server", endpointArg)
    .requiredOption("--admin-user <user>", "an account with admin privileges on both servers")
    .option("--admin-password <password>", `its password (or set ${ADMIN_PASSWORD_ENV})`)
    .option("--ssl-ca <file>", "CA that signed the servers' certificates: verify them");
}

export function registerReplicationCommands(program: Command): void {
  const replication = program
    .command("replication")
    .description("pair two servers (GTID replication over TLS) and check the pair for drift");

  pairOptions(
    replication
      .command("setup")
      .description(
        "check both servers, copy the primary's data to the secondary and start replication by GTID over TLS (idempotent)",
      ),
  )
    .option(
      "--replication-ssl-ca <path>",
      "the CA file as a path on the secondary's host, for the replication channel (default: --ssl-ca)",
    )
    .option(
      "--replication-user <name>",
      "replication account created on the primary",
      DEFAULT_REPLICATION_USER,
    )
    .option("--replication-user-host <host>", "host part of that account", "%")
    .option("--no-copy-accounts", "do not create the primary's accounts on the secondary")
    .option(
      "--service-user <name>",
      "pairgate's service account (primary.user in its config): granted SELECT on the accounts table so pairgate can read the accounts",
    )
    .option("--force", "overwrite a secondary that holds data of its own or follows another primary")
    .option(
      "--no-semi-sync",
      "leave replication asynchronous (not lossless: an acknowledged commit can be lost at a crash)",
    )
    .addOption(
      new Option(
        "--semi-sync-timeout <ms>",
        "how long a commit waits for the secondary's acknowledgement before the primary falls back to asynchronous",
      )
        .argParser(positiveInt)
        .default(DEFAULT_SEMI_SYNC_TIMEOUT_MS),
    )
    .addOption(
      new Option("--timeout <seconds>", "longest wait for the secondary to catch up")
        .argParser(positiveInt)
        .default(300),
    )
    .option("--json", "print the result as JSON")
    .action(
      (
        o: ServerPairOptions & {
          replicationSslCa?: string;
          replicationUser: string;
          replicationUserHost: string;
          copyAccounts: boolean;
          serviceUser?: string;
          force?: boolean;
          timeout: number;
          semiSync: boolean;
          semiSyncTimeout: number;
        },
      ) =>
        run("replication setup", async () => {
          const admin = adminCredentials(o);
          const result = await setupReplication({
            primary: o.primary,
            secondary: o.secondary,
            admin,
            sslCa: o.sslCa,
            replicationSslCa: o.replicationSslCa,
            replicationUser: o.replicationUser,
            replicationUserHost: o.replicationUserHost,
            copyAccounts: o.copyAccounts,
            serviceUser: o.serviceUser,
            force: o.force === true,
            timeoutMs: o.timeout * 1000,
            semiSync: o.semiSync,
            semiSyncTimeoutMs: o.semiSyncTimeout,
            log: o.json ? undefined : (line) => out(line),
            onProgress: o.json ? undefined : progressPrinter(),
          });
          if (o.json) {
            out(JSON.stringify(result, null, 2));
            return 0;
          }
          for (const w of result.warnings) if (!w.startsWith("versions differ")) out(`warning: ${w}`);
          out();
          for (const line of result.summary) out(line);
          out();
          for (const line of result.advice) out(line);
          return 0;
        }),
    );

  pairOptions(
    replication
      .command("check")
      .description(
        "replication health (threads, lag, errors, TLS) and data consistency: chunked checksums compared at the same GTID position",
      ),
  )
    .addOption(
      new Option("--chunk-size <rows>", "rows per checksummed chunk").argParser(positiveInt).default(1000),
    )
    .option("--databases <list>", "only these databases (comma-separated)")
    .addOption(
      new Option("--timeout <seconds>", "longest wait for the secondary to reach a position")
        .argParser(positiveInt)
        .default(60),
    )
    .option("--json", "print the report as JSON")
    .action((o: ServerPairOptions & { chunkSize: number; databases?: string; timeout: number }) =>
      run("replication check", async () => {
        const admin = adminCredentials(o);
        const report: CheckReport = await checkReplication({
          primary: o.primary,
          secondary: o.secondary,
          admin,
          sslCa: o.sslCa,
          chunkSize: o.chunkSize,
          databases: o.databases
            ?.split(",")
            .map((d) => d.trim())
            .filter(Boolean),
          timeoutMs: o.timeout * 1000,
          handleSignals: true,
        });
        if (o.json) out(JSON.stringify(report, null, 2));
        else for (const line of formatCheckReport(report)) out(line);
        return report.ok ? 0 : 1;
      }),
    );
}

export function registerPromoteCommand(program: Command): void {
  program
    .command("promote")
    .description(
      "disaster recovery: make the secondary the primary when the primary is lost for good (refuses while the old primary answers)",
    )
    .option("-c, --config <file>", "the config of the pairgate in front of the pair", "proxy.config.json")
    .requiredOption("--admin-user <user>", "an account with admin privileges on the secondary")
    .option("--admin-password <password>", `its password (or set ${ADMIN_PASSWORD_ENV})`)
    .option(
      "--ssl-ca <file>",
      "CA that verifies the secondary's certificate (default: secondary.tls.ca in the config)",
    )
    .option(
      "--force",
      "promote even though the old primary still answers, or the secondary has not applied all it received",
    )
    .addOption(
      new Option("--pid <pid>", "send SIGHUP to this pairgate process (default: its pid file)").argParser(
        positiveInt,
      ),
    )
    .option("--no-reload", "do not signal a running pairgate")
    .addOption(
      new Option("--timeout <seconds>", "longest wait for the secondary to apply what it received")
        .argParser(positiveInt)
        .default(60),
    )
    .option("--json", "print the result as JSON")
    .action(
      (o: {
        config: string;
        adminUser: string;
        adminPassword?: string;
        sslCa?: string;
        force?: boolean;
        pid?: number;
        reload: boolean;
        timeout: number;
        json?: boolean;
      }) =>
        run("promote", async () => {
          const admin = adminCredentials(o);
          const result = await promote({
            configFile: o.config,
            admin,
            sslCa: o.sslCa,
            force: o.force === true,
            pid: o.pid,
            reload: o.reload,
            timeoutMs: o.timeout * 1000,
            log: o.json ? undefined : (line) => out(line),
          });
          if (o.json) out(JSON.stringify(result, null, 2));
          else for (const line of formatPromoteResult(result)) out(line);
          return 0;
        }),
    );
}
