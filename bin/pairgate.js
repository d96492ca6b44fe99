#!/usr/bin/env -S node --max-semi-space-size=2
// Entry point for `npx pairgate`: runs the compiled CLI, building it first in a fresh clone.
//
// Memory: under load V8 grows its young generation to 2 × 16 MiB semi-spaces and keeps them, which
// pushed pairgate's RSS with 2,000 idle sessions past 150 MB; `--max-semi-space-size=2` (MiB) keeps
// it near 100 MB for no measurable CPU per query (bench/README.md). V8 reads the flag only at
// start, so it is set here: in the line above when this file is run as a program (`pairgate`,
// `./bin/pairgate.js`), else for `start` by re-executing in place where Node can (process.execve,
// Node 22.15+/23.11+). On Node 20, `node bin/pairgate.js start` runs without it unless
// NODE_OPTIONS=--max-semi-space-size=2 is set. An explicit --max-semi-space-size anywhere wins.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const SEMI_SPACE = "--max-semi-space-size";
const args = process.argv.slice(2);
if (
  args[0] === "start" &&
  typeof process.execve === "function" &&
  !process.execArgv.some((a) => a.startsWith(SEMI_SPACE)) &&
  !(process.env.NODE_OPTIONS ?? "").includes(SEMI_SPACE)
) {
  try {
    process.execve(process.execPath, [
      process.execPath,
      `${SEMI_SPACE}=2`,
      ...process.execArgv,
      fileURLToPath(import.meta.url),
      ...args,
    ]);
  } catch {
    // Not allowed here (e.g. a permission model, worker threads): run without the flag.
  }
}

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "dist", "cli.js");
if (!existsSync(cli)) {
  process.stderr.write("pairgate: dist/ is missing, building it once (npm run build)...\n");
  execFileSync("npm", ["run", "-s", "build"], { cwd: root, stdio: "inherit" });
}
const { main } = await import(pathToFileURL(cli).href);
await main(process.argv.slice(2));
