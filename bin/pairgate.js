#!/usr/bin/env node
// Entry point for `npx pairgate`: runs the compiled CLI, building it first in a fresh clone.
import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const cli = join(root, "dist", "cli.js");
if (!existsSync(cli)) {
  process.stderr.write("pairgate: dist/ is missing, building it once (npm run build)...\n");
  execFileSync("npm", ["run", "-s", "build"], { cwd: root, stdio: "inherit" });
}
const { main } = await import(pathToFileURL(cli).href);
await main(process.argv.slice(2));
