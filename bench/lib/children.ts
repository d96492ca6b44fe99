/**
 * The long-running processes the bench starts (HAProxy, pairgate): each writes to its own log
 * file, and every one still alive is killed when the bench exits for any reason — a normal end,
 * an error, Ctrl-C or SIGTERM (the 'exit' hook is synchronous, so it runs on process.exit too).
 */
import { type ChildProcess, spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";

export interface Managed {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  readonly child: ChildProcess;
  /** Exit code or signal once it has exited, else null. */
  exitStatus(): string | null;
  /** The last `n` characters of its log, for error messages. */
  logTail(n?: number): string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<Managed>();
let hooked = false;

function killAllNow(): void {
  for (const m of live) {
    try {
      process.kill(m.pid, "SIGKILL");
    } catch {}
  }
  live.clear();
}

function hook(): void {
  if (hooked) return;
  hooked = true;
  process.on("exit", killAllNow);
}

export function spawnManaged(name: string, command: string, args: string[], logFile: string): Managed {
  hook();
  const fd = openSync(logFile, "a");
  let child: ChildProcess;
  try {
    child = spawn(command, args, { stdio: ["ignore", fd, fd] });
  } finally {
    closeSync(fd);
  }
  if (child.pid === undefined) throw new Error(`cannot start ${name} (${command})`);
  let status: string | null = null;
  const exited = new Promise<void>((resolve) => {
    child.once("exit", (code, signal) => {
      status = signal ? `signal ${signal}` : `exit ${code}`;
      live.delete(m);
      resolve();
    });
    child.once("error", (e) => {
      status = `error ${e.message}`;
      live.delete(m);
      resolve();
    });
  });
  const m: Managed = {
    name,
    pid: child.pid,
    logFile,
    child,
    exitStatus: () => status,
    logTail(n = 2000) {
      try {
        return readFileSync(logFile, "utf8").slice(-n);
      } catch {
        return "";
      }
    },
    async stop(graceMs = 5000) {
      if (status !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
      await exited;
      clearTimeout(timer);
    },
  };
  live.add(m);
  return m;
}
