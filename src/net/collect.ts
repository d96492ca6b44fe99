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
/** The waits before the later collections (see collectSoon). */
const FOLLOW_UPS_MS = [1500, 2500];

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

/**
 * Ask for a full collection soon, and two more later (coalesced; never more than one a second).
 * The later ones are for buffers still referenced at the first — a promise or a socket event that
 * settles after the close — which an idle proxy would otherwise keep until its next full
 * collection, minutes away (seen in some test runs: RSS +110 MiB 6 s after a 40 MB statement's
 * session closed, where other runs read +19 MiB).
 */
export function collectSoon(): void {
  if (timer) return;
  const wait = Math.max(0, last + MIN_INTERVAL_MS - Date.now()) + 100;
  collectAfter(wait, 0);
}

function collectAfter(wait: number, step: number): void {
  timer = setTimeout(() => {
    timer = null;
    last = Date.now();
    collector()?.();
    if (step < FOLLOW_UPS_MS.length) collectAfter(FOLLOW_UPS_MS[step]!, step + 1);
  }, wait);
  timer.unref();
}
