/**
 * Deadlines that pairgate's own load cannot fake. A timer measures wall time, but an answer can
 * only be observed while this thread's event loop runs: a big statement framed on the main thread
 * can block it for longer than a check's timeout, the server's answer waits in the socket buffer,
 * and when the loop resumes the timers phase runs before the poll phase — the timeout fires first
 * and a live server looks dead (issue 20: three false failovers in an afternoon).
 *
 * So a deadline counts only the time in which the loop could have seen the answer: while a deadline
 * is pending, a ticker measures the loop's stalls; a deadline that expires with stalled time in its
 * window is extended by that time (and by at least a short grace, for the round trips our side
 * could not make), up to MAX_EXTENSIONS times — a loop blocked without end still lets a silent
 * server be declared down, later.
 */
const TICK_MS = 20;
/** A tick later than this is a stall (a loaded 2-core host delays timers by a few ms routinely). */
const STALL_MIN_MS = 40;
/** How many times one deadline may be extended (a backstop timer elsewhere must leave room for them). */
export const MAX_EXTENSIONS = 5;
const GRACE_MAX_MS = 250;

let stalledTotalMs = 0;
let pendingDeadlines = 0;
let ticker: NodeJS.Timeout | null = null;
let lastTick = 0;

function tick(): void {
  const now = Date.now();
  const gap = now - lastTick - TICK_MS;
  if (gap > STALL_MIN_MS) stalledTotalMs += gap;
  lastTick = now;
}

/** Stalled milliseconds so far (for a window: the difference of two readings). */
function stalledNow(): number {
  // A stall still going on when the reading is taken (the ticker has not run since) counts too.
  const gap = Date.now() - lastTick - TICK_MS;
  return stalledTotalMs + (ticker && gap > STALL_MIN_MS ? gap : 0);
}

function holdTicker(): void {
  if (pendingDeadlines++ === 0) {
    lastTick = Date.now();
    ticker = setInterval(tick, TICK_MS);
    ticker.unref();
  }
}

function releaseTicker(): void {
  if (--pendingDeadlines === 0 && ticker) {
    clearInterval(ticker);
    ticker = null;
  }
}

export interface Deadline {
  /** Cancel (the answer came); idempotent. */
  clear(): void;
}

/** Calls `expire` once `ms` of time in which the loop ran have passed (see above). */
export function loopAwareDeadline(ms: number, expire: () => void): Deadline {
  holdTicker();
  let armedAt = Date.now();
  let stalledAtArm = stalledNow();
  let extensions = 0;
  let done = false;
  let timer: NodeJS.Timeout;
  const finish = () => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    releaseTicker();
  };
  const fire = () => {
    if (done) return;
    const now = Date.now();
    // The ticker may not have run since the stall ended: the timer's own lateness counts too.
    const stalled = Math.max(stalledNow() - stalledAtArm, now - armedAt - ms);
    if (stalled > STALL_MIN_MS && extensions < MAX_EXTENSIONS) {
      extensions++;
      const ran = now - armedAt - stalled;
      const rest = Math.max(ms - ran, Math.min(ms, GRACE_MAX_MS));
      // The new window starts now; what the loop already ran counts against it.
      armedAt = now - (ms - rest);
      stalledAtArm = stalledNow();
      timer = setTimeout(fire, rest);
      return;
    }
    finish();
    expire();
  };
  timer = setTimeout(fire, ms);
  return { clear: finish };
}
