/**
 * The promises `Topology` hands out to those who wait for it: the first checks done, the primary's
 * verdict, a mode. Each settles once and leaves no listener or timer behind.
 */
import type { EventEmitter } from "node:events";
import type { TopologyEvents } from "./options.js";
import type { Mode, Transition } from "./types.js";

/** Waiters for the first checks of both backends. */
export class ReadyGate {
  private waiters: Array<() => void> = [];

  /** Resolves at `open()`; rejects after `timeoutMs`. */
  wait(timeoutMs: number): Promise<void> {
    return new Promise((resolvePromise, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== done);
        reject(new Error(`topology: no first check of both backends within ${timeoutMs} ms`));
      }, timeoutMs);
      const done = () => {
        clearTimeout(timer);
        resolvePromise();
      };
      this.waiters.push(done);
    });
  }

  open(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}

/** What the waits listen to: the Topology's events. */
type Emitter = EventEmitter<TopologyEvents>;

/** Resolves at the first transition or check after which `suspect()` is false, or after `timeoutMs`. */
export function untilNotSuspect(em: Emitter, suspect: () => boolean, timeoutMs: number): Promise<void> {
  if (!suspect()) return Promise.resolve();
  return new Promise((resolvePromise) => {
    const done = () => {
      clearTimeout(timer);
      em.off("transition", done);
      em.off("check", onCheck);
      resolvePromise();
    };
    const onCheck = () => {
      if (!suspect()) done();
    };
    const timer = setTimeout(done, timeoutMs);
    em.on("transition", done);
    em.on("check", onCheck);
  });
}

/** Resolves when the mode is (or becomes) `mode`; rejects after `timeoutMs`. */
export function untilMode(em: Emitter, current: () => Mode, mode: Mode, timeoutMs: number): Promise<void> {
  if (current() === mode) return Promise.resolve();
  return new Promise((resolvePromise, reject) => {
    const onTransition = (t: Transition) => {
      if (t.to !== mode) return;
      clearTimeout(timer);
      em.off("transition", onTransition);
      resolvePromise();
    };
    const timer = setTimeout(() => {
      em.off("transition", onTransition);
      reject(new Error(`topology: mode is ${current()}, not ${mode}, after ${timeoutMs} ms`));
    }, timeoutMs);
    em.on("transition", onTransition);
  });
}
