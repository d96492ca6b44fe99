/**
 * auth.ts: scramble tokens against vectors computed here with node:crypto from the published
 * formulas, and against tokens a real client (mysql2 3.24.6) sent to a captured MariaDB scramble.
 */
import { createHash } from "node:crypto";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  CACHING_SHA2_PASSWORD,
  CLEAR_PASSWORD,
  cachingSha2Token,
  NATIVE_PASSWORD,
  nativePasswordToken,
  newScramble,
  tokensEqual,
  verifyCleartext,
  verifyToken,
} from "../../src/protocol/auth.js";
import { hex } from "../helpers/wire.js";

function hash(alg: "sha1" | "sha256", ...parts: Buffer[]): Buffer {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return h.digest();
}

function xor(a: Buffer, b: Buffer): Buffer {
  assert.is(a.length, b.length);
  return Buffer.from(a.map((x, i) => x ^ b[i]));
}

/** SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))) */
function expectedNative(password: string, scramble: Buffer): Buffer {
  const pw = Buffer.from(password, "utf8");
  return xor(hash("sha1", pw), hash("sha1", scramble, hash("sha1", hash("sha1", pw))));
}

/** SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble) */
function expectedSha2(password: string, scramble: Buffer): Buffer {
  const pw = Buffer.from(password, "utf8");
  return xor(hash("sha256", pw), hash("sha256", hash("sha256", hash("sha256", pw)), scramble));
}

/** The scramble of the captured MariaDB 10.11 handshake (see protocol-messages.test.ts). */
const MARIADB_SCRAMBLE = Buffer.from("YpFO8j1O|BuF;8C*GgSG", "latin1");
/** What mysql2 sent for password "pw" (mysql_native_password) to that scramble. */
const MYSQL2_NATIVE_PW = Buffer.from(hex("aac2fd9573cdb3a925b8e7513ee39093727c7f34"));
/** What mysql2 sent for password "pässword" (caching_sha2_password) to that scramble. */
const MYSQL2_SHA2_PASSWORD = Buffer.from(
  hex("370dcb72dadebb4c667aa9c4109234661c76d0ef064b7932dd03a8515f6bf373"),
);

const scrambles = [
  Buffer.from("abcdefghijklmnopqrst"),
  Buffer.from(Array.from({ length: 20 }, (_, i) => (i * 37 + 1) & 0x7f || 1)),
  MARIADB_SCRAMBLE,
];
const passwords = ["pw", "s3cret!", "pässword", "x".repeat(200), "🔑"];

test("nativePasswordToken equals SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw)))", () => {
  for (const s of scrambles) {
    for (const pw of passwords) {
      const got = nativePasswordToken(pw, s);
      assert.is(got.length, 20);
      assert.equal([...got], [...expectedNative(pw, s)], `${pw}`);
    }
  }
});

test("cachingSha2Token equals SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble)", () => {
  for (const s of scrambles) {
    for (const pw of passwords) {
      const got = cachingSha2Token(pw, s);
      assert.is(got.length, 32);
      assert.equal([...got], [...expectedSha2(pw, s)], `${pw}`);
    }
  }
});

test("tokens a real client computed (mysql2 against MariaDB's scramble)", () => {
  assert.equal([...nativePasswordToken("pw", MARIADB_SCRAMBLE)], [...MYSQL2_NATIVE_PW]);
  assert.equal([...cachingSha2Token("pässword", MARIADB_SCRAMBLE)], [...MYSQL2_SHA2_PASSWORD]);
  assert.ok(verifyToken(NATIVE_PASSWORD, "pw", MARIADB_SCRAMBLE, MYSQL2_NATIVE_PW));
  assert.ok(verifyToken(CACHING_SHA2_PASSWORD, "pässword", MARIADB_SCRAMBLE, MYSQL2_SHA2_PASSWORD));
});

test("a scramble sent with its trailing NUL (21 bytes) gives the same token", () => {
  const withNul = Buffer.concat([MARIADB_SCRAMBLE, Buffer.from([0])]);
  assert.equal([...nativePasswordToken("pw", withNul)], [...MYSQL2_NATIVE_PW]);
  assert.equal([...cachingSha2Token("pässword", withNul)], [...MYSQL2_SHA2_PASSWORD]);
});

