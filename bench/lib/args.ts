/**
 * Command-line options of the bench scripts: `parseArgs` plus `--help` / `-h`, which prints the
 * script's own usage comment (the first doc comment of the file, the one place its options are
 * described), and a one-line error for an unknown or malformed option instead of parseArgs's stack
 * trace. Exit codes: 0 after --help, 2 for a bad option.
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { type ParseArgsConfig, parseArgs } from "node:util";

/** The first `/** ... *\/` comment of a source file, without its comment markers. */
export function usageOf(file: string): string {
  const m = /\/\*\*([\s\S]*?)\*\//.exec(readFileSync(file, "utf8"));
  if (!m) return `${basename(file)}: no usage comment`;
  return m[1]
    .split("\n")
    .map((l) => l.replace(/^\s*\* ?/, ""))
    .join("\n")
    .trim();
}

type Options = NonNullable<ParseArgsConfig["options"]>;

/**
 * parseArgs over process.argv for the script at `scriptUrl` (its `import.meta.url`). Exits the
 * process on --help and on a bad option; positional arguments only where `allowPositionals`.
 */
export function benchArgs<O extends Options, P extends boolean = false>(
  scriptUrl: string,
  options: O,
  allowPositionals?: P,
) {
  const file = fileURLToPath(scriptUrl);
  const name = `bench/${basename(file)}`;
  const argv = process.argv.slice(2);
  if (argv.includes("--help") || argv.includes("-h")) {
    process.stdout.write(`${usageOf(file)}\n`);
    process.exit(0);
  }
  try {
    return parseArgs({
      args: argv,
      options,
      strict: true,
      allowPositionals: (allowPositionals ?? false) as P,
    });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (typeof err.code !== "string" || !err.code.startsWith("ERR_PARSE_ARGS")) throw e;
    const opt = /'([^']+)'/.exec(err.message)?.[1];
    const what =
      err.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && opt !== undefined
        ? `unknown option ${opt}`
        : err.message.split(/\.\s/)[0];
    process.stderr.write(`${name}: ${what} (--help lists the options)\n`);
    process.exit(2);
  }
}

/** An integer option's value (`--name`), `dflt` when absent; a value below `min` or not an integer throws. */
export function intOption(v: string | undefined, dflt: number, name: string, min: number): number {
  if (v === undefined) return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} wants an integer ≥ ${min}, got ${v}`);
  return n;
}
