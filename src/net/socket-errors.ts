/**
 * Every socket pairgate owns keeps one 'error' listener for its whole life (issue 20: a reset
 * arriving where no listener happened to be attached — between a backend login and the relay, or
 * between a client's TLS upgrade and its session — was an unhandled 'error' event, and the process
 * died with every session on it).
 *
 * The listener keeps the last error for the owner's messages; the owner learns of the loss from
 * 'close', which Node emits after every socket error. A TLSSocket that wraps a net.Socket is a
 * second emitter over the same connection: both get one.
 */
import type { Socket } from "node:net";

const lastErrors = new WeakMap<Socket, NodeJS.ErrnoException>();

function remember(this: Socket, e: NodeJS.ErrnoException): void {
  lastErrors.set(this, e);
}

/** Give `socket` (and the raw socket under it, if any) its lifelong error listener; idempotent. */
export function ownErrors(socket: Socket, under?: Socket | null): void {
  for (const s of under ? [socket, under] : [socket]) {
    if (!s.listeners("error").includes(remember)) s.on("error", remember);
  }
}

/** The last error `socket` reported, for a message ("ECONNRESET"), or null. */
export function lastSocketError(socket: Socket): NodeJS.ErrnoException | null {
  return lastErrors.get(socket) ?? null;
}
