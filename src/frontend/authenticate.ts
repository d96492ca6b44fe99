/**
 * The one authentication routine, pairgate playing the server: used by the login (handshake.ts)
 * and by COM_CHANGE_USER (the session), so both honour `listen.authPlugin` and the
 * caching_sha2_password cache alike.
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_authentication_methods.html
 *
 * The caller owns the socket: it passes an exchange that writes a payload with a sequence id and
 * returns the client's next packet (checking its sequence id as it sees fit).
 */
import {
  CACHING_SHA2_PASSWORD,
  NATIVE_PASSWORD,
  newScramble,
  SHA2_FAST_AUTH_SUCCESS,
  SHA2_PERFORM_FULL_AUTH,
  verifyCleartext,
  verifyToken,
} from "../protocol/auth.js";
import type { Packet } from "../protocol/framer.js";
import { encodeAuthMoreData, encodeAuthSwitch } from "../protocol/messages.js";

export type ServerAuthPlugin = typeof NATIVE_PASSWORD | typeof CACHING_SHA2_PASSWORD;

export interface AuthExchange {
  write(payload: Buffer, seq: number): void;
  /** The client's next packet, which should carry sequence id `expectSeq`. */
  next(expectSeq: number): Promise<Packet>;
}

export interface AuthRequest {
  username: string;
  /**
   * The client's first answer: the plugin it used and its token over `scramble`. Null when there is
   * none to check (COM_CHANGE_USER): the client is asked afresh, with a new scramble.
   */
  answer: { plugin: string; token: Buffer; scramble: Buffer } | null;
  /** Sequence id of pairgate's next packet. */
  seq: number;
  /** The connection is encrypted (caching_sha2 full authentication may send the password). */
  secure: boolean;
  /** The plugin pairgate asks for (listen.authPlugin). */
  plugin: ServerAuthPlugin;
  users: ReadonlyMap<string, string>;
  /** Users that completed a caching_sha2_password full authentication (the server's "cache"). */
  sha2Cache: Set<string>;
  /** For the "Access denied" message. */
  host: string;
}

export type AuthResult =
  | { ok: true; password: string; seq: number }
  /** `seq`: for the ERR that ends the exchange. */
  | { ok: false; seq: number; message: string };

export async function authenticate(x: AuthExchange, r: AuthRequest): Promise<AuthResult> {
  let seq = r.seq;
  let plugin = r.answer?.plugin ?? "";
  let scramble = r.answer?.scramble ?? newScramble();
  let token = r.answer?.token ?? Buffer.alloc(0);
  if (plugin !== NATIVE_PASSWORD && plugin !== CACHING_SHA2_PASSWORD) {
    // Ask the client to answer with the configured plugin (on the same scramble at login).
    if (!r.answer) scramble = newScramble();
    x.write(encodeAuthSwitch(r.plugin, Buffer.concat([scramble, Buffer.from([0])])), seq);
    const answer = await x.next(seq + 1);
    seq = answer.seq + 1;
    token = answer.payload;
    plugin = r.plugin;
  }
  const sawPassword = token.length > 0;
  const password = r.users.get(r.username);
  let ok = password !== undefined && verifyToken(plugin, password, scramble, token);
  if (ok && plugin === CACHING_SHA2_PASSWORD && password !== "") {
    if (r.secure && !r.sha2Cache.has(r.username)) {
      // As MySQL does on a first login: full authentication, the password sent over TLS.
      x.write(encodeAuthMoreData(Buffer.from([SHA2_PERFORM_FULL_AUTH])), seq);
      const clear = await x.next(seq + 1);
      seq = clear.seq + 1;
      ok = verifyCleartext(password!, clear.payload);
      if (ok) r.sha2Cache.add(r.username);
    } else {
      x.write(encodeAuthMoreData(Buffer.from([SHA2_FAST_AUTH_SUCCESS])), seq++);
    }
  }
  if (!ok)
    return {
      ok: false,
      seq,
      // The name is the client's: cut, as the server's messages are (MYSQL_ERRMSG_SIZE 512).
      message: `Access denied for user '${r.username.length > 80 ? `${r.username.slice(0, 79)}…` : r.username}'@'${r.host}' (using password: ${sawPassword ? "YES" : "NO"})`,
    };
  return { ok: true, password: password!, seq };
}
