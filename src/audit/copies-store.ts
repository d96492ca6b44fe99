/**
 * The copies of audited data made through pairgate (AuditedNames.copies), kept in a file of the
 * state folder so that a restart still audits them: `INSERT INTO other SELECT secret FROM …` made
 * `other` audited, and the rows are still there after pairgate restarts.
 *
 * Written off the statement path: a change schedules one write (temporary file, fsync, rename,
 * fsync of the folder) a moment later; writes never overlap. A file that cannot be read is
 * reported and ignored.
 */
import { readFileSync } from "node:fs";
import { mkdir, open, rename } from "node:fs/promises";
import { dirname } from "node:path";
import type { Logger } from "pino";
import type { AuditedName } from "./presence.js";

export const COPIES_FILE = "audit-copies.json";
/** A change is written this long after it (changes meanwhile go in the same write). */
const WRITE_DELAY_MS = 50;

export class CopiesStore {
  readonly #file: string;
  readonly #log: Logger | undefined;
  #timer: NodeJS.Timeout | null = null;
  #writing: Promise<void> = Promise.resolve();
  #latest: readonly AuditedName[] = [];

  constructor(file: string, logger?: Logger) {
    this.#file = file;
    this.#log = logger;
  }

  /** The copies saved last time (none if there is no file or it cannot be read). */
  load(): AuditedName[] {
    let text: string;
    try {
      text = readFileSync(this.#file, "utf8");
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "ENOENT")
        this.#log?.warn({ file: this.#file, err: (e as Error).message }, "audit copies: cannot read");
      return [];
    }
    try {
      const list = JSON.parse(text) as unknown;
      if (!Array.isArray(list)) throw new Error("not a list");
      return list
        .filter(
          (n): n is AuditedName =>
            typeof n === "object" &&
            n !== null &&
            typeof n.name === "string" &&
            (n.schema === null || typeof n.schema === "string") &&
            typeof n.rule === "number",
        )
        .map((n) => ({ schema: n.schema, name: n.name, rule: n.rule, via: String(n.via ?? "a copy") }));
    } catch (e) {
      this.#log?.warn(
        { file: this.#file, err: (e as Error).message },
        "audit copies: file unreadable, ignored",
      );
      return [];
    }
  }

  /** Save `copies` soon. */
  save(copies: readonly AuditedName[]): void {
    this.#latest = copies;
    if (this.#timer !== null) return;
    this.#timer = setTimeout(() => {
      this.#timer = null;
      const list = [...this.#latest];
      this.#writing = this.#writing.then(() =>
        this.#write(list).catch((e: Error) =>
          this.#log?.warn({ file: this.#file, err: e.message }, "audit copies: cannot save"),
        ),
      );
    }, WRITE_DELAY_MS);
    this.#timer.unref();
  }

  /** Resolves when what was saved so far is on disk (tests, shutdown). */
  async flush(): Promise<void> {
    if (this.#timer !== null) {
      clearTimeout(this.#timer);
      this.#timer = null;
      const list = [...this.#latest];
      this.#writing = this.#writing.then(() => this.#write(list));
    }
    await this.#writing;
  }

  async #write(list: AuditedName[]): Promise<void> {
    const dir = dirname(this.#file);
    await mkdir(dir, { recursive: true });
    const tmp = `${this.#file}.${process.pid}.tmp`;
    const fh = await open(tmp, "w", 0o600);
    try {
      await fh.writeFile(`${JSON.stringify(list)}\n`);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, this.#file);
    const d = await open(dir, "r");
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}
