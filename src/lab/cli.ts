/**
 * `pairgate lab up | down | status | kill <role> | start <role>` — the local pair of real
 * MariaDB servers described by the config's `lab`, backend ports and users.
 */
import { relative, resolve } from "node:path";
import { type Command, InvalidArgumentError } from "commander";
import { type Config, loadConfig } from "../config/load.js";
import { Lab, type LabStatus, labOptionsFromConfig, ROLES, type Role, type ServerStatus } from "./index.js";
import { runWanLink, SitesLab, type SitesSpec, type SitesStatus } from "./sites.js";
import type { WanStatus } from "./wan.js";

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
  const app = config.users[0].username;
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
      `The password of ${app} is users[0].password in ${shown(config.file)}; the lab's CA: ${shown(lab.caFile)}`,
      "",
    ].join("\n"),
  );
}

type WanAction = "cut" | "blackhole" | "heal" | "delay" | "status";
const WAN_ACTIONS: readonly WanAction[] = ["cut", "blackhole", "heal", "delay", "status"];

function parseWanAction(v: string): WanAction {
  if ((WAN_ACTIONS as readonly string[]).includes(v)) return v as WanAction;
  throw new InvalidArgumentError(`expected one of ${WAN_ACTIONS.join(", ")}`);
}
function parseSites(v: string): number {
  if (v === "1" || v === "2") return Number(v);
  throw new InvalidArgumentError("expected 1 or 2");
}
function parseMs(v: string): number {
  const n = Number(v);
  if (Number.isInteger(n) && n >= 0 && n <= 60_000) return n;
  throw new InvalidArgumentError("expected milliseconds, 0..60000");
}
function parsePort(v: string): number {
  const n = Number(v);
  if (Number.isInteger(n) && n >= 1 && n <= 65535) return n;
  throw new InvalidArgumentError("expected a port");
}

function describeWan(w: WanStatus): string {
  const since = Math.round((Date.now() - w.since) / 1000);
  const state =
    w.state === "up"
      ? "up"
      : w.state === "cut"
        ? "CUT (connections reset, new ones refused)"
        : "BLACKHOLE (nothing passes, nothing says so)";
  const routes = w.routes
    .map(
      (r) =>
        `          127.0.0.1:${r.listenPort} → ${r.target.host}:${r.target.port} ${r.name}: ${r.open} open, ${r.held} held`,
    )
    .join("\n");
  return `WAN link  ${state} for ${since} s, +${w.delayMs} ms round trip\n${routes}`;
}

/** One site's line from its pairgate's /status document. */
function describeSite(s: SitesStatus["sites"][number], local: "primary" | "secondary"): string {
  const label = s.spec.name === "site-a" ? "site A" : "site B";
  const head = `${label}    pairgate ${s.spec.listenHost}:${s.spec.listenPort}  status http://${s.spec.adminHost}:${s.spec.adminPort}/  (${local} local)`;
  if (!s.status)
    return `${head}\n          pairgate ${s.pid === null ? "not running" : `pid ${s.pid} not answering`}: ${s.error ?? ""}`;
  const d = s.status as {
    mode: string;
    headline: string;
    warnings: string[];
    consistency?: { lossless: boolean | null; losslessReason: string };
    replication?: { secondsSinceMasterContact: number | null } | null;
    primary: { up: boolean; lastError: string | null };
    secondary: { up: boolean; lastError: string | null };
  };
  const lines = [`${head}`, `          mode ${d.mode.toUpperCase()}: ${d.headline}`];
  const seen = (role: "primary" | "secondary") => {
    const b = d[role];
    return `${role} ${b.up ? "reachable" : `UNREACHABLE (${b.lastError ?? "?"})`}`;
  };
  lines.push(`          sees: ${seen("primary")}; ${seen("secondary")}`);
  if (d.consistency)
    lines.push(
      `          lossless: ${d.consistency.lossless === null ? "unknown" : d.consistency.lossless ? "yes" : "NO"} — ${d.consistency.losslessReason}`,
    );
  const contact = d.replication?.secondsSinceMasterContact;
  if (d.secondary.up && contact !== undefined && contact !== null)
    lines.push(`          the secondary last heard from the primary ${contact} s ago`);
  return lines.join("\n");
}

function printSitesStatus(st: SitesStatus): void {
  const out = [`lab ${shown(st.lab.dir)} (two sites)`];
  const [a, b] = st.sites;
  if (a) out.push(describeSite(a, "primary"));
  if (b) out.push(describeSite(b, "secondary"));
  out.push(st.wan ? describeWan(st.wan) : `WAN link  not answering: ${st.wanError ?? ""}`);
  out.push(describeServer(st.lab.primary), describeServer(st.lab.secondary));
  process.stdout.write(`${out.join("\n")}\n`);
}

