/**
 * Giving large garbage back promptly. A session that moved tens of MiB (a 40 MB statement, a
 * 300 MB result) leaves that much in read slabs and packet buffers: memory outside the JS heap,
 * freed only when the garbage collector finds their small JS handles dead — and an idle proxy
 * allocates too little on the JS heap for V8 to collect soon (issue 19: RSS stayed 110 MiB up after
 * a hostile session closed, until the next burst of traffic). So, when such a session closes, one
 * full collection is asked for: at most one a second, tens of ms with pairgate's small heap, off
 * the path of any command (a timer).
 */
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";

/** Bytes a session moves in its life that are worth a collection when it closes. */
export const COLLECT_AFTER_BYTES = 32 * 1024 * 1024;
const MIN_INTERVAL_MS = 1000;

let gc: (() => void) | null | undefined;
let timer: NodeJS.Timeout | null = null;
let last = 0;

function collector(): (() => void) | null {
  if (gc === undefined) {
    try {
      // The documented way to reach V8's collector without starting node with --expose-gc.
      setFlagsFromString("--expose-gc");
      gc = runInNewContext("gc") as () => void;
    } catch {
      gc = null;
    }
  }
  return gc;
}

/** Ask for a full collection soon (coalesced; never more than one a second). */
export function collectSoon(): void {
  if (timer) return;
  const wait = Math.max(0, last + MIN_INTERVAL_MS - Date.now()) + 100;
  timer = setTimeout(() => {
    timer = null;
    last = Date.now();
    collector()?.();
  }, wait);
  timer.unref();
}
