/**
 * The two-site lab (`pairgate lab up --sites 2`): the seed's scenario 1 on one machine.
 *
 *   site A: the primary and pairgate A (listen.port, admin.port of the config)
 *   site B: the secondary and pairgate B (listen.port + 1, admin.port + 1 unless given)
 *
 * Every cross-site path goes through one WAN link process (wan.ts): the secondary replicates from
 * the link's "to primary" port, pairgate B reaches the primary (checks, writes, audit delivery)
 * through it too, and pairgate A reaches the secondary through its "to secondary" port. Local
 * paths are direct. The link is a user-space relay on 127.0.0.1 (it runs unprivileged anywhere).
 *
 * Files under the lab dir: sites.json (ports), wan.json (the link's routes), site-a/ and site-b/
 * (each pairgate's generated config, log, audit journal and state), wan.log.
 * Processes are detached and found again by their command line (the config or spec path).
 */
import { spawn } from "node:child_process";
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:http";
import { createServer } from "node:net";
import { isAbsolute, join, resolve } from "node:path";
import { type Config, configPath } from "../config/load.js";
import { DEFAULT_LAB_DIR, labOptionsFromConfig } from "./index.js";
import { Lab, type LabStatus } from "./lab.js";
import { LabError } from "./mariadb.js";
import { isAlive, pidsWithArg, signal, sleep, waitForExit } from "./process.js";
import { type WanRoute, type WanStatus, wanCommand } from "./wan.js";

export const DEFAULT_WAN_DELAY_MS = 5;
export type SiteName = "site-a" | "site-b";

export interface SiteSpec {
  name: SiteName;
  listenHost: string;
  listenPort: number;
  adminHost: string;
  adminPort: number;
}

export interface SitesSpec {
  version: 1;
  siteA: SiteSpec;
  siteB: SiteSpec;
  wan: { controlPort: number; toPrimaryPort: number; toSecondaryPort: number };
}

/** What the link process reads (`pairgate lab wan-link --spec wan.json`). */
export interface WanSpec {
  controlPort: number;
  delayMs: number;
  routes: WanRoute[];
}

export interface SitesOptions {
  /** Site B's pairgate ports (default: site A's + 1). */
  siteBListenPort?: number;
  siteBAdminPort?: number;
  /** The link's added round-trip time when it starts (default 5 ms). */
  delayMs?: number;
  /** The command that runs pairgate's CLI; default: the one running now. */
  cli?: string[];
}

export interface SiteStatus {
  spec: SiteSpec;
  pid: number | null;
  /** The pairgate's /status document, or null when it does not answer. */
  status: Record<string, unknown> | null;
  error?: string;
}

export interface SitesStatus {
  lab: LabStatus;
  wan: WanStatus | null;
  wanPid: number | null;
  wanError?: string;
  sites: SiteStatus[];
}

/** `n` distinct free ports on 127.0.0.1 (all held open until each is known). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<ReturnType<typeof createServer>>((res, rej) => {
          const s = createServer();
          s.once("error", rej);
          s.listen(0, "127.0.0.1", () => res(s));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const a = s.address();
    return typeof a === "object" && a ? a.port : 0;
  });
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

/** Relative file paths in a raw config (TLS files, secret files) made absolute against `baseDir`. */
function absolutize(value: unknown, baseDir: string, parentKey = ""): unknown {
  if (Array.isArray(value)) return value.map((v) => absolutize(v, baseDir, parentKey));
  if (typeof value !== "object" || value === null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const isPath =
      typeof v === "string" &&
      ((parentKey === "tls" && ["ca", "cert", "key"].includes(k)) ||
        (k === "file" && Object.keys(value).length === 1));
    out[k] = isPath && !isAbsolute(v as string) ? resolve(baseDir, v as string) : absolutize(v, baseDir, k);
  }
  return out;
}

/**
 * The two pairgates' configs, from the user's config file: everything it says (users, audit,
 * monitor, TLS) carries over; each site gets its name, ports, journal and state folder, and
 * reaches the other site's server through the WAN link. The one place the site configs are made.
 */
