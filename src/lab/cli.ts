/**
 * `pairgate lab up | down | status | kill <role> | start <role>` — the local pair of real
 * MariaDB servers described by the config's `lab`, backend ports and users.
 */
import { join, relative } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { type Config, loadConfig } from "../config/load.js";
import { Lab, type LabStatus, labOptionsFromConfig, ROLES, type Role, type ServerStatus } from "./index.js";

const DEFAULT_CONFIG = "proxy.config.json";

function parseRole(value: string): Role {
  if ((ROLES as readonly string[]).includes(value)) return value as Role;
  throw new InvalidArgumentError("expected primary or secondary");
}

function labFor(file: string): { config: Config; lab: Lab } {
  const config = loadConfig(file);
  return { config, lab: new Lab(labOptionsFromConfig(config)) };
}

/** A path as the user would type it from here. */
function shown(p: string): string {
  const r = relative(process.cwd(), p);
  return r && !r.startsWith("..") && r.length < p.length ? r : p;
}

function describeServer(s: ServerStatus): string {
  const head = `${s.role.padEnd(9)} ${s.host}:${s.port}`;
  if (!s.running) return `${head}  stopped`;
  const lines = [`${head}  pid ${s.pid}  read_only=${s.readOnly === null ? "?" : s.readOnly ? "ON" : "OFF"}`];
  if (s.error) lines.push(`          not answering: ${s.error}`);
  if (s.gtidBinlogPos !== null) lines.push(`          gtid_binlog_pos=${s.gtidBinlogPos || "(empty)"}`);
  const r = s.replication;
  if (r) {
    const lag = r.secondsBehindMaster === null ? "-" : `${r.secondsBehindMaster}s`;
    lines.push(
      `          replication from ${r.masterHost}:${r.masterPort}: IO ${r.ioRunning}, SQL ${r.sqlRunning}, ` +
        `lag ${lag}, TLS ${r.sslAllowed ? "yes" : "NO"}${r.sslVerifyServerCert ? " (CA verified)" : ""}, GTID ${r.usingGtid}`,
    );
    if (r.lastIoError) lines.push(`          last IO error: ${r.lastIoError}`);
    if (r.lastSqlError) lines.push(`          last SQL error: ${r.lastSqlError}`);
  }
  return lines.join("\n");
}

function printStatus(st: LabStatus): void {
  process.stdout.write(
    `lab ${shown(st.dir)}\n${describeServer(st.primary)}\n${describeServer(st.secondary)}\n`,
  );
}

function printHowToConnect(config: Config, lab: Lab): void {
  const app = config.users[0]?.username ?? labOptionsFromConfig(config).appUser.username;
  const h = lab.host === "0.0.0.0" ? "127.0.0.1" : lab.host;
  const p = lab.spec("primary").port;
  const s = lab.spec("secondary").port;
  process.stdout.write(
    [
      "",
      `Through pairgate (once it runs: npm start):  mariadb -h ${config.listen.host} -P ${config.listen.port} -u ${app} -p passtrix`,
      `Directly to the primary:                     mariadb -h ${h} -P ${p} -u ${app} -p passtrix`,
      `Directly to the secondary (read-only):       mariadb -h ${h} -P ${s} -u ${app} -p passtrix`,
      `As root (unix socket):                       mariadb --defaults-file=${shown(lab.clientOptionFile("primary"))}`,
      config.users.length
        ? `The password of ${app} is users[0].password in ${shown(config.file)}; the lab's CA: ${shown(lab.caFile)}`
        : `The password of ${app} is in ${shown(join(lab.dir, "app-user.json"))} (pairgate reads the account from the servers); the lab's CA: ${shown(lab.caFile)}`,
      "",
    ].join("\n"),
  );
}

async function run(action: () => Promise<void>): Promise<void> {
  try {
    await action();
  } catch (e) {
    process.stderr.write(`pairgate lab: ${(e as Error).message}\n`);
    process.exitCode = 1;
  }
}

export function registerLabCommands(program: Command): void {
  const lab = program
    .command("lab")
    .description("a local primary/secondary pair of real MariaDB servers (GTID replication over TLS)");
  const configOption = ["-c, --config <file>", "configuration file", DEFAULT_CONFIG] as const;

  lab
    .command("up")
    .description("start both servers and replication (idempotent); returns when the secondary replicates")
    .option(...configOption)
    .action((o: { config: string }) =>
      run(async () => {
        const { config, lab } = labFor(o.config);
        const started = Date.now();
        await lab.up();
        printStatus(await lab.status());
        process.stdout.write(`up in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
        printHowToConnect(config, lab);
      }),
    );

  lab
    .command("down")
    .description("stop both servers cleanly (SIGKILL after a deadline); data is kept")
    .option(...configOption)
    .action((o: { config: string }) =>
      run(async () => {
        const { lab } = labFor(o.config);
        await lab.down();
        process.stdout.write(`lab ${shown(lab.dir)}: both servers stopped\n`);
      }),
    );

  lab
    .command("status")
    .description("each server: process, port, read_only, replication threads, lag and TLS")
    .option(...configOption)
    .option("--json", "print the status as JSON")
    .action((o: { config: string; json?: boolean }) =>
      run(async () => {
        const { lab } = labFor(o.config);
        const st = await lab.status();
        if (o.json) process.stdout.write(`${JSON.stringify(st, null, 2)}\n`);
        else printStatus(st);
      }),
    );

  lab
    .command("kill")
    .description("kill -9 one server (for failover demos)")
    .argument("<role>", "primary or secondary", parseRole)
    .option(...configOption)
    .action((role: Role, o: { config: string }) =>
      run(async () => {
        const { lab } = labFor(o.config);
        const pid = lab.pid(role);
        if (pid === null) {
          process.stdout.write(`${role} is not running\n`);
          return;
        }
        await lab.kill(role);
        process.stdout.write(`${role} (pid ${pid}) killed with SIGKILL\n`);
      }),
    );

  lab
    .command("start")
    .description("start one server again with its data (after kill or down); replication resumes")
    .argument("<role>", "primary or secondary", parseRole)
    .option(...configOption)
    .action((role: Role, o: { config: string }) =>
      run(async () => {
        const { lab } = labFor(o.config);
        await lab.start(role);
        printStatus(await lab.status());
      }),
    );
}
