// The well-behaved client of test/helpers/hostile.ts, on its own thread: `SELECT 1` through
// pairgate every few ms, so that its latency is pairgate's and not the test process's (which runs
// the hostile client on its main thread). Plain JavaScript: a worker does not go through tsx.
import { parentPort, workerData } from "node:worker_threads";
import mysql from "mysql2/promise";

const { port, user, password, intervalMs } = workerData;
const conn = await mysql.createConnection({ host: "127.0.0.1", port, user, password, database: "passtrix" });
await conn.query("SELECT 1");
const samples = [];
let running = true;
let inflightSince = 0;
parentPort.on("message", (m) => {
  if (m !== "stop") return;
  running = false;
  const pending = inflightSince > 0 ? performance.now() - inflightSince : 0;
  if (pending > 0) samples.push(pending);
  parentPort.postMessage({ samples });
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
