/**
 * `pairgate start --config FILE`: run the proxy in the foreground. Brings the lab pair up first when
 * the config has a `lab` section. SIGTERM/SIGINT shut down gracefully; SIGHUP reloads the config.
 */
import { readFileSync } from "node:fs";
import type { Command } from "commander";
import { ConfigError, loadConfig } from "./config/load.js";
import { Lab, labOptionsFromConfig } from "./lab/index.js";
import { renderBanner, resolveLogFormat } from "./observability/console.js";
import { createLogger } from "./observability/logger.js";
import { installProcessGuard } from "./observability/process-guard.js";
import { PairgateProxy } from "./proxy.js";
import { removePidFile, writePidFile } from "./replication/pidfile.js";

export function registerStartCommand(program: Command): void {
  program
    .command("start")
    .description("run the proxy in the foreground (brings the lab pair up first when the config has `lab`)")
    .option("-c, --config <file>", "config file", "proxy.config.json")
    .option(
      "--log-format <format>",
      "auto (lines in words and a banner on a TTY, JSON otherwise), json or pretty; default: log.format in the config, else auto",
    )
    .action(async (opts: { config: string; logFormat?: string }) => {
      let config: ReturnType<typeof loadConfig>;
      try {
        config = loadConfig(opts.config);
      } catch (e) {
        process.stderr.write(`${(e as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      let format: ReturnType<typeof resolveLogFormat>;
      try {
        format = resolveLogFormat(opts.logFormat, config.log.format, process.stdout.isTTY === true);
      } catch (e) {
        process.stderr.write(`${(e as Error).message}\n`);
        process.exitCode = 2;
        return;
      }
      const logger = createLogger(process.env.PAIRGATE_LOG_LEVEL ?? config.log.level, format);
      let labUser: { username: string; password: string } | undefined;
      if (config.lab) {
        logger.info({ dir: config.lab.dir }, "bringing the lab pair up");
        const labOptions = labOptionsFromConfig(config);
        labUser = labOptions.appUser;
        await new Lab(labOptions).up();
      }
      const proxy = new PairgateProxy(config, logger);
      // An error no owner handled is logged and counted, not the end of every session (issue 20).
      installProcessGuard(logger, (kind) => proxy.metrics.unhandledError(kind));
      await proxy.start();
      if (format === "pretty" && proxy.address) {
        process.stdout.write(
          renderBanner({
            config,
            listen: proxy.address,
            adminPort: proxy.adminPort ?? config.admin.port,
            mode: proxy.topology.mode,
            pid: process.pid,
            version: packageVersion(),
            color: process.stdout.isTTY === true,
            labUser,
          }),
        );
      }
      // `pairgate promote` finds this process here to reload it (SIGHUP).
      const pidFile = writePidFile(config.file);
      if (!pidFile) logger.warn({ config: config.file }, "could not write the pid file next to the config");
      let stopping = false;
      const stop = (signal: string) => {
        if (stopping) return;
        stopping = true;
        logger.info({ signal }, "shutting down: no new clients, finishing statements in flight");
        void proxy.stop().then(
          () => {
            removePidFile(pidFile);
            logger.info("stopped");
            process.exit(0);
          },
          (e) => {
            logger.error({ err: (e as Error).message }, "shutdown failed");
            process.exit(1);
          },
        );
      };
      process.on("SIGTERM", () => stop("SIGTERM"));
      process.on("SIGINT", () => stop("SIGINT"));
      process.on("SIGHUP", () => {
        try {
          const next = loadConfig(opts.config);
          void proxy.reload(next);
        } catch (e) {
          const msg = e instanceof ConfigError ? e.problems.join("; ") : (e as Error).message;
          logger.error({ err: msg }, "config reload refused: the running config stays");
          proxy.metrics.configReload("invalid");
        }
      });
    });
}

function packageVersion(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL("../package.json", import.meta.url), "utf8")) as {
      version?: string;
    };
    return pkg.version ?? "?";
  } catch {
    return "?";
  }
}
