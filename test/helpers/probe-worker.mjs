// The well-behaved client of test/helpers/hostile.ts, on its own thread: `SELECT 1` through
// pairgate every few ms, so that its latency is pairgate's and not the test process's (which runs
// the hostile client on its main thread). Plain JavaScript: a worker does not go through tsx.
import { parentPort, workerData } from "node:worker_threads";
import mysql from "mysql2/promise";

const { port, user, password, intervalMs, adminPort } = workerData;
const conn = await mysql.createConnection({ host: "127.0.0.1", port, user, password, database: "passtrix" });
await conn.query("SELECT 1");
const samples = [];
let running = true;
let inflightSince = 0;
// pairgate's own /status, polled from this thread too (the test's main thread is busy building the
// hostile input): its slowest answer and every mode it reported (a false failover shows as read_only).
const status = { maxMs: 0, modes: new Set(), since: 0 };
if (adminPort) {
  void (async () => {
    while (running) {
      status.since = performance.now();
      try {
        const r = await fetch(`http://127.0.0.1:${adminPort}/status`);
        const doc = await r.json();
        if (doc.mode) status.modes.add(doc.mode);
      } catch {
        status.modes.add("unreachable");
      }
      status.maxMs = Math.max(status.maxMs, performance.now() - status.since);
      status.since = 0;
      await new Promise((r) => setTimeout(r, 25));
    }
  })();
}
parentPort.on("message", (m) => {
  if (m !== "stop") return;
  running = false;
  const pending = inflightSince > 0 ? performance.now() - inflightSince : 0;
  if (pending > 0) samples.push(pending);
  if (status.since > 0) status.maxMs = Math.max(status.maxMs, performance.now() - status.since);
  parentPort.postMessage({ samples, statusMaxMs: status.maxMs, statusModes: [...status.modes] });
  conn.destroy();
});
parentPort.postMessage("ready");
while (running) {
  inflightSince = performance.now();
  try {
    await conn.query("SELECT 1");
  } catch {
    break;
  }
  if (!running) break;
  samples.push(performance.now() - inflightSince);
  inflightSince = 0;
  await new Promise((r) => setTimeout(r, intervalMs));
}
