/**
 * `pairgate status [--config FILE] [--json]` — ask a running pairgate (its admin listener, from the
 * config) for /status and print the same summary as the HA page.
 * `pairgate check-config [--config FILE]` — validate a config file and nothing else.
 */
import type { Command } from "commander";
import { sameEndpoint } from "../config/endpoint.js";
import { type Config, ConfigError, loadConfig } from "../config/load.js";
import { formatStatusText, type StatusDocument } from "./status.js";

const DEFAULT_CONFIG = "proxy.config.json";

/** Where to reach a listener bound to `host`: a wildcard bind is reached on loopback. */
export function adminUrl(host: string, port: number, path = "/status"): string {
  let h = host;
  if (h === "0.0.0.0" || h === "") h = "127.0.0.1";
  else if (h === "::" || h === "[::]") h = "::1";
  if (h.includes(":") && !h.startsWith("[")) h = `[${h}]`;
  return `http://${h}:${port}${path}`;
}

function fail(message: string, code = 1): void {
  process.stderr.write(`${message}\n`);
  process.exitCode = code;
}

function describeFetchError(e: unknown): string {
  const err = e as { name?: string; message?: string; cause?: { code?: string; message?: string } };
  if (err?.name === "TimeoutError" || err?.name === "AbortError") return "no answer within 3 s";
  return err?.cause?.code ?? err?.cause?.message ?? err?.message ?? String(e);
}

/** Semantic checks the schema cannot express: problems fail the check, notes are printed. */
export function configProblems(c: Config): { problems: string[]; notes: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  if (sameEndpoint(c.primary, c.secondary)) {
    // What `pairgate promote` writes: the promoted server alone until a new secondary is set up.
    notes.push(
      `secondary: same address as primary (${c.primary.host}:${c.primary.port}), as \`pairgate promote\` leaves it: that server serves alone, with no read-only fallback, until a new secondary is set up (\`pairgate replication setup\`) and written under "secondary"`,
    );
  }
  if (c.listen.port === c.admin.port && (c.listen.host === c.admin.host || c.admin.host === "0.0.0.0")) {
    problems.push(`admin.port: same as listen.port (${c.listen.port})`);
  }
  if (c.monitor.connectTimeoutMs > 5000 || c.monitor.queryTimeoutMs > 5000) {
    notes.push("monitor: timeouts above 5 s make a silent primary take long to detect");
  }
  const loopback = /^(127\.|::1$|localhost$)/.test(c.admin.host);
  if (!loopback && !c.admin.token) {
    notes.push(
      `admin.host: ${c.admin.host} is not loopback and admin.token is not set: remote POST actions will be refused (403)`,
    );
  }
  return { problems, notes };
}

export function registerStatusCommand(program: Command): void {
  program
    .command("status")
    .description("show the pair's status from a running pairgate (its admin listener)")
    .option("-c, --config <file>", "the config of the pairgate to ask", DEFAULT_CONFIG)
    .option("--json", "print the /status document as JSON")
    .action(async (opts: { config: string; json?: boolean }) => {
      let config: Config;
      try {
        config = loadConfig(opts.config);
      } catch (e) {
        fail(e instanceof ConfigError ? e.message : `${opts.config}: ${(e as Error).message}`, 2);
        return;
      }
      const url = adminUrl(config.admin.host, config.admin.port);
      let doc: StatusDocument;
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(3000) });
        if (!res.ok) {
          fail(`pairgate at ${url} answered HTTP ${res.status}: ${(await res.text()).trim()}`);
          return;
        }
        doc = (await res.json()) as StatusDocument;
      } catch (e) {
        fail(
          `cannot reach pairgate at ${url} (${describeFetchError(e)}): is it running with ${opts.config}?`,
        );
        return;
      }
      process.stdout.write(opts.json ? `${JSON.stringify(doc, null, 2)}\n` : formatStatusText(doc));
    });
}

export function registerCheckConfigCommand(program: Command): void {
  program
    .command("check-config")
    .description("validate a config file (schema, secrets, addresses) without starting anything")
    .option("-c, --config <file>", "the config file to check", DEFAULT_CONFIG)
    .action((opts: { config: string }) => {
      let config: Config;
      try {
        config = loadConfig(opts.config);
      } catch (e) {
        if (e instanceof ConfigError) {
          process.stdout.write(`${e.file}: invalid configuration\n`);
          for (const p of e.problems) process.stdout.write(`  ${p}\n`);
        } else {
          process.stdout.write(`${opts.config}: ${(e as Error).message}\n`);
        }
        process.exitCode = 1;
        return;
      }
      const { problems, notes } = configProblems(config);
      if (problems.length > 0) {
        process.stdout.write(`${opts.config}: invalid configuration\n`);
        for (const p of problems) process.stdout.write(`  ${p}\n`);
        process.exitCode = 1;
        return;
      }
      for (const n of notes) process.stdout.write(`note: ${n}\n`);
      process.stdout.write(`ok: ${opts.config}\n`);
    });
}
