/**
 * The connection phase with a client, pairgate playing the server:
 * HandshakeV10 → [SSLRequest → TLS] → HandshakeResponse41 → authentication (with auth switch).
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase.html
 *
 * Passwords are checked here (authenticate.ts: the config's users, else the accounts read from the
 * servers); the backend login happens afterwards as the same user with the credential that check
 * yielded (see backend/connection.ts).
 */
import type { Socket } from "node:net";
import { type SecureContext, TLSSocket } from "node:tls";
import type { AccountStore } from "../accounts/store.js";
import { ownErrors } from "../net/socket-errors.js";
import {
  type CACHING_SHA2_PASSWORD,
  type Credential,
  NATIVE_PASSWORD,
  newScramble,
} from "../protocol/auth.js";
import {
  CLIENT_LONG_PASSWORD,
  CLIENT_PLUGIN_AUTH,
  CLIENT_SESSION_TRACK,
  CLIENT_SSL,
  DEFAULT_COLLATION_ID,
  ER_HANDSHAKE_ERROR,
  ER_HOST_IS_BLOCKED,
  ER_NET_PACKETS_OUT_OF_ORDER,
  ER_SECURE_TRANSPORT_REQUIRED,
  PASSED_MARIADB_CAPABILITIES,
  PROXY_CAPABILITIES,
  SERVER_STATUS_AUTOCOMMIT,
} from "../protocol/constants.js";
import { PairgateError } from "../protocol/errors.js";
import type { Packet } from "../protocol/framer.js";
import {
  decodeHandshakeResponse,
  encodeErr,
  encodeHandshakeV10,
  type HandshakeResponse,
  isSslRequest,
} from "../protocol/messages.js";
import { framePayload, ProtocolError } from "../protocol/packet.js";
import { PacketQueue } from "../protocol/packet-queue.js";
import { authenticate } from "./authenticate.js";

export interface FrontendAuthOptions {
  serverVersion: string;
  connectionId: number;
  /** Users and their passwords, from the config. */
  users: ReadonlyMap<string, string>;
  /** The accounts read from the servers (users not in `users`); null when off. */
  accounts: AccountStore | null;
  tls: { context: SecureContext; require: boolean } | null;
  /** Users that completed a caching_sha2_password full authentication (the server's "cache"). */
  sha2Cache: Set<string>;
  /** The plugin announced in the handshake. */
  authPlugin: typeof NATIVE_PASSWORD | typeof CACHING_SHA2_PASSWORD;
  /** Login throttling: a message when `username` may not try from this address now (ERR 1129), else null. */
  blockedUser?(username: string): string | null;
  /**
   * What the serving backend's own greeting announced (null before pairgate's first login to it):
   * its collation and status flags are repeated as they are — connectors trust the greeting's
   * collation and skip their SET NAMES when it matches — and CLIENT_SESSION_TRACK is offered when
   * the backend offers it.
   */
  backend?: {
    collation: number;
    statusFlags: number;
    capabilities: number;
    mariadbCapabilities?: number;
  } | null;
}

export interface AuthenticatedClient {
  socket: Socket;
  response: HandshakeResponse;
  /** Capabilities both sides agreed on. */
  capabilities: number;
  username: string;
  /** The password (a config user) or SHA1(password) (an account read from the servers). */
  password: Credential;
  /** Sequence id for the packet that ends the connection phase (OK or ERR). */
  nextSeq: number;
  tls: boolean;
  /** The greeting's scramble: COM_CHANGE_USER answers are checked against it, as the server does. */
  scramble: Buffer;
  /** MariaDB extended capabilities agreed on (bulk execute, extended metadata), 0 for other clients. */
  mariadbCapabilities: number;
}

/** Login refused or malformed: `errPacket` has already been sent (or the socket is gone). */
type HandshakeErrorCode = "PAIRGATE_AUTH_DENIED" | "PAIRGATE_HANDSHAKE" | "PAIRGATE_TLS_REQUIRED";

export class HandshakeError extends PairgateError {
  declare readonly code: HandshakeErrorCode;
  constructor(
    message: string,
    code: HandshakeErrorCode,
    readonly username: string | null,
  ) {
    super(code, message);
  }
}

const MAX_LOGIN_PACKET = 64 * 1024;

