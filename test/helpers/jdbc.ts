/**
 * Driving a real JDBC driver from the tests: test/jdbc/JdbcShell.java runs in Java's single-file
 * source mode with MariaDB Connector/J from Debian's libmariadb-java (both installed by .ci/run),
 * one command line in, one answer line out.
 */
import { type ChildProcessWithoutNullStreams, spawn, spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const SHELL = join(dirname(fileURLToPath(import.meta.url)), "..", "jdbc", "JdbcShell.java");
const JARS = ["/usr/share/java/mariadb-java-client.jar"];

/** Why JDBC tests cannot run here, or null when java and Connector/J are installed. */
export function jdbcMissing(): string | null {
  const java = spawnSync("java", ["-version"], { encoding: "utf8" });
  if (java.error || java.status !== 0) return "java is missing (apt-get install default-jdk-headless)";
  if (!JARS.some((j) => existsSync(j))) return "Connector/J is missing (apt-get install libmariadb-java)";
  return null;
}

export interface JdbcError {
  code: number;
  sqlState: string;
  message: string;
}

export type JdbcAnswer =
  | { kind: "ok"; text: string }
  | { kind: "rows"; rows: (string | null)[][] }
  | { kind: "count"; count: number }
  | { kind: "counts"; counts: number[] }
  | { kind: "tables"; tables: string[] }
  | { kind: "error"; error: JdbcError };

export class JdbcShell {
  private lines: string[] = [];
  private waiting: ((line: string) => void) | null = null;
  private stderr = "";
  private exited = false;

  private constructor(private child: ChildProcessWithoutNullStreams) {
    createInterface({ input: child.stdout }).on("line", (line) => {
      const w = this.waiting;
      if (w) {
        this.waiting = null;
        w(line);
      } else this.lines.push(line);
    });
    child.stderr.on("data", (d) => {
      this.stderr += d;
    });
    child.on("exit", () => {
      this.exited = true;
      this.waiting?.(`error 0 EXIT the JDBC shell exited: ${this.stderr.slice(-2000)}`);
    });
  }

  static async start(): Promise<JdbcShell> {
    const jar = JARS.find((j) => existsSync(j))!;
    const shell = new JdbcShell(spawn("java", ["-cp", jar, SHELL], { stdio: "pipe" }));
    const first = await shell.next(60_000); // compiling the source takes a few seconds
    if (first !== "ready") throw new Error(`JDBC shell did not start: ${first}`);
    return shell;
  }

  private next(timeoutMs: number): Promise<string> {
    const queued = this.lines.shift();
    if (queued !== undefined) return Promise.resolve(queued);
    if (this.exited)
      return Promise.resolve(`error 0 EXIT the JDBC shell exited: ${this.stderr.slice(-2000)}`);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiting = null;
        reject(new Error(`JDBC shell: no answer in ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiting = (line) => {
        clearTimeout(timer);
        resolve(line);
      };
    });
  }

  /** Send one command line; the answer, parsed. */
  async run(command: string, timeoutMs = 30_000): Promise<JdbcAnswer> {
    this.child.stdin.write(`${command}\n`);
    const line = await this.next(timeoutMs);
    const sp = line.indexOf(" ");
    const kind = sp < 0 ? line : line.slice(0, sp);
    const rest = sp < 0 ? "" : line.slice(sp + 1);
    switch (kind) {
      case "ok":
        return { kind, text: rest };
      case "rows":
        return { kind, rows: JSON.parse(rest) };
      case "count":
        return { kind, count: Number(rest) };
      case "counts":
        return { kind, counts: JSON.parse(rest) };
      case "tables":
        return { kind, tables: JSON.parse(rest) };
      case "error": {
        const m = /^(-?\d+) (\S+) (.*)$/.exec(rest);
        return {
          kind,
          error: m
            ? { code: Number(m[1]), sqlState: m[2]!, message: m[3]! }
            : { code: 0, sqlState: "", message: rest },
        };
      }
      default:
        throw new Error(`JDBC shell: unexpected answer ${line}`);
    }
  }

  /** Like run(), but anything other than `want` fails with the answer in the message. */
  async expect<K extends JdbcAnswer["kind"]>(
    command: string,
    want: K,
  ): Promise<Extract<JdbcAnswer, { kind: K }>> {
    const a = await this.run(command);
    if (a.kind !== want) throw new Error(`JDBC "${command}": expected ${want}, got ${JSON.stringify(a)}`);
    return a as Extract<JdbcAnswer, { kind: K }>;
  }

  stop(): void {
    this.child.stdin.end();
    setTimeout(() => this.child.kill("SIGKILL"), 2000).unref();
  }
}