/** The walk-through of scenario 1 (README "Two sites"). */
function printSitesBanner(config: Config, spec: SitesSpec): void {
  const app = config.users[0].username;
  const a = spec.siteA;
  const b = spec.siteB;
  const pg = "npx pairgate lab";
  const cfg = config.file === resolve(DEFAULT_CONFIG) ? "" : ` -c ${shown(config.file)}`;
  process.stdout.write(
    [
      "",
      "Scenario 1: the primary at site A, the secondary at site B, every path between the sites through one WAN link.",
      `  Open both status pages side by side:  site A http://${a.adminHost}:${a.adminPort}/   site B http://${b.adminHost}:${b.adminPort}/`,
      `  Users at site A:  mariadb -h ${a.listenHost} -P ${a.listenPort} -u ${app} -p passtrix`,
      `  Users at site B:  mariadb -h ${b.listenHost} -P ${b.listenPort} -u ${app} -p passtrix`,
      "",
      `  1. ${pg} wan cut${cfg}`,
      "     The WAN fails. Site A stays read_write; its page says replication is NOT lossless (the",
      "     secondary is unreachable from A). Site B turns read_only within seconds: reads come from the",
      "     secondary (the page says when it last heard from the primary), writes get ERROR 1290, audit",
      "     events wait in B's journal.",
      `  2. Write at A, read at B: B does not see A's new rows yet.  ${pg} status${cfg}  shows both sites.`,
      `  3. ${pg} wan heal${cfg}`,
      "     Replication catches up, semi-sync resumes; B goes back to read_write once the secondary has",
      "     caught up, and B's journaled audit events reach the primary, each once.",
      `  4. ${pg} wan blackhole${cfg}   (then heal) a silent link: detection waits for the checks to time out`,
      `     ${pg} wan delay 30${cfg}     a 30 ms round trip: A's semi-sync commits wait for it`,
      `  5. ${pg} down${cfg}            both pairgates, the link and both servers stop (data kept)`,
      `  The password of ${app} is users[0].password in ${shown(config.file)}.`,
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
    .description(
      "start both servers and replication (idempotent); returns when the secondary replicates. " +
        "--sites 2: two sites (A: primary + pairgate, B: secondary + pairgate) joined by one WAN link",
    )
    .option(...configOption)
    .option("--sites <n>", "1: one site (default); 2: the two-site lab of scenario 1", parseSites)
    .option("--wan-delay <ms>", "the WAN link's added round-trip time (two sites)", parseMs)
    .option("--site-b-listen <port>", "site B's pairgate port (default listen.port + 1)", parsePort)
    .option("--site-b-admin <port>", "site B's admin port (default admin.port + 1)", parsePort)
    .action(
      (o: { config: string; sites?: number; wanDelay?: number; siteBListen?: number; siteBAdmin?: number }) =>
        run(async () => {
          const { config, lab } = labFor(o.config);
          const started = Date.now();
          const sites = new SitesLab(config, {
            delayMs: o.wanDelay,
            siteBListenPort: o.siteBListen,
            siteBAdminPort: o.siteBAdmin,
          });
          // Without --sites a lab keeps the shape it has.
          const two = o.sites === undefined ? sites.readSpec() !== null : o.sites === 2;
          if (two) {
            const spec = await sites.up();
            printSitesStatus(await sites.status());
            process.stdout.write(`up in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
            printSitesBanner(config, spec);
            return;
          }
          if (sites.readSpec()) await sites.dismantle();
          await lab.up();
          printStatus(await lab.status());
          process.stdout.write(`up in ${((Date.now() - started) / 1000).toFixed(1)} s\n`);
          printHowToConnect(config, lab);
        }),
    );

  lab
    .command("wan")
    .description("the two-site lab's WAN link: cut | blackhole | heal | delay <ms> | status")
    .argument("<action>", "cut, blackhole, heal, delay or status", parseWanAction)
    .argument("[ms]", "for delay: the added round-trip time in ms", parseMs)
    .option(...configOption)
    .action((action: WanAction, ms: number | undefined, o: { config: string }) =>
      run(async () => {
        if (action === "delay" && ms === undefined) throw new Error("wan delay needs <ms>");
        const { config } = labFor(o.config);
        const st = await new SitesLab(config).wan(action, ms);
        process.stdout.write(`${describeWan(st)}\n`);
      }),
    );

  lab
    .command("wan-link", { hidden: true })
    .description("run the WAN link process (started by lab up --sites 2)")
    .requiredOption("--spec <file>", "the link's routes (wan.json in the lab dir)")
    .action((o: { spec: string }) => run(() => runWanLink(o.spec)));

  lab
    .command("down")
    .description("stop both servers cleanly (SIGKILL after a deadline); data is kept")
    .option(...configOption)
    .action((o: { config: string }) =>
      run(async () => {
        const { config, lab } = labFor(o.config);
        const sites = new SitesLab(config);
        if (sites.readSpec()) {
          await sites.down();
          process.stdout.write(
            `lab ${shown(lab.dir)}: both pairgates, the WAN link and both servers stopped\n`,
          );
          return;
        }
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
        const { config, lab } = labFor(o.config);
        const sites = new SitesLab(config);
        if (sites.readSpec()) {
          const st = await sites.status();
          if (o.json) process.stdout.write(`${JSON.stringify(st, null, 2)}\n`);
          else printSitesStatus(st);
          return;
        }
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
