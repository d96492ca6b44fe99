/**
 * `pairgate audit verify [--config FILE] [--anchor FILE|HASH]… [--journal DIR | --no-journal]
 *  [--dump FILE] [--key-file FILE | --key-env NAME] [--range N] [--json]`
 *
 * Walks the audit table on the primary (streamed), or a tab-separated dump of it, and the local
 * journal, and checks every hash chain. Exit status: 0 every chain verified, 1 the trail was
 * changed (the report says where), 2 the check could not run.
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import type { Command } from "commander";
import { type Config, ConfigError, loadConfig } from "../config/load.js";
import { type ChainKey, loadChainKey } from "./chain.js";
import { formatVerifyReport, parseAnchors, runVerify } from "./verify-run.js";

const DEFAULT_CONFIG = "proxy.config.json";

interface VerifyOpts {
  config: string;
  anchor: string[];
  journal?: string | false;
  dump?: string;
  keyFile?: string;
  keyEnv?: string;
  range: string;
  json?: boolean;
}

function fail(message: string): void {
  process.stderr.write(`${message}\n`);
  process.exitCode = 2;
}

export function registerAuditCommands(program: Command): void {
  const audit = program.command("audit").description("the audit trail: verify its hash chains");
  audit
    .command("verify")
    .description(
      "check the hash chains of the audit table on the primary (or a dump of it) and the local journal: modified, deleted, inserted, reordered, truncated or forged events are reported; exit 1 when any",
    )
    .option("-c, --config <file>", "the pairgate config (primary, audit table, journal, key)", DEFAULT_CONFIG)
    .option(
      "--anchor <file|hash>",
      "an anchor file (anchors.jsonl) or a published head: HASH, SEQ:HASH or CHAIN:SEQ:HASH (repeatable)",
      (v: string, acc: string[]) => [...acc, v],
      [] as string[],
    )
    .option("--journal <dir>", "the journal folder to check as well (default: the config's audit.journalDir)")
    .option("--no-journal", "do not read the local journal")
    .option("--dump <file>", "a tab-separated dump of the table (mysqldump --tab) instead of the primary")
    .option("--key-file <file>", "the chain key (default: the config's audit.chain.keyFile / keyEnv)")
    .option("--key-env <name>", "an environment variable holding the chain key")
    .option("--range <n>", "check only the newest N events of each chain (0: all)", "0")
    .option("--json", "print the report as JSON")
    .action(async (opts: VerifyOpts) => {
      let config: Config | null = null;
      try {
        config = loadConfig(opts.config);
      } catch (e) {
        // A dump can be checked without a config (and a key given on the command line).
        if (!opts.dump || existsSync(opts.config)) {
          fail(e instanceof ConfigError ? e.message : `${opts.config}: ${(e as Error).message}`);
          return;
        }
      }
      const base = config?.baseDir ?? process.cwd();
      let keys: ChainKey[] = [];
      let anchors: ReturnType<typeof parseAnchors>;
      try {
        const key =
          opts.keyFile || opts.keyEnv
            ? loadChainKey({ keyFile: opts.keyFile, keyEnv: opts.keyEnv }, process.cwd())
            : config
              ? loadChainKey(config.audit.chain, base)
              : null;
        keys = key ? [key] : [];
        anchors = parseAnchors(opts.anchor);
      } catch (e) {
        fail((e as Error).message);
        return;
      }
      const range = Number(opts.range);
      if (!Number.isSafeInteger(range) || range < 0) {
        fail(`--range ${opts.range}: a number of events (0: all) expected`);
        return;
      }
      const journalDir =
        opts.journal === false
          ? null
          : typeof opts.journal === "string"
            ? resolve(opts.journal)
            : config
              ? resolve(base, config.audit.journalDir)
              : null;
      const p = config?.primary;
      try {
        const r = await runVerify({
          server:
            !opts.dump && p && config
              ? {
                  table: config.audit.table,
                  connection: {
                    host: p.host,
                    port: p.port,
                    user: p.user,
                    password: p.password,
                    connectTimeout: 5000,
                    ssl: p.tls
                      ? {
                          ca: p.tls.ca
                            ? (await import("node:fs")).readFileSync(resolve(base, p.tls.ca), "utf8")
                            : undefined,
                          rejectUnauthorized: p.tls.rejectUnauthorized,
                        }
                      : undefined,
                  },
                }
              : undefined,
          dump: opts.dump,
          journalDir,
          keys,
          anchors,
          range,
        });
        process.stdout.write(opts.json ? `${JSON.stringify(r, null, 2)}\n` : formatVerifyReport(r));
        process.exitCode = r.ok ? 0 : 1;
      } catch (e) {
        const err = e as { code?: string; message?: string };
        fail(`audit verify could not run: ${err.message ?? String(e)}${err.code ? ` (${err.code})` : ""}`);
      }
    });
}
