/**
 * Seeding a secondary: the primary's dump tool writes a consistent snapshot (one transaction,
 * `--single-transaction`) to its stdout, which is piped straight into the client tool connected
 * to the secondary — no file in between. The stream passes through a counter that reports bytes
 * and tables, and picks out the snapshot's GTID position, which the dump writes as a comment
 * (`--master-data=2 --gtid` / `--set-gtid-purged=COMMENTED`): the position that matches the data
 * exactly, for the replica to start from.
 */
import { spawn } from "node:child_process";
import { Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import { findExecutable } from "../lab/mariadb.js";
import type { Endpoint } from "./endpoint.js";
import { ReplicationError } from "./errors.js";
import type { AdminCredentials } from "./server.js";
import type { Dialect } from "./server-family.js";

export interface SeedProgress {
  bytes: number;
  /** Tables whose data has started to stream. */
  tables: number;
  /** `schema.table` being streamed now. */
  current: string | null;
  done: boolean;
}

export interface SeedOptions {
  dialect: Dialect;
  primary: Endpoint;
  secondary: Endpoint;
  admin: AdminCredentials;
  databases: string[];
  primaryTls: { enabled: boolean; ca?: string };
  secondaryTls: { enabled: boolean; ca?: string };
  dropDatabases: boolean;
  onProgress?: (p: SeedProgress) => void;
  /** How often progress is reported while streaming (ms). */
  progressEveryMs?: number;
}

export interface SeedResult {
  position: string;
  bytes: number;
  tables: number;
  ms: number;
}

const TAIL = 4096;

/**
 * Counts what passes and finds markers in the dump text, also across chunk boundaries (each
 * chunk is scanned with the end of the previous one in front of it).
 */
export class DumpScanner extends Transform {
  bytes = 0;
  tables = 0;
  database: string | null = null;
  current: string | null = null;
  /** The GTID position found so far (the last one in the stream). */
  position: string | null = null;
  private tail = "";
  constructor(private readonly dialect: Dialect) {
    super();
  }

  override _transform(
    chunk: Buffer,
    _enc: BufferEncoding,
    done: (e?: Error | null, data?: Buffer) => void,
  ): void {
    this.bytes += chunk.length;
    this.scan(chunk.toString("latin1"));
    done(null, chunk);
  }

  scan(piece: string): void {
    const text = this.tail + piece;
    const fresh = (m: RegExpMatchArray) => (m.index ?? 0) + m[0].length > this.tail.length;
    for (const m of text.matchAll(/^-- Current Database: `((?:[^`]|``)+)`$/gm))
      if (fresh(m)) this.database = m[1].replaceAll("``", "`");
    for (const m of text.matchAll(/^-- Dumping data for table `((?:[^`]|``)+)`$/gm)) {
      if (!fresh(m)) continue;
      this.tables++;
      const t = m[1].replaceAll("``", "`");
      this.current = this.database ? `${this.database}.${t}` : t;
    }
    // The position comment may straddle two chunks: look for it in the tail and the new piece together.
    const pos = this.dialect.parseDumpPosition(text);
    if (pos !== null) this.position = pos;
    this.tail = text.slice(-TAIL);
  }
}

function binary(candidates: string[], env: string): string {
  const found = findExecutable(candidates, env);
  if (!found)
    throw new ReplicationError(
      "PAIRGATE_REPL_NO_CLIENT",
      `${candidates[0]} was not found on PATH (set ${env} to its path): install the database client tools`,
    );
  return found;
}

function collect(stream: NodeJS.ReadableStream | null, limit = 8192): () => string {
  let text = "";
  stream?.on("data", (d: Buffer) => {
    text = (text + d.toString("utf8")).slice(-limit);
  });
  return () => text.trim();
}

function exited(child: ReturnType<typeof spawn>): Promise<{ code: number | null; signal: string | null }> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null)
      resolve({ code: child.exitCode, signal: child.signalCode });
    else child.once("close", (code, signal) => resolve({ code, signal }));
  });
}

export async function streamSeed(o: SeedOptions): Promise<SeedResult> {
  const started = Date.now();
  const dumpBin = binary(o.dialect.dumpCommand, "PAIRGATE_DUMP");
  const clientBin = binary(o.dialect.clientCommand, "PAIRGATE_CLIENT");
  // The password travels in the environment of the two children, never on their command line.
  const env = { ...process.env, MYSQL_PWD: o.admin.password };
  const dump = spawn(
    dumpBin,
    o.dialect.dumpArgs({
      host: o.primary.host,
      port: o.primary.port,
      user: o.admin.user,
      databases: o.databases,
      tls: o.primaryTls,
      dropDatabases: o.dropDatabases,
    }),
    { env, stdio: ["ignore", "pipe", "pipe"] },
  );
  const client = spawn(
    clientBin,
    o.dialect.clientArgs({
      host: o.secondary.host,
      port: o.secondary.port,
      user: o.admin.user,
      tls: o.secondaryTls,
    }),
    { env, stdio: ["pipe", "ignore", "pipe"] },
  );
  const dumpErr = collect(dump.stderr);
  const clientErr = collect(client.stderr);
  const spawnError = new Promise<never>((_, reject) => {
    for (const [c, bin] of [
      [dump, dumpBin],
      [client, clientBin],
    ] as const)
      c.once("error", (e) =>
        reject(new ReplicationError("PAIRGATE_REPL_SEED", `${bin} could not be started: ${e.message}`)),
      );
  });
  spawnError.catch(() => {});
  const scanner = new DumpScanner(o.dialect);
  const report = (done: boolean) =>
    o.onProgress?.({ bytes: scanner.bytes, tables: scanner.tables, current: scanner.current, done });
  const timer = setInterval(() => report(false), o.progressEveryMs ?? 500);
  let streamError: unknown = null;
  try {
    await Promise.race([
      pipeline(dump.stdout, scanner, client.stdin).catch((e) => {
        streamError = e;
      }),
      spawnError,
    ]);
    const [d, c] = await Promise.race([Promise.all([exited(dump), exited(client)]), spawnError]);
    if (c.code !== 0) {
      if (d.code === null && d.signal === null) dump.kill("SIGTERM");
      throw new ReplicationError(
        "PAIRGATE_REPL_SEED",
        `loading the dump into the secondary failed (${clientBin} exited with ${c.signal ?? c.code}): ${clientErr() || "no message"}`,
      );
    }
    if (d.code !== 0)
      throw new ReplicationError(
        "PAIRGATE_REPL_SEED",
        `dumping the primary failed (${dumpBin} exited with ${d.signal ?? d.code}): ${dumpErr() || "no message"}`,
      );
    if (streamError)
      throw new ReplicationError(
        "PAIRGATE_REPL_SEED",
        `the dump stream broke: ${(streamError as Error).message}`,
      );
  } catch (e) {
    for (const c of [dump, client]) if (c.exitCode === null && c.signalCode === null) c.kill("SIGTERM");
    throw e;
  } finally {
    clearInterval(timer);
  }
  report(true);
  if (scanner.position === null)
    throw new ReplicationError(
      "PAIRGATE_REPL_SEED",
      "the dump carried no GTID position (is GTID enabled on the primary, and the dump tool recent enough?)",
    );
  return {
    position: scanner.position,
    bytes: scanner.bytes,
    tables: scanner.tables,
    ms: Date.now() - started,
  };
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 ** 3).toFixed(2)} GiB`;
}