export function siteConfigs(
  config: Config,
  spec: SitesSpec,
  labDir: string,
): Record<SiteName, Record<string, unknown>> {
  const raw = absolutize(JSON.parse(readFileSync(config.file, "utf8")), config.baseDir) as Record<
    string,
    unknown
  >;
  delete raw.lab;
  const viaWan = (backend: unknown, port: number) => ({
    ...(backend as Record<string, unknown>),
    host: "127.0.0.1",
    port,
  });
  const site = (s: SiteSpec, primary: unknown, secondary: unknown) => ({
    ...raw,
    site: s.name,
    listen: { ...(raw.listen as object), host: s.listenHost, port: s.listenPort },
    admin: { ...(raw.admin as object), host: s.adminHost, port: s.adminPort },
    primary,
    secondary,
    stateDir: join(labDir, s.name, "state"),
    audit: { ...(raw.audit as object), journalDir: join(labDir, s.name, "audit") },
  });
  return {
    "site-a": site(spec.siteA, raw.primary, viaWan(raw.secondary, spec.wan.toSecondaryPort)),
    "site-b": site(spec.siteB, viaWan(raw.primary, spec.wan.toPrimaryPort), raw.secondary),
  };
}

export class SitesLab {
  readonly dir: string;
  readonly lab: Lab;
  private readonly cli: string[];

  constructor(
    private readonly config: Config,
    private readonly opts: SitesOptions = {},
  ) {
    this.dir = configPath(config, config.lab?.dir ?? DEFAULT_LAB_DIR);
    this.cli = opts.cli ?? [process.execPath, ...process.execArgv, process.argv[1]];
    const spec = this.readSpec();
    this.lab = new Lab({
      ...labOptionsFromConfig(config),
      ...(spec ? { replicationSource: { host: "127.0.0.1", port: spec.wan.toPrimaryPort } } : {}),
    });
  }

  get specFile(): string {
    return join(this.dir, "sites.json");
  }
  get wanSpecFile(): string {
    return join(this.dir, "wan.json");
  }
  configFile(site: SiteName): string {
    return join(this.dir, site, "pairgate.config.json");
  }
  logFile(site: SiteName): string {
    return join(this.dir, site, "pairgate.log");
  }
  get wanLogFile(): string {
    return join(this.dir, "wan.log");
  }

  /** The two-site lab's ports, or null when this lab runs as one site. */
  readSpec(): SitesSpec | null {
    try {
      const s = JSON.parse(readFileSync(this.specFile, "utf8")) as SitesSpec;
      return s.version === 1 ? s : null;
    } catch {
      return null;
    }
  }

  sitePid(site: SiteName): number | null {
    return pidsWithArg(this.configFile(site))[0] ?? null;
  }
  wanPid(): number | null {
    return pidsWithArg(this.wanSpecFile)[0] ?? null;
  }

  /** Link, both servers (replication over the link), both pairgates; idempotent. */
  async up(): Promise<SitesSpec> {
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
    const spec = this.readSpec() ?? (await this.newSpec());
    writeFileSync(this.specFile, `${JSON.stringify(spec, null, 2)}\n`);
    const wan: WanSpec = {
      controlPort: spec.wan.controlPort,
      delayMs: this.opts.delayMs ?? DEFAULT_WAN_DELAY_MS,
      routes: [
        {
          name: "to the primary (site A)",
          listenPort: spec.wan.toPrimaryPort,
          target: { host: this.connectHost, port: this.config.primary.port },
        },
        {
          name: "to the secondary (site B)",
          listenPort: spec.wan.toSecondaryPort,
          target: { host: this.connectHost, port: this.config.secondary.port },
        },
      ],
    };
    writeFileSync(this.wanSpecFile, `${JSON.stringify(wan, null, 2)}\n`);
    await this.startWan(spec);
    const lab = new Lab({
      ...labOptionsFromConfig(this.config),
      replicationSource: { host: "127.0.0.1", port: spec.wan.toPrimaryPort },
    });
    await lab.up();
    const configs = siteConfigs(this.config, spec, this.dir);
    for (const site of ["site-a", "site-b"] as const) {
      mkdirSync(join(this.dir, site), { recursive: true, mode: 0o700 });
      const file = this.configFile(site);
      const text = `${JSON.stringify(configs[site], null, 2)}\n`;
      const old = existsSync(file) ? readFileSync(file, "utf8") : null;
      writeFileSync(file, text, { mode: 0o600 });
      // A changed config restarts that pairgate (a reload would not move its listen port).
      if (old !== text) await this.stopPid(this.sitePid(site));
    }
    await Promise.all([this.startSite(spec.siteA), this.startSite(spec.siteB)]);
    return spec;
  }

