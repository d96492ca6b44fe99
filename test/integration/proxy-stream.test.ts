/**
 * Results stream through pairgate with its memory flat: a 400 MB result passes a pairgate *process*
 * (so its RSS can be read from /proc/<pid>/status) while the client consumes it as a stream; and a
 * client that stops reading for 2 s mid-result must not make pairgate buffer the result
 * (backpressure pauses the backend socket).
 */
import mysql from "mysql2";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePort } from "../helpers/ports.js";
import { type ProxyProcess, startProxyProcess } from "../helpers/proxy.js";

const ROW_BYTES = 1024 * 1024;
const ROWS = 400;
const BIG_RESULT = `SELECT REPEAT('x', ${ROW_BYTES}) AS r FROM seq_1_to_${ROWS}`;
/** Growth of pairgate's RSS over its warmed-up baseline that the test tolerates. */
const RSS_SLACK_KIB = 64 * 1024;

let pair: TestPair;
/** The pairgate process under test: a fresh one per test, so no test inherits another's heap. */
let proc: ProxyProcess;

test.before(async () => {
  pair = await startPair();
});

test.before.each(async () => {
  const port = await freePort();
  proc = await startProxyProcess(
    pair,
    pair.proxyConfig({ listen: { port }, audit: { journalDir: `${pair.dir}/audit-${port}` } }),
  );
});

test.after.each(async () => {
  const exit = proc.exit();
  await proc.stop();
  assert.is(exit, null, `pairgate exited during the test:\n${proc.output()}`);
});

test.after(async () => {
  await pair?.stop();
});

/** Samples pairgate's VmRSS every 100 ms until stopped. */
function sampleRss(p: ProxyProcess) {
  const samples: number[] = [p.rssKiB()];
  const timer = setInterval(() => samples.push(p.rssKiB()), 100);
  return {
    samples,
    peak: () => Math.max(...samples),
    stop: () => {
      clearInterval(timer);
      samples.push(p.rssKiB());
    },
  };
}

function connect(): mysql.Connection {
  return mysql.createConnection({
    host: "127.0.0.1",
    port: proc.port,
    user: pair.appUser.username,
    password: pair.appUser.password,
    database: "passtrix",
    rowsAsArray: true,
  });
}

/** Warm pairgate up (code paths compiled, buffers pooled) with a small streamed result; its RSS after. */
async function warmBaseline(): Promise<number> {
  const c = connect();
  await new Promise<void>((resolve, reject) => {
    c.query(`SELECT REPEAT('w', ${ROW_BYTES}) FROM seq_1_to_16`)
      .stream()
      .on("data", () => {})
      .on("end", resolve)
      .on("error", reject);
  });
  await c.promise().end();
  await new Promise((r) => setTimeout(r, 300));
  return proc.rssKiB();
}

interface StreamRun {
  rows: number;
  bytes: number;
  ms: number;
}

/** Stream BIG_RESULT; `onRow` may pause the stream (it gets the row number and the stream). */
function streamBig(
  c: mysql.Connection,
  onRow?: (n: number, s: NodeJS.ReadableStream) => void,
): Promise<StreamRun> {
  const t0 = Date.now();
  return new Promise((resolve, reject) => {
    let rows = 0;
    let bytes = 0;
    const s = c.query(BIG_RESULT).stream({ highWaterMark: 4 });
    s.on("data", (row: unknown[]) => {
      const v = row[0] as string | Buffer;
      bytes += typeof v === "string" ? Buffer.byteLength(v) : v.length;
      if (v[0] !== "x" && v[0] !== 0x78) reject(new Error(`row ${rows} has the wrong contents`));
      rows++;
      onRow?.(rows, s);
    });
    s.on("end", () => resolve({ rows, bytes, ms: Date.now() - t0 }));
    s.on("error", reject);
  });
}

