/**
 * The command line: `pairgate start | status | check-config | lab | replication | promote | audit`.
 * Each part registers its own subcommands; this file only wires them.
 */
import { Command } from "commander";
import { registerCheckConfigCommand, registerStatusCommand } from "./admin/cli.js";
import { registerAuditCommands } from "./audit/cli.js";
import { registerLabCommands } from "./lab/cli.js";
import { registerPromoteCommand, registerReplicationCommands } from "./replication/cli.js";
import { registerStartCommand } from "./start.js";

export async function main(argv: string[]): Promise<void> {
  const program = new Command();
  program
    .name("pairgate")
    .description("MySQL-protocol proxy for a primary/secondary pair")
    .showHelpAfterError();
  registerStartCommand(program);
  registerLabCommands(program);
  registerStatusCommand(program);
  registerCheckConfigCommand(program);
  registerReplicationCommands(program);
  registerPromoteCommand(program);
  registerAuditCommands(program);
  await program.parseAsync(argv, { from: "user" });
}
