/**
 * pairgate's log lines in tests: kept, not printed, unless a test fails.
 *
 * A pairgate a test starts in this process (startProxy) logs through `testLogger()`, whose lines
 * go into a buffer here instead of to the runner's stdout, where they broke uvu's row of dots on
 * every passing run. A pairgate run as a child (startProxyProcess) already has its output piped;
 * `keepOutput()` adds it to the same buffer. When this process exits with a failure (uvu sets
 * `process.exitCode = 1` once any test failed; a crash or "Exiting early" exits non-zero too) the
 * buffered lines are written to stderr, one block per pairgate, labelled with the test file that
 * started it and its port; on success they are dropped. uvu gives a hook no word of which test
 * failed, so the blocks are per pairgate, not per test; the lines carry their own times.
 *
 * Bounded: each pairgate keeps its last MAX_BYTES, and says how much it dropped.
 * `PAIRGATE_TEST_LOG=<level>` sets the level (default warn, as before);
 * `PAIRGATE_TEST_LOG_LIVE=1` prints the lines as they come instead (debugging one test).
 */
import { writeSync } from "node:fs";
import type { Logger } from "../../src/observability/logger.js";
import { createLogger } from "../../src/observability/logger.js";

const MAX_BYTES = 1 << 20;
const LIVE = process.env.PAIRGATE_TEST_LOG_LIVE === "1";

/** The lines of one pairgate. */
export class LogSource {
  private chunks: string[] = [];
  private bytes = 0;
  private dropped = 0;
  label: string;

  constructor(label: string) {
    this.label = label;
  }

  write(text: string): void {
    if (LIVE) {
      process.stderr.write(text);
      return;
    }
    this.chunks.push(text);
    this.bytes += text.length;
    if (this.bytes > MAX_BYTES) {
      // Drop the oldest quarter at once, not one chunk per write.
      let cut = 0;
      let n = 0;
      while (n < this.chunks.length && cut < MAX_BYTES / 4) cut += this.chunks[n++].length;
      this.chunks.splice(0, n);
      this.bytes -= cut;
      this.dropped += cut;
    }
  }

  text(): string {
    return this.chunks.join("");
  }

  /** The block written for a failed run; "" if the pairgate wrote nothing. */
  block(): string {
    if (this.bytes === 0) return "";
    const note = this.dropped > 0 ? ` (the first ${this.dropped} characters dropped)` : "";
    const body = this.text();
    return `--- pairgate log: ${this.label}${note}\n${body}${body.endsWith("\n") ? "" : "\n"}`;
  }
}

const sources: LogSource[] = [];

/** The test file (and line) that called into the helper that calls this, for the block's label. */
function caller(): string {
  const m = /(test\/(?:integration|unit)\/[^\s:)]+:\d+)/.exec(new Error().stack ?? "");
  return m?.[1] ?? "(unknown test file)";
}

/** A new buffer for one pairgate's output, dumped if the run fails. */
export function keepOutput(what: string): LogSource {
  const s = new LogSource(`${what}, started from ${caller()}`);
  sources.push(s);
  return s;
}

/** A JSON logger (pairgate's own format) whose lines go to a kept buffer; `source.label` can be
 * completed once the port is known. */
export function testLogger(what: string): { logger: Logger; source: LogSource } {
  const source = keepOutput(what);
  const logger = createLogger(process.env.PAIRGATE_TEST_LOG ?? "warn", "json", false, {
    write: (s: string) => source.write(s),
  });
  return { logger, source };
}

process.on("exit", (code) => {
  if (code === 0 && !process.exitCode) return;
  const blocks = sources.map((s) => s.block()).filter((b) => b.length > 0);
  if (blocks.length === 0) return;
  // Only synchronous writes reach the terminal from an exit handler.
  writeSync(2, `\npairgate logs of this run (kept because a test failed):\n${blocks.join("")}\n`);
});
