// Usage: PAIRGATE_CPQ_SIGNAL=SIGUSR2 PAIRGATE_BENCH_NODE_ARGS=--import=<abs path of this file> npm run bench:cpq -- ...
// Preload (--import): SIGUSR2 toggles V8's sampling heap profiler with objects collected by
// scavenges included (allocation per site, not what stays live); written as PID.N.heapprofile to $PAIRGATE_HEAP_DIR (default /tmp).

import { writeFileSync } from "node:fs";
import { Session } from "node:inspector";

const s = new Session();
s.connect();
let on = false;
let n = 0;
process.on("SIGUSR2", () => {
  if (!on) {
    on = true;
    s.post("HeapProfiler.startSampling", {
      samplingInterval: 128,
      includeObjectsCollectedByMajorGC: true,
      includeObjectsCollectedByMinorGC: true,
    });
  } else {
    on = false;
    s.post("HeapProfiler.stopSampling", (err, r) => {
      writeFileSync(
        `${process.env.PAIRGATE_HEAP_DIR ?? "/tmp"}/${process.pid}.${n++}.heapprofile`,
        JSON.stringify(err ? { err: String(err) } : r.profile),
      );
    });
  }
});