test("verifyToken: true for the right password, false otherwise", () => {
  const s = scrambles[0];
  for (const plugin of [NATIVE_PASSWORD, CACHING_SHA2_PASSWORD]) {
    const make = plugin === NATIVE_PASSWORD ? expectedNative : expectedSha2;
    const token = make("right", s);
    assert.is(verifyToken(plugin, "right", s, token), true, plugin);
    assert.is(verifyToken(plugin, "wrong", s, token), false, `${plugin}: wrong password`);
    assert.is(verifyToken(plugin, "right", scrambles[1], token), false, `${plugin}: other scramble`);
    assert.is(
      verifyToken(plugin, "right", s, token.subarray(0, token.length - 1)),
      false,
      `${plugin}: short`,
    );
    assert.is(
      verifyToken(plugin, "right", s, Buffer.concat([token, Buffer.from([0])])),
      false,
      `${plugin}: long`,
    );
    assert.is(verifyToken(plugin, "right", s, Buffer.alloc(0)), false, `${plugin}: empty token`);
    const flipped = Buffer.from(token);
    flipped[7] ^= 1;
    assert.is(verifyToken(plugin, "right", s, flipped), false, `${plugin}: one bit off`);
  }
  // A token of the other plugin does not pass, nor does an unknown plugin.
  assert.is(verifyToken(NATIVE_PASSWORD, "right", s, expectedSha2("right", s)), false);
  assert.is(verifyToken(CLEAR_PASSWORD, "right", s, Buffer.from("right")), false);
  assert.is(verifyToken("sha256_password", "right", s, expectedSha2("right", s)), false);
});

test("empty password: the token is empty, and only an empty answer matches", () => {
  const s = scrambles[0];
  assert.is(nativePasswordToken("", s).length, 0);
  assert.is(cachingSha2Token("", s).length, 0);
  for (const plugin of [NATIVE_PASSWORD, CACHING_SHA2_PASSWORD]) {
    assert.is(verifyToken(plugin, "", s, Buffer.alloc(0)), true, plugin);
    assert.is(verifyToken(plugin, "", s, Buffer.alloc(20)), false, `${plugin}: 20 zero bytes`);
    assert.is(verifyToken(plugin, "", s, expectedNative("", s)), false, `${plugin}: hash of ""`);
    assert.is(
      verifyToken(plugin, "x", s, Buffer.alloc(0)),
      false,
      `${plugin}: no answer for a real password`,
    );
  }
});

test("verifyCleartext: with or without the trailing NUL", () => {
  assert.is(verifyCleartext("pässword", Buffer.from("pässword\0")), true);
  assert.is(verifyCleartext("pässword", Buffer.from("pässword")), true);
  assert.is(verifyCleartext("pässword", Buffer.from("password\0")), false);
  assert.is(verifyCleartext("pässword", Buffer.from("pässword\0\0")), false, "only one NUL is dropped");
  assert.is(verifyCleartext("pw", Buffer.from("pw2\0")), false);
  assert.is(verifyCleartext("pw", Buffer.from("p\0")), false);
  assert.is(verifyCleartext("", Buffer.from([0])), true);
  assert.is(verifyCleartext("", Buffer.alloc(0)), true);
  assert.is(verifyCleartext("", Buffer.from("x\0")), false);
});

test("tokensEqual compares length and content", () => {
  assert.ok(tokensEqual(Buffer.alloc(0), Buffer.alloc(0)));
  assert.ok(tokensEqual(Buffer.from([1, 2]), Buffer.from([1, 2])));
  assert.not.ok(tokensEqual(Buffer.from([1, 2]), Buffer.from([1, 3])));
  assert.not.ok(tokensEqual(Buffer.from([1, 2]), Buffer.from([1])));
});

test("newScramble: 20 bytes, no NUL and no '$', different each time", () => {
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const s = newScramble();
    assert.is(s.length, 20);
    for (const byte of s) {
      assert.ok(byte >= 1 && byte <= 0x7f, `byte 0x${byte.toString(16)}`);
      assert.is.not(byte, 0x24);
    }
    seen.add(s.toString("hex"));
  }
  assert.is(seen.size, 200);
});

test.run();
