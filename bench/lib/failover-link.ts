/**
 * A cuttable TCP link to a server (test/helpers/link.ts) run in a child process: both proxies
 * reach the primary through it for the blackhole fault. `blackhole()` resolves once the child has
 * applied it (well under a millisecond on an idle machine); the child is killed when the bench exits.
 */
import { type ChildProcess, fork } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export interface LinkProcess {
  readonly port: number;
  readonly pid: number;
  blackhole(): Promise<void>;
  heal(): Promise<void>;
  close(): Promise<void>;
}

const CHILD = join(dirname(fileURLToPath(import.meta.url)), "failover-link-child.ts");
const live = new Set<ChildProcess>();
let hooked = false;

export function startLinkProcess(target: { host: string; port: number }): Promise<LinkProcess> {
  if (!hooked) {
    hooked = true;
    process.on("exit", () => {
      for (const c of live) c.kill("SIGKILL");
    });
  }
  const child = fork(CHILD, [target.host, String(target.port)], {
    execArgv: ["--import", "tsx"],
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  live.add(child);
  child.once("exit", () => live.delete(child));
  let nextId = 1;
  const waiting = new Map<number, () => void>();
  const send = (command: "blackhole" | "heal" | "cut") =>
    new Promise<void>((resolve, reject) => {
      if (!child.connected) return reject(new Error("the link process is gone"));
      const id = nextId++;
      waiting.set(id, resolve);
      child.send({ id, command });
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("the link process did not start within 20 s"));
    }, 20_000);
    child.once("exit", (code, sig) => {
      clearTimeout(timer);
      reject(new Error(`the link process exited (${sig ?? code}) before it was ready`));
    });
    child.on("message", (m: { ready?: number; id?: number }) => {
      if (m.ready !== undefined) {
        clearTimeout(timer);
        resolve({
          port: m.ready,
          pid: child.pid!,
          blackhole: () => send("blackhole"),
          heal: () => send("heal"),
          async close() {
            if (child.exitCode !== null || child.signalCode !== null) return;
            const gone = new Promise((r) => child.once("exit", r));
            child.disconnect();
            const t = setTimeout(() => child.kill("SIGKILL"), 2000);
            await gone;
            clearTimeout(t);
          },
        });
      } else if (m.id !== undefined) {
        waiting.get(m.id)?.();
        waiting.delete(m.id);
      }
    });
  });
}
