import type { Command } from "commander";

/** `pairgate status` — filled in by the admin module. */
export function registerStatusCommand(_program: Command): void {}