  /** Both pairgates, the link and both servers stopped; data kept. */
  async down(): Promise<void> {
    await Promise.all([this.stopPid(this.sitePid("site-a")), this.stopPid(this.sitePid("site-b"))]);
    await this.stopPid(this.wanPid());
    await this.lab.down();
  }

  /** Back to one site: the site processes stop and the spec goes (the next `lab up` replicates directly). */
  async dismantle(): Promise<void> {
    await Promise.all([this.stopPid(this.sitePid("site-a")), this.stopPid(this.sitePid("site-b"))]);
    await this.stopPid(this.wanPid());
    rmSync(this.specFile, { force: true });
  }

  async wan(command: "status" | "cut" | "blackhole" | "heal" | "delay", ms?: number): Promise<WanStatus> {
    const spec = this.readSpec();
    if (!spec)
      throw new LabError(
        "PAIRGATE_LAB_NOT_SITES",
        `no two-site lab in ${this.dir}: run \`lab up --sites 2\``,
      );
    try {
      return await wanCommand(spec.wan.controlPort, command, ms);
    } catch (e) {
      throw new LabError(
        "PAIRGATE_LAB_WAN",
        `the WAN link does not answer on 127.0.0.1:${spec.wan.controlPort} (${(e as Error).message}); ` +
          `\`lab up --sites 2\` starts it (log: ${this.wanLogFile})`,
      );
    }
  }

  async status(): Promise<SitesStatus> {
    const spec = this.readSpec();
    const lab = await this.lab.status();
    if (!spec) return { lab, wan: null, wanPid: null, wanError: "not a two-site lab", sites: [] };
    let wan: WanStatus | null = null;
    let wanError: string | undefined;
    try {
      wan = await wanCommand(spec.wan.controlPort, "status");
    } catch (e) {
      wanError = (e as Error).message;
    }
    const sites = await Promise.all(
      [spec.siteA, spec.siteB].map(async (s): Promise<SiteStatus> => {
        const pid = this.sitePid(s.name);
        try {
          return { spec: s, pid, status: await getJson(s.adminHost, s.adminPort, "/status") };
        } catch (e) {
          return { spec: s, pid, status: null, error: (e as Error).message };
        }
      }),
    );
    return { lab, wan, wanPid: this.wanPid(), wanError, sites };
  }

  // --- internals -----------------------------------------------------------------------------

  private get connectHost(): string {
    const h = this.lab.host;
    return h === "0.0.0.0" || h === "::" ? "127.0.0.1" : h;
  }

  private async newSpec(): Promise<SitesSpec> {
    const c = this.config;
    const host = (h: string) => (h === "0.0.0.0" || h === "::" ? "127.0.0.1" : h);
    const [controlPort, toPrimaryPort, toSecondaryPort] = await freePorts(3);
    return {
      version: 1,
      siteA: {
        name: "site-a",
        listenHost: c.listen.host,
        listenPort: c.listen.port,
        adminHost: host(c.admin.host),
        adminPort: c.admin.port,
      },
      siteB: {
        name: "site-b",
        listenHost: c.listen.host,
        listenPort: this.opts.siteBListenPort ?? c.listen.port + 1,
        adminHost: host(c.admin.host),
        adminPort: this.opts.siteBAdminPort ?? c.admin.port + 1,
      },
      wan: { controlPort, toPrimaryPort, toSecondaryPort },
    };
  }

  private spawnDetached(args: string[], log: string): void {
    const fd = openSync(log, "a");
    try {
      const child = spawn(this.cli[0], [...this.cli.slice(1), ...args], {
        detached: true,
        stdio: ["ignore", fd, fd],
        env: { ...process.env, PAIRGATE_LOG_FORMAT: process.env.PAIRGATE_LOG_FORMAT ?? "json" },
      });
      child.on("error", () => {});
      child.unref();
    } finally {
      closeSync(fd);
    }
  }

