import type { Command } from "commander";

/** `pairgate lab up|down|status|kill|start` — filled in by the lab module. */
export function registerLabCommands(program: Command): void {
  program
    .command("lab")
    .description("a local primary/secondary pair of real MariaDB servers (not built yet)");
}
