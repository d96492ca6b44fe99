/**
 * The client-facing TCP listener: accepts, enforces `maxConnections` (ERR 1040) and the handshake
 * timeout, runs the login (handshake.ts) and hands authenticated clients on. Knows nothing of backends.
 */
import { createServer, type Server, type Socket } from "node:net";
import type { SecureContext } from "node:tls";
import type { AccountStore } from "../accounts/store.js";
import { ownErrors } from "../net/socket-errors.js";
import type { Logger } from "../observability/logger.js";
import { ER_CON_COUNT_ERROR, ER_HANDSHAKE_ERROR, ER_HOST_IS_BLOCKED } from "../protocol/constants.js";
import { encodeErr } from "../protocol/messages.js";
import { framePayload } from "../protocol/packet.js";
import { type AuthenticatedClient, authenticateClient, HandshakeError } from "./handshake.js";
import { LoginThrottle, type LoginThrottleConfig } from "./throttle.js";

export interface ListenerOptions {
  host: string;
  port: number;
  logger: Logger;
  maxConnections(): number;
  handshakeTimeoutMs(): number;
  users(): ReadonlyMap<string, string>;
  /** The accounts read from the servers (users not in `users`); absent or null when off. */
  accounts?(): AccountStore | null;
  tls(): { context: SecureContext; require: boolean } | null;
  serverVersion(): string;
  /** The serving backend's greeting (collation, status flags, capabilities), or null when unknown. */
  backendGreeting?(): {
    collation: number;
    statusFlags: number;
    capabilities: number;
    mariadbCapabilities: number;
  } | null;
  authPlugin(): "mysql_native_password" | "caching_sha2_password";
  /** Users that completed a caching_sha2_password full authentication (shared with COM_CHANGE_USER). */
  sha2Cache: Set<string>;
  /** Called with each authenticated client; returns when the session is done with the login phase. */
  onClient(client: AuthenticatedClient, connectionId: number, plain: Socket): void;
  onAuthFailure(username: string | null, address: string, reason: string): void;
  /** `listen.loginThrottle`, read at each failure and connection. */
  loginThrottle(): LoginThrottleConfig;
  /**
   * A failure just blocked `user` at `address` (loginThrottle.maxFailures), or with `user` null the
   * address for its untrusted users (loginThrottle.addressMaxFailures).
   */
  onAddressBlocked?(address: string, blockMs: number, user: string | null): void;
  /** A connection from a blocked address was refused with ERR 1129. */
  onThrottled?(address: string): void;
  /** Live client count changed (accepted or closed), for metrics. */
  onCount(delta: number): void;
}

export class ClientListener {
  private server: Server;
  private sockets = new Set<Socket>();
  private nextConnectionId = 1;
  private accepting = true;
  readonly throttle: LoginThrottle;

  constructor(private opts: ListenerOptions) {
    this.throttle = new LoginThrottle(() => opts.loginThrottle());
    this.server = createServer({ noDelay: true }, (s) => this.accept(s));
  }

  listen(): Promise<{ host: string; port: number }> {
    return listenOn(this.server, this.opts.host, this.opts.port);
  }

  /**
   * Move to a new address (a config reload changed `listen`): listen there first, then stop
   * accepting on the old one. Sessions accepted before keep running and still count against
   * maxConnections. Rejects, changing nothing, when the new address cannot be bound.
   */
  async rebind(host: string, port: number): Promise<{ host: string; port: number }> {
    const next = createServer({ noDelay: true }, (s) => this.accept(s));
    const address = await listenOn(next, host, port);
    const old = this.server;
    this.server = next;
    old.close();
    if (!this.accepting) next.close();
    return address;
  }

  /** Stop accepting new clients; existing ones continue. */
  stopAccepting(): void {
    // close() stops accepting at once; its callback would wait for every open connection, which
    // the caller drains next — so it is not awaited.
    this.accepting = false;
    this.server.close();
  }

  /** Forget cached caching_sha2 logins (users changed on reload). */
  clearAuthCache(): void {
    this.opts.sha2Cache.clear();
  }

