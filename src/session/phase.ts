/**
 * A session's phase: one tagged union and one transition function (the shape of the response
 * scanner's Phase). Every phase is a shared frozen constant: a transition allocates nothing.
 *
 *   login ──logged_in──▶ idle ──sent──▶ relaying ──done──▶ idle
 *                          │               │  ▲
 *                          │   infile_requested infile_sent
 *                          │               ▼  │
 *                          │             infile
 *                          └──wait_*──▶ waiting ──sent / done──▶ relaying / idle
 *   any ──closed──▶ closed (absorbing)
 *
 * `idle` is the only phase in which the command loop hands the next client command on.
 */

export type WaitReason = "backend" | "audit" | "change_user";

export type Phase =
  /** Before the login finished (the backend is being opened for the first time). */
  | { readonly tag: "login" }
  /** No command in flight: the next one may start. */
  | { readonly tag: "idle" }
  /** A command went to the backend; its response streams back. */
  | { readonly tag: "relaying" }
  /** The server asked for LOCAL INFILE data: the client's packets go to the backend as they come. */
  | { readonly tag: "infile" }
  /** Off-socket work for the current command: connecting/moving/retrying, an audit event, COM_CHANGE_USER. */
  | { readonly tag: "waiting"; readonly on: WaitReason }
  | { readonly tag: "closed" };

export type PhaseEvent =
  | "logged_in"
  | "sent"
  | "infile_requested"
  | "infile_sent"
  | "done"
  | "wait_backend"
  | "wait_audit"
  | "wait_change_user"
  | "closed";

export const LOGIN: Phase = Object.freeze({ tag: "login" });
export const IDLE: Phase = Object.freeze({ tag: "idle" });
export const RELAYING: Phase = Object.freeze({ tag: "relaying" });
export const INFILE: Phase = Object.freeze({ tag: "infile" });
export const CLOSED: Phase = Object.freeze({ tag: "closed" });
const WAITING_BACKEND: Phase = Object.freeze({ tag: "waiting", on: "backend" });
const WAITING_AUDIT: Phase = Object.freeze({ tag: "waiting", on: "audit" });
const WAITING_CHANGE_USER: Phase = Object.freeze({ tag: "waiting", on: "change_user" });

/** The phase after `e`, or null when `e` cannot happen in `p` (a bug: the session closes). */
export function nextPhase(p: Phase, e: PhaseEvent): Phase | null {
  if (p.tag === "closed" || e === "closed") return CLOSED;
  switch (e) {
    case "logged_in":
      return p.tag === "login" ? IDLE : null;
    case "sent":
      return p.tag === "idle" || p.tag === "waiting" ? RELAYING : null;
    case "infile_requested":
      return p.tag === "relaying" ? INFILE : null;
    case "infile_sent":
      return p.tag === "infile" ? RELAYING : null;
    case "done":
      return p.tag === "relaying" || p.tag === "infile" || p.tag === "waiting" ? IDLE : null;
    case "wait_backend":
      // From idle (connect, move, re-prepare), relaying/infile (the backend was lost: retry),
      // waiting (a verdict came, now connect).
      return p.tag === "login" ? null : WAITING_BACKEND;
    case "wait_audit":
      return p.tag === "idle" || p.tag === "relaying" ? WAITING_AUDIT : null;
    case "wait_change_user":
      return p.tag === "idle" ? WAITING_CHANGE_USER : null;
  }
}