  private async startWan(spec: SitesSpec): Promise<void> {
    if (this.wanPid() !== null) {
      try {
        await wanCommand(spec.wan.controlPort, "status");
        if (this.opts.delayMs !== undefined)
          await wanCommand(spec.wan.controlPort, "delay", this.opts.delayMs);
        return;
      } catch {
        await this.stopPid(this.wanPid());
      }
    }
    this.spawnDetached(["lab", "wan-link", "--spec", this.wanSpecFile], this.wanLogFile);
    await this.waitFor(
      "the WAN link",
      30_000,
      this.wanLogFile,
      () => this.wanPid(),
      async () => {
        await wanCommand(spec.wan.controlPort, "status");
      },
    );
  }

  private async startSite(s: SiteSpec): Promise<void> {
    if (this.sitePid(s.name) === null)
      this.spawnDetached(["start", "--config", this.configFile(s.name)], this.logFile(s.name));
    await this.waitFor(
      `pairgate ${s.name}`,
      60_000,
      this.logFile(s.name),
      () => this.sitePid(s.name),
      async () => {
        await getJson(s.adminHost, s.adminPort, "/status");
      },
    );
  }

  private async waitFor(
    what: string,
    ms: number,
    log: string,
    pid: () => number | null,
    probe: () => Promise<void>,
  ): Promise<void> {
    const deadline = Date.now() + ms;
    let seenPid = false;
    for (;;) {
      try {
        await probe();
        return;
      } catch {}
      const p = pid();
      if (p !== null) seenPid = true;
      // Give a just-spawned process a moment to appear before calling it dead.
      if (p === null && (seenPid || Date.now() > deadline - ms + 5000))
        throw new LabError("PAIRGATE_LAB_START", `${what} exited:\n${tail(log)}`);
      if (Date.now() > deadline)
        throw new LabError("PAIRGATE_LAB_START", `${what} did not answer within ${ms} ms:\n${tail(log)}`);
      await sleep(100);
    }
  }

  private async stopPid(pid: number | null): Promise<void> {
    if (pid === null || !isAlive(pid)) return;
    signal(pid, "SIGTERM");
    if (await waitForExit(pid, 10_000)) return;
    signal(pid, "SIGKILL");
    await waitForExit(pid, 5_000);
  }
}

function tail(file: string): string {
  try {
    return readFileSync(file, "utf8").slice(-3000);
  } catch {
    return `(no log at ${file})`;
  }
}

/** GET a JSON document from a local HTTP server (pairgate's admin). */
export function getJson(host: string, port: number, path: string): Promise<Record<string, unknown>> {
  return new Promise((res, rej) => {
    const req = request({ host, port, path, timeout: 3000 }, (r) => {
      let body = "";
      r.setEncoding("utf8");
      r.on("data", (d: string) => {
        body += d;
      });
      r.on("end", () => {
        if (r.statusCode !== 200) return rej(new Error(`HTTP ${r.statusCode} from ${host}:${port}${path}`));
        try {
          res(JSON.parse(body) as Record<string, unknown>);
        } catch (e) {
          rej(e as Error);
        }
      });
    });
    req.on("timeout", () => req.destroy(new Error(`${host}:${port} did not answer within 3 s`)));
    req.on("error", rej);
    req.end();
  });
}

/** The link process's main: serve the routes in `specFile` until SIGTERM or /stop. */
export async function runWanLink(specFile: string): Promise<void> {
  const { WanLink, serveControl } = await import("./wan.js");
  const spec = JSON.parse(readFileSync(specFile, "utf8")) as WanSpec;
  const link = new WanLink(spec.routes, spec.delayMs);
  await link.start();
  const stop = () => {
    void link.close().finally(() => process.exit(0));
  };
  await serveControl(link, spec.controlPort, stop);
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  process.stdout.write(
    `${new Date().toISOString()} WAN link up: ${spec.routes.map((r) => `127.0.0.1:${r.listenPort} → ${r.target.host}:${r.target.port} (${r.name})`).join(", ")}; control 127.0.0.1:${spec.controlPort}; delay ${spec.delayMs} ms\n`,
  );
}
