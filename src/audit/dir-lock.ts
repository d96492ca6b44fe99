/**
 * A per-folder lock that the kernel releases when its owner dies: a listening unix socket.
 *
 * On Linux the socket lives in the abstract namespace, named after the folder's device and inode
 * (`\0pairgate-journal/<dev>/<ino>`): no file is left behind, and the name is freed by the kernel the
 * moment the owner's file descriptors are closed — on exit, on `kill -9`, before the process is even
 * reaped (a zombie holds no descriptors), so a reused or unreaped pid never keeps a new process out.
 * Binding is atomic: of two processes racing for the folder exactly one gets EADDRINUSE.
 * Elsewhere (no abstract namespace) the socket is `<dir>/journal.sock`; a socket file nobody
 * answers on is stale and is replaced.
 *
 * The holder answers every connection with `pairgate <pid>\n`, so the refused process can say who
 * holds the folder.
 *
 * Limits: abstract sockets belong to a network namespace, so two containers with separate network
 * namespaces that mount the same folder do not see each other's lock (give each its own journal
 * folder). No native code is involved.
 */
import { statSync, unlinkSync } from "node:fs";
import { connect, createServer, type Server } from "node:net";
import { join } from "node:path";
import { PairgateError } from "../protocol/errors.js";

export const LOCK_SOCKET = "journal.sock";

export class DirLockedError extends PairgateError {
  constructor(
    readonly dir: string,
    readonly holderPid: number | null,
  ) {
    super(
      "PAIRGATE_AUDIT_JOURNAL_LOCKED",
      holderPid === null
        ? `audit journal ${dir} is in use by another process`
        : `audit journal ${dir} is in use by process ${holderPid} (another pairgate on the same journalDir?)`,
    );
  }
}

export interface DirLock {
  /** Where the lock lives (an abstract name starts with "@"). */
  readonly name: string;
  release(): Promise<void>;
}

/** The socket address for a folder: abstract on Linux, a file in the folder elsewhere. */
export function lockAddress(dir: string): { path: string; abstract: boolean } {
  if (process.platform === "linux") {
    const st = statSync(dir, { bigint: true });
    return { path: `\0pairgate-journal/${st.dev}/${st.ino}`, abstract: true };
  }
  return { path: join(dir, LOCK_SOCKET), abstract: false };
}

function listen(server: Server, path: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once("error", onError);
    server.listen({ path, exclusive: true }, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

/** Ask the holder who it is: its pid, or null if nobody answers (ECONNREFUSED: a stale socket file). */
export function askHolder(path: string, timeoutMs = 500): Promise<{ alive: boolean; pid: number | null }> {
  return new Promise((resolve) => {
    const s = connect({ path });
    let text = "";
    const done = (alive: boolean) => {
      clearTimeout(timer);
      s.destroy();
      const m = /^pairgate (\d+)/.exec(text);
      resolve({ alive, pid: m ? Number(m[1]) : null });
    };
    const timer = setTimeout(() => done(true), timeoutMs);
    s.setEncoding("utf8");
    s.on("data", (d: string) => {
      text += d;
      if (text.includes("\n")) done(true);
    });
    s.on("end", () => done(true));
    s.on("error", (e: NodeJS.ErrnoException) => done(!(e.code === "ECONNREFUSED" || e.code === "ENOENT")));
  });
}

/**
 * Take the folder's lock or throw DirLockedError (held by a live process). The folder must exist.
 * The returned lock keeps a listening socket, unref'ed so it never keeps the process alive.
 */
export async function lockDir(dir: string): Promise<DirLock> {
  const { path, abstract } = lockAddress(dir);
  for (let attempt = 0; ; attempt++) {
    const server = createServer((c) => {
      c.on("error", () => {});
      c.end(`pairgate ${process.pid}\n`);
    });
    try {
      await listen(server, path);
      server.unref();
      return {
        name: abstract ? `@${path.slice(1)}` : path,
        release: () =>
          new Promise<void>((resolve) => {
            // A path socket is unlinked by close() in libuv; an abstract one simply disappears.
            server.close(() => resolve());
          }),
      };
    } catch (e) {
      server.close();
      if ((e as NodeJS.ErrnoException).code !== "EADDRINUSE") throw e;
      const holder = await askHolder(path);
      if (holder.alive || abstract || attempt > 0) throw new DirLockedError(dir, holder.pid);
      // A socket file left by a dead owner (non-Linux only): nobody listens, replace it once.
      try {
        unlinkSync(path);
      } catch {
        // someone else removed it
      }
    }
  }
}
