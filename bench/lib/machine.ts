/** The machine a bench ran on, for the results table: CPUs, CPU model, RAM, kernel, versions. */
import { execFileSync, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { availableParallelism, release, totalmem } from "node:os";

export interface Machine {
  nproc: number;
  cpuModel: string;
  ramGiB: number;
  kernel: string;
  node: string;
  sysbench: string;
}

function nproc(): number {
  try {
    return Number(execFileSync("nproc", { encoding: "utf8" }).trim()) || availableParallelism();
  } catch {
    return availableParallelism();
  }
}

function cpuModel(): string {
  try {
    const info = readFileSync("/proc/cpuinfo", "utf8");
    return /^model name\s*:\s*(.+)$/m.exec(info)?.[1]?.trim() ?? "unknown";
  } catch {
    return "unknown";
  }
}

export function sysbenchVersion(): string {
  const out = spawnSync("sysbench", ["--version"], { encoding: "utf8" }).stdout ?? "";
  return out.trim().replace(/^sysbench\s+/, "") || "unknown";
}

export function describeMachine(): Machine {
  return {
    nproc: nproc(),
    cpuModel: cpuModel(),
    ramGiB: totalmem() / 1024 ** 3,
    kernel: release(),
    node: process.version,
    sysbench: sysbenchVersion(),
  };
}

/** The commit the bench ran on, marked "+ uncommitted changes" when src/ or bin/ differ from it. */
export function sourceRevision(root: string): string {
  const git = (args: string[]) => spawnSync("git", args, { cwd: root, encoding: "utf8" });
  const head = git(["rev-parse", "--short", "HEAD"]);
  if (head.status !== 0) return "unknown";
  const dirty = git(["status", "--porcelain", "--", "src", "bin"]).stdout?.trim();
  return `${head.stdout.trim()}${dirty ? " + uncommitted changes in src/" : ""}`;
}