test(`a ${(ROWS * ROW_BYTES) / 1e6} MB result streams through pairgate with its RSS flat`, async () => {
  const start = await warmBaseline();
  const c = connect();
  const rss = sampleRss(proc);
  try {
    const run = await streamBig(c);
    rss.stop();
    assert.is(run.rows, ROWS);
    assert.is(run.bytes, ROWS * ROW_BYTES, "every byte arrived");
    const grew = rss.peak() - start;
    process.stdout.write(
      `\n  stream: ${run.bytes / 1e6} MB in ${run.ms} ms; pairgate RSS ${start} KiB → peak ${rss.peak()} KiB (+${grew} KiB), ${rss.samples.length} samples\n`,
    );
    assert.ok(rss.samples.length >= 5, "RSS was sampled during the stream");
    assert.ok(
      grew < RSS_SLACK_KIB,
      `pairgate's RSS grew by ${grew} KiB while ${run.bytes} bytes passed (bound ${RSS_SLACK_KIB} KiB)`,
    );
    // The session is still usable after the big result.
    const [rows] = await c.promise().query("SELECT 'after' AS s");
    assert.equal(rows, [["after"]]);
  } finally {
    rss.stop();
    await c.promise().end();
  }
});

test("a client that stops reading for 2 s mid-result: the backend is paused, pairgate does not buffer the result", async () => {
  const start = await warmBaseline();
  const c = connect();
  const rss = sampleRss(proc);
  let pausedAt = 0;
  let pauseSamples: number[] = [];
  try {
    const run = await streamBig(c, (n, s) => {
      if (n !== 50) return;
      s.pause();
      rss.samples.push(proc.rssKiB());
      pausedAt = rss.samples.length - 1;
      setTimeout(() => {
        // The sample that matters most is the last one: without backpressure, the rest of the
        // result would be inside pairgate by now.
        rss.samples.push(proc.rssKiB());
        pauseSamples = rss.samples.slice(pausedAt);
        s.resume();
      }, 2000);
    });
    rss.stop();
    assert.is(run.rows, ROWS);
    assert.is(run.bytes, ROWS * ROW_BYTES);
    assert.ok(run.ms >= 2000, "the client really paused");
    // On a loaded machine the 100 ms sampler may be starved; the first and last samples are enough.
    assert.ok(pauseSamples.length >= 2, `RSS sampled during the pause (${pauseSamples.length} samples)`);
    const grewDuringPause = Math.max(...pauseSamples) - start;
    const grewWhilePaused = Math.max(...pauseSamples) - pauseSamples[0];
    const grew = rss.peak() - start;
    process.stdout.write(
      `\n  slow client: ${run.ms} ms; pairgate RSS ${start} KiB, during the 2 s pause at most +${grewDuringPause} KiB, peak +${grew} KiB\n`,
    );
    assert.ok(
      grewDuringPause < RSS_SLACK_KIB,
      `pairgate's RSS grew by ${grewDuringPause} KiB while the client was paused (the rest of the result is ${((ROWS - 50) * ROW_BYTES) / 1024} KiB)`,
    );
    assert.ok(
      grewWhilePaused < RSS_SLACK_KIB / 2,
      `pairgate's RSS grew by ${grewWhilePaused} KiB from the start of the pause to its end`,
    );
    assert.ok(grew < RSS_SLACK_KIB, `pairgate's RSS grew by ${grew} KiB over the whole run`);
  } finally {
    rss.stop();
    await c.promise().end();
  }
});

test("while one client is paused mid-result, another session on the same pairgate is served", async () => {
  const slow = connect();
  const fast = connect().promise();
  try {
    let resumeSlow: () => void = () => {};
    let onPaused: () => void = () => {};
    const paused = new Promise<void>((r) => {
      onPaused = r;
    });
    const slowDone = streamBig(slow, (n, s) => {
      if (n === 10) {
        s.pause();
        resumeSlow = () => s.resume();
        onPaused();
      }
    });
    await paused;
    await new Promise((r) => setTimeout(r, 300));
    const t0 = Date.now();
    for (let i = 0; i < 20; i++) {
      const [rows] = await fast.query("SELECT ? AS i", [i]);
      assert.equal(rows, [[i]]);
    }
    assert.ok(Date.now() - t0 < 5000, "the other session was not held up");
    resumeSlow();
    const run = await slowDone;
    assert.is(run.rows, ROWS);
  } finally {
    await fast.end();
    await slow.promise().end();
  }
});

test.run();
