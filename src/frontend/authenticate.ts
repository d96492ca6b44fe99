/**
 * The one authentication routine, pairgate playing the server: used by the login (handshake.ts)
 * and by COM_CHANGE_USER (the session), so both honour `listen.authPlugin`, the caching_sha2
 * cache and the accounts read from the servers alike.
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_connection_phase_authentication_methods.html
 *
 * Who a user is:
 * 1. a user of the config's `users` (its password known): checked with `listen.authPlugin` as
 *    before — the static list wins over the servers' accounts of the same name;
 * 2. else the account the server would pick for `user@client address` (src/accounts/): with
 *    mysql_native_password the client's answer is checked against the stored SHA1(SHA1(password))
 *    and yields SHA1(password), the credential pairgate logs in to the backends with. Another
 *    plugin (ed25519, unix_socket, gssapi, caching_sha2_password, ...) is refused by name: pairgate
 *    could not log in as that account on the client's behalf.
 *
 * The caller owns the socket: it passes an exchange that writes a payload with a sequence id and
 * returns the client's next packet (checking its sequence id as it sees fit).
 */
import type { AccountStore } from "../accounts/store.js";
import {
  CACHING_SHA2_PASSWORD,
  type Credential,
  NATIVE_PASSWORD,
  newScramble,
  recoverNativeStage1,
  SHA2_FAST_AUTH_SUCCESS,
  SHA2_PERFORM_FULL_AUTH,
  verifyCleartext,
  verifyToken,
} from "../protocol/auth.js";
import { ER_ACCESS_DENIED_ERROR, ER_NOT_SUPPORTED_AUTH_MODE } from "../protocol/constants.js";
import type { Packet } from "../protocol/framer.js";
import { encodeAuthMoreData, encodeAuthSwitch } from "../protocol/messages.js";

export type ServerAuthPlugin = typeof NATIVE_PASSWORD | typeof CACHING_SHA2_PASSWORD;

/** MariaDB's ER_ACCOUNT_HAS_BEEN_LOCKED (4151), MySQL's (3118): the servers' own texts. */
const ER_ACCOUNT_LOCKED_MARIADB = 4151;
const ER_ACCOUNT_LOCKED_MYSQL = 3118;
/** ER_MUST_CHANGE_PASSWORD_LOGIN, the same number on both. */
const ER_MUST_CHANGE_PASSWORD_LOGIN = 1862;

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
  /** The config's `users` and their passwords. */
  users: ReadonlyMap<string, string>;
  /** The accounts read from the servers; null when `accounts.fromServers` is off. */
  accounts: AccountStore | null;
  /** Users that completed a caching_sha2_password full authentication (the server's "cache"). */
  sha2Cache: Set<string>;
  /** The client's address: the host the account is matched with, and named in "Access denied". */
  host: string;
}

export type AuthResult =
  | { ok: true; password: Credential; seq: number; source: "config" | "servers" }
  /** `seq`: for the ERR that ends the exchange. */
  | { ok: false; seq: number; message: string; errno: number; sqlState: string };

export async function authenticate(x: AuthExchange, r: AuthRequest): Promise<AuthResult> {
  const password = r.users.get(r.username);
  if (password !== undefined || !r.accounts) return configUser(x, r, password);
  return serverAccount(x, r, r.accounts);
}

function denied(r: AuthRequest, seq: number, sawPassword: boolean): AuthResult {
  // The name is the client's: cut, as the server's messages are (MYSQL_ERRMSG_SIZE 512).
  const name = r.username.length > 80 ? `${r.username.slice(0, 79)}…` : r.username;
  return {
    ok: false,
    seq,
    errno: ER_ACCESS_DENIED_ERROR,
    sqlState: "28000",
    message: `Access denied for user '${name}'@'${r.host}' (using password: ${sawPassword ? "YES" : "NO"})`,
  };
}

