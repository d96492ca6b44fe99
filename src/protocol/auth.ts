/**
 * Authentication scrambles. pairgate checks the client's answer itself and then logs in to the
 * backend as the same user: with the password when the user is in the config's `users`, or, for an
 * account read from the servers (src/accounts/), with mysql_native_password's SHA1(password) — the
 * "stage 1" hash the client's answer yields once checked against the stored SHA1(SHA1(password)).
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

export const NATIVE_PASSWORD = "mysql_native_password";
export const CACHING_SHA2_PASSWORD = "caching_sha2_password";
export const CLEAR_PASSWORD = "mysql_clear_password";

/** caching_sha2_password's one-byte replies inside AuthMoreData. */
export const SHA2_FAST_AUTH_SUCCESS = 0x03;
export const SHA2_PERFORM_FULL_AUTH = 0x04;
export const SHA2_REQUEST_PUBLIC_KEY = 0x02;

/** 20 random bytes without NUL (some clients treat the scramble as a C string). */
export function newScramble(): Buffer {
  const b = randomBytes(20);
  for (let i = 0; i < b.length; i++) {
    b[i] = (b[i] % 0x7e) + 1;
    if (b[i] === 0x24) b[i] = 0x25; // '$' confuses some old clients
  }
  return b;
}

function sha1(...parts: Uint8Array[]): Buffer {
  const h = createHash("sha1");
  for (const p of parts) h.update(p);
  return h.digest();
}

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash("sha256");
  for (const p of parts) h.update(p);
  return h.digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i % b.length];
  return out;
}

/** mysql_native_password: SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))). Empty password → empty. */
export function nativePasswordToken(password: string, scramble: Buffer): Buffer {
  if (password === "") return Buffer.alloc(0);
  const stage1 = sha1(Buffer.from(password, "utf8"));
  const stage2 = sha1(stage1);
  return xor(stage1, sha1(scramble.subarray(0, 20), stage2));
}

/**
 * What pairgate logs in to a backend with on a client's behalf: the password (a user of the
 * config's `users`), or SHA1(password) recovered from the client's mysql_native_password answer
 * (an account read from the servers) — enough to answer any later native scramble, and nothing
 * else: pairgate never holds that client's password.
 */
export type Credential = string | { readonly nativeStage1: Buffer };

/** mysql_native_password's answer to `scramble` from SHA1(password). */
export function nativeTokenFromStage1(stage1: Buffer, scramble: Buffer): Buffer {
  return xor(stage1, sha1(scramble.subarray(0, 20), sha1(stage1)));
}

/**
 * The server's side of mysql_native_password with only the stored hash (`stage2` =
 * SHA1(SHA1(password)), the 20 bytes behind mysql.user's `*HEX`): the token is
 * SHA1(password) XOR SHA1(scramble + stage2), so XOR-ing it back yields a candidate SHA1(password),
 * right exactly when its SHA1 is `stage2`. Returns that SHA1(password), or null.
 */
export function recoverNativeStage1(stage2: Buffer, scramble: Buffer, token: Buffer): Buffer | null {
  if (token.length !== 20 || stage2.length !== 20) return null;
  const stage1 = xor(token, sha1(scramble.subarray(0, 20), stage2));
  return tokensEqual(sha1(stage1), stage2) ? stage1 : null;
}

/** mysql.user / global_priv's `*HEX40` as its 20 bytes; null when it is not that. */
export function parseNativeHash(authenticationString: string): Buffer | null {
  if (!/^\*[0-9A-Fa-f]{40}$/.test(authenticationString)) return null;
  return Buffer.from(authenticationString.slice(1), "hex");
}

/** caching_sha2_password fast path: SHA256(password) XOR SHA256(SHA256(SHA256(password)) + scramble). */
export function cachingSha2Token(password: string, scramble: Buffer): Buffer {
  if (password === "") return Buffer.alloc(0);
  const p1 = sha256(Buffer.from(password, "utf8"));
  const p2 = sha256(p1);
  return xor(p1, sha256(p2, scramble.subarray(0, 20)));
}

export function tokensEqual(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && (a.length === 0 || timingSafeEqual(a, b));
}

/** Check a client's answer for `plugin` against the known password. */
export function verifyToken(plugin: string, password: string, scramble: Buffer, token: Buffer): boolean {
  if (plugin === NATIVE_PASSWORD) return tokensEqual(nativePasswordToken(password, scramble), token);
  if (plugin === CACHING_SHA2_PASSWORD) return tokensEqual(cachingSha2Token(password, scramble), token);
  return false;
}

/** A cleartext password sent after "perform full authentication" (NUL-terminated). */
export function verifyCleartext(password: string, data: Buffer): boolean {
  const end = data.length > 0 && data[data.length - 1] === 0 ? data.length - 1 : data.length;
  return tokensEqual(Buffer.from(password, "utf8"), data.subarray(0, end));
}