  private accept(socket: Socket): void {
    const address = socket.remoteAddress?.replace(/^::ffff:/, "") ?? "unknown";
    ownErrors(socket); // errors surface as 'close'; a reset client must not crash us
    if (!this.accepting) {
      socket.destroy();
      return;
    }
    const blockedMs = this.throttle.blockedFor(address);
    if (blockedMs > 0) {
      // Before the greeting, as the server does: no scramble, no handshake work, no session.
      this.opts.onThrottled?.(address);
      socket.end(
        framePayload(
          encodeErr({
            code: ER_HOST_IS_BLOCKED,
            sqlState: "HY000",
            message: `Host '${address}' is blocked because of many failed logins; pairgate accepts it again in ${Math.ceil(blockedMs / 1000)} s (listen.loginThrottle)`,
          }),
          0,
        ),
      );
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    if (this.sockets.size >= this.opts.maxConnections()) {
      socket.end(
        framePayload(
          encodeErr({
            code: ER_CON_COUNT_ERROR,
            sqlState: "08004",
            message: `Too many connections: pairgate allows ${this.opts.maxConnections()} client sessions (maxConnections); try again later`,
          }),
          0,
        ),
      );
      setTimeout(() => socket.destroy(), 1000).unref();
      return;
    }
    this.sockets.add(socket);
    this.opts.onCount(1);
    socket.once("close", () => {
      this.sockets.delete(socket);
      this.opts.onCount(-1);
    });
    const connectionId = this.nextConnectionId++;
    const timeoutMs = this.opts.handshakeTimeoutMs();
    const timer = setTimeout(() => {
      if (!socket.destroyed) {
        socket.end(
          framePayload(
            encodeErr({
              code: ER_HANDSHAKE_ERROR,
              sqlState: "08S01",
              message: `Bad handshake: login not completed within ${timeoutMs} ms`,
            }),
            2,
          ),
        );
        setTimeout(() => socket.destroy(), 500).unref();
      }
    }, timeoutMs);
    authenticateClient(socket, {
      serverVersion: this.opts.serverVersion(),
      connectionId,
      users: this.opts.users(),
      accounts: this.opts.accounts?.() ?? null,
      tls: this.opts.tls(),
      sha2Cache: this.opts.sha2Cache,
      authPlugin: this.opts.authPlugin(),
      blockedUser: (username) => {
        const ms = this.throttle.blockedUserFor(address, username);
        if (ms === 0) return null;
        this.opts.onThrottled?.(address);
        return `Host '${address}' is blocked for this user because of many failed logins; pairgate accepts it again in ${Math.ceil(ms / 1000)} s (listen.loginThrottle)`;
      },
      backend: this.opts.backendGreeting?.() ?? null,
    }).then(
      (client) => {
        clearTimeout(timer);
        this.throttle.success(address, client.username);
        this.opts.onClient(client, connectionId, socket);
      },
      (e: Error) => {
        clearTimeout(timer);
        const reason = e instanceof HandshakeError ? e.code : "PAIRGATE_HANDSHAKE";
        if (e instanceof HandshakeError && e.code === "PAIRGATE_AUTH_DENIED") {
          this.opts.onAuthFailure(e.username, address, e.message);
          const blocked = this.throttle.failure(address, e.username);
          if (blocked !== null)
            this.opts.onAddressBlocked?.(
              address,
              this.opts.loginThrottle().blockMs,
              blocked === "user" ? e.username : null,
            );
        } else this.opts.logger.debug({ client: address, reason, err: e.message }, "login failed");
        if (!socket.destroyed) {
          socket.end();
          setTimeout(() => socket.destroy(), 500).unref();
        }
      },
    );
  }

  /** Close every client now (shutdown deadline passed). */
  destroyAll(): void {
    for (const s of this.sockets) s.destroy();
  }
}

function listenOn(server: Server, host: string, port: number): Promise<{ host: string; port: number }> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port, backlog: 1024 }, () => {
      server.off("error", reject);
      const a = server.address();
      resolve(typeof a === "object" && a ? { host: a.address, port: a.port } : { host, port });
    });
  });
}