/** Make sure the client answered with `plugin` (on the login's scramble), asking it again if not. */
async function answerWith(
  x: AuthExchange,
  r: AuthRequest,
  wanted: string,
  accept: (plugin: string) => boolean,
): Promise<{ plugin: string; token: Buffer; scramble: Buffer; seq: number }> {
  let seq = r.seq;
  let plugin = r.answer?.plugin ?? "";
  let scramble = r.answer?.scramble ?? newScramble();
  let token = r.answer?.token ?? Buffer.alloc(0);
  if (!accept(plugin)) {
    // Ask the client to answer with `wanted` (on the same scramble at login).
    if (!r.answer) scramble = newScramble();
    x.write(encodeAuthSwitch(wanted, Buffer.concat([scramble, Buffer.from([0])])), seq);
    const answer = await x.next(seq + 1);
    seq = answer.seq + 1;
    token = answer.payload;
    plugin = wanted;
  }
  return { plugin, token, scramble, seq };
}

async function configUser(
  x: AuthExchange,
  r: AuthRequest,
  password: string | undefined,
): Promise<AuthResult> {
  const a = await answerWith(x, r, r.plugin, (p) => p === NATIVE_PASSWORD || p === CACHING_SHA2_PASSWORD);
  let { seq } = a;
  const sawPassword = a.token.length > 0;
  let ok = password !== undefined && verifyToken(a.plugin, password, a.scramble, a.token);
  if (ok && a.plugin === CACHING_SHA2_PASSWORD && password !== "") {
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
  if (!ok) return denied(r, seq, sawPassword);
  return { ok: true, password: password!, seq, source: "config" };
}

async function serverAccount(x: AuthExchange, r: AuthRequest, store: AccountStore): Promise<AuthResult> {
  await store.settled(); // a login during a refresh waits for it
  let match = store.find(r.username, r.host);
  if (match && match.account.plugin !== NATIVE_PASSWORD) return unsupported(r, match.account.plugin);
  // The account's plugin is mysql_native_password (or there is no account: the server, too,
  // carries on with its default plugin and refuses at the end).
  const a = await answerWith(x, r, NATIVE_PASSWORD, (p) => p === NATIVE_PASSWORD);
  const check = (): Credential | null => {
    const stage2 = match?.account.stage2;
    if (!stage2) return null;
    if (stage2.length === 0) return a.token.length === 0 ? "" : null;
    const stage1 = recoverNativeStage1(stage2, a.scramble, a.token);
    return stage1 ? { nativeStage1: stage1 } : null;
  };
  let credential = check();
  if (credential === null && (await store.afterFailedLogin())) {
    // The password may have changed (or the account appeared) on the server since the last read:
    // the client's answer is checked again against what the server has now.
    match = store.find(r.username, r.host);
    if (match && match.account.plugin !== NATIVE_PASSWORD) return unsupported(r, match.account.plugin);
    credential = check();
  }
  if (credential === null || !match) return denied(r, a.seq, a.token.length > 0);
  if (match.account.locked) {
    // As the server: the lock is told only to a client that knew the password.
    return match.kind === "mariadb"
      ? {
          ok: false,
          seq: a.seq,
          errno: ER_ACCOUNT_LOCKED_MARIADB,
          sqlState: "HY000",
          message: "Access denied, this account is locked",
        }
      : {
          ok: false,
          seq: a.seq,
          errno: ER_ACCOUNT_LOCKED_MYSQL,
          sqlState: "HY000",
          message: `Access denied for user '${r.username}'@'${match.account.host}'. Account is locked.`,
        };
  }
  if (match.account.expired) {
    // The server's answer to a client that cannot handle an expired password: pairgate's own
    // session set-up cannot run in the sandbox the server would open, so it is that client.
    return {
      ok: false,
      seq: a.seq,
      errno: ER_MUST_CHANGE_PASSWORD_LOGIN,
      sqlState: "HY000",
      message:
        "Your password has expired. To log in you must change it using a client that supports expired passwords.",
    };
  }
  return { ok: true, password: credential, seq: a.seq, source: "servers" };
}

function unsupported(r: AuthRequest, plugin: string): AuthResult {
  return {
    ok: false,
    seq: r.seq,
    errno: ER_NOT_SUPPORTED_AUTH_MODE,
    sqlState: "08004",
    message: `Account '${r.username.slice(0, 80)}' authenticates with ${plugin.slice(0, 64)}, which pairgate cannot log in with on the client's behalf: use mysql_native_password for it, or list the user in pairgate's config (users)`,
  };
}