export async function authenticateClient(
  plain: Socket,
  opts: FrontendAuthOptions,
): Promise<AuthenticatedClient> {
  let socket: Socket = plain;
  const queue = new PacketQueue(MAX_LOGIN_PACKET);
  // The first packet is kept raw until it is whole: when it is an SSLRequest, the bytes after it
  // (often in the same chunk) are the client's TLS hello, which belongs to the TLS socket, not to
  // the packet framer (it would read "16 03 01" as a 64 KiB packet length and fail the login).
  let firstBytes: Buffer | null = Buffer.alloc(0);
  let tlsBytes: Buffer | null = null;
  const onData = (c: Buffer) => {
    if (tlsBytes) {
      tlsBytes = Buffer.concat([tlsBytes, c]);
      return;
    }
    if (!firstBytes) {
      queue.push(c);
      return;
    }
    const b = firstBytes.length > 0 ? Buffer.concat([firstBytes, c]) : c;
    const len = b.length >= 4 ? b.readUIntLE(0, 3) : -1;
    if (len < 0 || (b.length < 4 + len && len <= MAX_LOGIN_PACKET)) {
      firstBytes = b;
      return;
    }
    firstBytes = null;
    if (len === 32 && isSslRequest(b.subarray(4, 36))) {
      tlsBytes = b.subarray(36);
      queue.push(b.subarray(0, 36));
      return;
    }
    queue.push(b);
  };
  const onEnd = () =>
    queue.fail(new HandshakeError("client closed the connection during login", "PAIRGATE_HANDSHAKE", null));
  const listen = (s: Socket) => {
    s.on("data", onData);
    s.on("end", onEnd);
    s.on("close", onEnd);
  };
  const unlisten = (s: Socket) => {
    s.off("data", onData);
    s.off("end", onEnd);
    s.off("close", onEnd);
  };
  listen(socket);
  const scramble = newScramble();
  const backend = opts.backend ?? null;
  // A MariaDB backend clears bit 0 (CLIENT_MYSQL) and announces extended capabilities in the
  // reserved bytes: pairgate does the same with those it relays (bulk execute, extended metadata).
  const mariadb = backend !== null && !(backend.capabilities & CLIENT_LONG_PASSWORD);
  const offeredMariadb = mariadb ? (backend.mariadbCapabilities ?? 0) & PASSED_MARIADB_CAPABILITIES : 0;
  const offered =
    ((PROXY_CAPABILITIES |
      (opts.tls ? CLIENT_SSL : 0) |
      ((backend?.capabilities ?? 0) & CLIENT_SESSION_TRACK)) &
      ~(mariadb ? CLIENT_LONG_PASSWORD : 0)) >>>
    0;
  socket.write(
    framePayload(
      encodeHandshakeV10({
        protocolVersion: 10,
        serverVersion: opts.serverVersion,
        connectionId: opts.connectionId,
        scramble,
        capabilities: offered,
        collation: backend?.collation || DEFAULT_COLLATION_ID,
        statusFlags: backend ? backend.statusFlags : SERVER_STATUS_AUTOCOMMIT,
        authPlugin: opts.authPlugin,
        mariadbCapabilities: offeredMariadb,
      }),
      0,
    ),
  );
  const fail = (
    seq: number,
    code: number,
    state: string,
    message: string,
    kind: HandshakeError["code"],
    user: string | null,
  ) => {
    if (!socket.destroyed) socket.end(framePayload(encodeErr({ code, sqlState: state, message }), seq));
    return new HandshakeError(message, kind, user);
  };
  // Sequence id of an ERR for bytes that are no login at all: after the client's packet 1, or
  // after its packet 2 once TLS is up (the SSLRequest was packet 1).
  let badHandshakeSeq = 2;
  try {
    // Every client packet of the login carries the next sequence id, as the server checks.
    const expectSeq = (got: Packet, want: number) => {
      if (got.seq !== (want & 0xff))
        throw fail(
          got.seq + 1,
          ER_NET_PACKETS_OUT_OF_ORDER,
          "08S01",
          `Got packets out of order (pairgate expected sequence id ${want & 0xff}, the client sent ${got.seq})`,
          "PAIRGATE_HANDSHAKE",
          null,
        );
    };
    let p = await queue.next();
    expectSeq(p, 1);
    let isTls = false;
    if (isSslRequest(p.payload)) {
      if (!opts.tls)
        throw fail(
          p.seq + 1,
          ER_HANDSHAKE_ERROR,
          "08S01",
          "Bad handshake: this server has no TLS",
          "PAIRGATE_HANDSHAKE",
          null,
        );
      unlisten(socket);
      // Hand the TLS bytes that came with the SSLRequest back to the socket: the TLS layer reads
      // what is buffered there when it starts.
      const early = tlsBytes as Buffer | null; // set by onData (TypeScript cannot see that)
      if (early && early.length > 0) {
        plain.pause();
        plain.unshift(early);
      }
      tlsBytes = null;
      socket = await upgradeToTls(plain, opts.tls.context);
      listen(socket);
      isTls = true;
      badHandshakeSeq = 3;
      p = await queue.next();
      expectSeq(p, 2);
    }
    let response: HandshakeResponse;
    try {
      response = decodeHandshakeResponse(p.payload);
    } catch (e) {
      throw fail(
        p.seq + 1,
        ER_HANDSHAKE_ERROR,
        "08S01",
        `Bad handshake: ${(e as Error).message}`,
        "PAIRGATE_HANDSHAKE",
        null,
      );
    }
    if (opts.tls?.require && !isTls) {
      throw fail(
        p.seq + 1,
        ER_SECURE_TRANSPORT_REQUIRED,
        "HY000",
        "Connections using insecure transport are prohibited: pairgate requires TLS (listen.tls.require). Connect with SSL enabled.",
        "PAIRGATE_TLS_REQUIRED",
        response.username,
      );
    }
    const capabilities = (response.capabilities & offered) >>> 0;
    const username = response.username;
    const blocked = opts.blockedUser?.(username) ?? null;
    // Not a failed login (no password was checked): PAIRGATE_HANDSHAKE, never counted again.
    if (blocked !== null)
      throw fail(p.seq + 1, ER_HOST_IS_BLOCKED, "HY000", blocked, "PAIRGATE_HANDSHAKE", username);
    const host = plain.remoteAddress?.replace(/^::ffff:/, "") ?? "unknown";
    const auth = await authenticate(
      {
        write: (payload, seq) => socket.write(framePayload(payload, seq)),
        next: async (want) => {
          const answer = await queue.next();
          expectSeq(answer, want);
          return answer;
        },
      },
      {
        username,
        answer: {
          plugin:
            capabilities & CLIENT_PLUGIN_AUTH && response.authPlugin ? response.authPlugin : NATIVE_PASSWORD,
          token: response.authResponse,
          scramble,
        },
        seq: p.seq + 1,
        secure: isTls,
        plugin: opts.authPlugin,
        users: opts.users,
        accounts: opts.accounts,
        sha2Cache: opts.sha2Cache,
        host,
      },
    );
    if (!auth.ok)
      throw fail(auth.seq, auth.errno, auth.sqlState, auth.message, "PAIRGATE_AUTH_DENIED", username);
    const { password, seq } = auth;
    if (queue.leftover() > 0) throw new ProtocolError("client sent data before the login finished");
    const mariadbCapabilities =
      response.capabilities & CLIENT_LONG_PASSWORD ? 0 : response.mariadbCapabilities & offeredMariadb;
    return {
      socket,
      response,
      capabilities,
      username,
      password,
      nextSeq: seq,
      tls: isTls,
      scramble,
      mariadbCapabilities,
    };
  } catch (e) {
    if (e instanceof HandshakeError) throw e;
    // Bytes that are no login at all (garbage, a packet over the login limit, data sent early):
    // a clear ERR, as the server's "Bad handshake", rather than a silent close.
    throw fail(
      badHandshakeSeq,
      ER_HANDSHAKE_ERROR,
      "08S01",
      `Bad handshake: ${(e as Error).message}`,
      "PAIRGATE_HANDSHAKE",
      null,
    );
  } finally {
    unlisten(socket);
    // Bytes a client sends before the session attaches wait in the socket, not in the void.
    socket.pause();
  }
}

function upgradeToTls(socket: Socket, context: SecureContext): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const tls = new TLSSocket(socket, { isServer: true, secureContext: context });
    // For its whole life, not only the upgrade: the session attaches its own listener only once
    // the backend login is done, and a client may reset the connection before (issue 20's crash).
    ownErrors(tls, socket);
    const onError = (e: Error) =>
      reject(new HandshakeError(`TLS handshake failed: ${e.message}`, "PAIRGATE_HANDSHAKE", null));
    tls.once("error", onError);
    tls.once("secure", () => {
      tls.off("error", onError);
      resolve(tls);
    });
  });
}
