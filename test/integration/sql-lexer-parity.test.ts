/**
 * Lexer parity with the real server: generated statements, read by pairgate's lexer and by a real
 * MariaDB, must agree on what is a string (its bytes), what is code and what is comment, and where
 * one statement ends and the next begins.
 *
 * The oracle is the server's answer. Each generated text is a multi-statement of
 * `SELECT HEX(CONCAT(item, item, ...))` where items and the noise between them mix string literals
 * (hostile contents: quotes, backslashes, `*\/`, `--`, `#`, `;`, multi-byte characters whose trail
 * byte is `\` or a backtick), quoted identifiers, comments of every kind, executable comments with
 * versions around the server's (5 and 6 digits, `/*M!`, fewer digits, a nested comment inside a
 * skipped one), `--` followed by every kind of byte. pairgate's lexer predicts the result sets (the
 * hex of each CONCAT, or an error when an item is an identifier), the server answers, and they must
 * be equal. Texts run under every combination of ANSI_QUOTES / NO_BACKSLASH_ESCAPES and the client
 * character sets utf8mb4, latin1, gbk, sjis, cp932, big5 and gb18030, sent byte for byte.
 *
 * Texts the lexer flags `uncertain` are not compared (pairgate treats them as not provably a read
 * and not provably free of audited tables); their share is reported. Reproducible: one seeded PRNG
 * (PARITY_SEED, default 11), PARITY_CASES texts (default 4000); PARITY_DEBUG=1 prints the texts
 * not of the generated shape, PARITY_DEBUG=why where the lexer became uncertain.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { makeDialect, mbLength, type SqlDialect } from "../../src/sql/dialect.js";
import {
  CH_COMMA,
  CH_LPAREN,
  CH_RPAREN,
  CH_SEMI,
  Lexer,
  TOK_EOF,
  TOK_NUMBER,
  TOK_QIDENT,
  TOK_STRING,
  TOK_WORD,
} from "../../src/sql/lexer.js";
import { RawConnection, textRow } from "../helpers/raw-client.js";
import { ADMIN_USER, type Servers, startServers } from "../helpers/servers.js";

const SEED = Number(process.env.PARITY_SEED ?? 11);
const CASES = Number(process.env.PARITY_CASES ?? 4000);

/** mulberry32: small, seeded, reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Cs = "utf8mb4" | "latin1" | "gbk" | "sjis" | "cp932" | "big5" | "gb18030";
// gb18030 arrived in MariaDB 11.x: the walker's four-byte form is unit-tested only.
const CHARSETS: Cs[] = ["utf8mb4", "latin1", "gbk", "sjis", "cp932", "big5"];
const MODES = ["", "ANSI_QUOTES", "NO_BACKSLASH_ESCAPES", "ANSI_QUOTES,NO_BACKSLASH_ESCAPES"];

/** Multi-byte characters (as byte strings) of each set, chosen for their hostile trail bytes. */
const MB_CHARS: Record<Cs, string[]> = {
  utf8mb4: ["\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x94\x91", "\xc2\xa0"],
  latin1: ["\xe9", "\xa0", "\xd7", "\xff"],
  // gbk / gb18030: 0x95 0x5C, 0x81 0x60, 0xB0 0xA1; gb18030 also a four-byte 0x81 0x30 0x81 0x30
  gbk: ["\x95\x5c", "\x81\x60", "\xb0\xa1", "\xfe\x7e"],
  gb18030: ["\x95\x5c", "\x81\x60", "\xb0\xa1", "\x81\x30\x81\x30"],
  sjis: ["\x95\x5c", "\x81\x60", "\x83\x5c", "\xe0\x40"],
  cp932: ["\x95\x5c", "\x81\x60", "\x83\x5c", "\xe0\x40"],
  big5: ["\xa5\x5c", "\xa1\x60", "\xb3\x5c", "\xa4\x40"],
};

class Gen {
  constructor(
    readonly r: () => number,
    readonly version: number,
  ) {}
  int(n: number): number {
    return Math.floor(this.r() * n);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.r() < p;
  }

  /** Bytes for the inside of a string or comment: hostile but mostly balanced. */
  junk(cs: Cs, max: number): string {
    const parts = [
      "a",
      "Z",
      "0",
      " ",
      "'",
      '"',
      "\\",
      "\\'",
      '\\"',
      "\\\\",
      "''",
      '""',
      "*/",
      "/*",
      "--",
      "-- ",
      "#",
      ";",
      "\n",
      "`",
      "\\n",
      "\\%",
      "\\Z",
      "/*!",
      "*",
      "/",
    ];
    let s = "";
    const n = this.int(max + 1);
    for (let i = 0; i < n; i++) s += this.chance(0.25) ? this.pick(MB_CHARS[cs]) : this.pick(parts);
    return s;
  }

  /** A string literal meant to be well-formed, with safe-ish content; sometimes hostile. */
  stringLit(cs: Cs): string {
    const q = this.chance(0.7) ? "'" : '"';
    let body = "";
    const n = this.int(6);
    for (let i = 0; i < n; i++) {
      const k = this.int(10);
      if (k < 3) body += this.pick(["ab", "x y", "1", "-- ", "#", ";", "/*", "*/", "`"]);
      else if (k < 5) body += this.pick(MB_CHARS[cs]);
      else if (k < 6) body += q + q;
      else if (k < 7) body += `\\${q}`;
      else if (k < 8) body += this.pick(["\\\\", "\\n", "\\t", "\\0", "\\%", "\\_", "\\Z", "\\x"]);
      else if (k < 9) body += q === "'" ? '"' : "'";
      else body += this.pick(MB_CHARS[cs]) + this.pick(["\\", "'", "\\'", ""]);
    }
    return q + body + q;
  }

  item(cs: Cs): string {
    const k = this.int(10);
    if (k < 7) return this.stringLit(cs);
    if (k < 8) return String(this.int(1000));
    if (k < 9) return "`c`";
    return `N${this.stringLit(cs)}`;
  }

  /** A version near the server's, and the landmarks of the rules (50700, 99999, 5 vs 6 digits). */
  version5or6(): string {
    const v = this.version;
    const near = [v - 1, v, v + 1, v + 100, 100000, 99999, 50700, 50699, 57000, 80000, 40101, 32302, 999999];
    const x = this.pick(near);
    return this.chance(0.85) ? String(x).padStart(5, "0") : String(x) + String(this.int(10));
  }

  /**
   * Noise: whitespace and comments. With `items`, executable comments may hold `item, ` (the
   * position must be followed by an item); without, their content is whitespace or a comment.
   */
  /** Versions this server skips: above it, and MySQL's 5.7-9.x range on MariaDB without `M!`. */
  skipped(): string[] {
    return [String(this.version + 1), "999999", "57000", "80000", "50700", String(this.version + 100)];
  }

  noise(cs: Cs, items: boolean): string {
    const k = this.int(18);
    const inner = () =>
      items && this.chance(0.6) ? ` ${this.item(cs)}, ` : this.pick([" ", "", " /* c */ "]);
    switch (k) {
      case 0:
        return this.pick([" ", "\t", "\n", "\r\n", "\x0b", "\x0c", "  "]);
      case 1:
        return `/*${this.junk(cs, 6).replace(/\*\//g, "")}*/`;
      case 2:
        return `#${this.junk(cs, 5).replace(/\n/g, "")}\n`;
      case 3:
        return `-- ${this.junk(cs, 5).replace(/\n/g, "")}\n`;
      case 4: {
        // `--` followed by any byte: a comment for the server only after whitespace or a control.
        const b = String.fromCharCode(this.int(cs === "utf8mb4" || this.chance(0.3) ? 256 : 128));
        return `--${b}${this.junk(cs, 3).replace(/\n/g, "")}\n`;
      }
      case 5:
      case 6:
      case 7: {
        // Versioned executable comment: run (its content is code) or skipped (its content, junk
        // with quotes included, is not even lexed) — the lexer must decide as the server does.
        // Mostly junk where the version says skip and items where it says run, but not always: the
        // lexer, not the generator, decides.
        const junk = this.junk(cs, 6);
        const useJunk = this.chance(0.5);
        const body = useJunk ? ` ${this.chance(0.8) ? junk.replace(/\/\*|\*\//g, "") : junk} ` : inner();
        const v = useJunk && this.chance(0.7) ? this.pick(this.skipped()) : this.version5or6();
        const m = this.chance(0.3) && !(useJunk && /^[5-9]\d{4}$/.test(v)) ? "M!" : "!";
        return `/*${m}${v}${body}*/`;
      }
      case 8:
        return `/*!${this.pick(["", "1", "12", "123", "1234"])}${items ? "" : " "}${inner()}*/`.replace(
          /^\/\*!(\d+)'/,
          "/*!$1 '",
        );
      case 9:
        // A skipped versioned comment may hold one nested comment.
        return `/*!999999 /* ${this.junk(cs, 3).replace(/\*\//g, "")} */ ${this.junk(cs, 3)} */`;
      case 10:
        if (this.chance(0.6)) return " ";
        // Inside an executed comment another executable comment: skipped by version, or executed
        // (then the server ends both at its `*\/`: pairgate calls that uncertain).
        return `/*M!${this.version5or6()} /*!${this.version5or6()} ${this.item(cs)}, */${inner()}*/`;
      case 11:
        return `/*+ ${this.junk(cs, 3).replace(/\*\//g, "")} */`;
      default:
        return " ";
    }
  }

  /** One `SELECT HEX(CONCAT(...))` with noise everywhere. */
  statement(cs: Cs): string {
    let s = `SELECT${this.noise(cs, false)}HEX(CONCAT(`;
    const n = 1 + this.int(4);
    for (let i = 0; i < n; i++) {
      if (i > 0) s += `${this.noise(cs, false)},`;
      s += this.noise(cs, true);
      s += this.item(cs);
      if (this.chance(0.5)) s += this.noise(cs, false);
    }
    return `${s}))${this.chance(0.3) ? this.noise(cs, false) : ""}`;
  }

  text(cs: Cs): string {
    const n = 1 + this.int(3);
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(this.statement(cs));
    return parts.join(this.pick([";", "; ", ";\n", ` ;${this.noise(cs, false)}`]));
  }
}

/** The bytes of a string literal's value, unescaped as the server's Lex_input_stream::unescape. */
function literalBytes(
  body: string,
  q: number,
  d: SqlDialect,
  mbLen: (s: string, p: number) => number,
): string {
  let out = "";
  for (let i = 0; i < body.length; i++) {
    const l = mbLen(body, i);
    if (l > 1) {
      out += body.slice(i, i + l);
      i += l - 1;
      continue;
    }
    const c = body.charCodeAt(i);
    if (c === 92 && !d.noBackslashEscapes && i + 1 < body.length) {
      const e = body[++i];
      const map: Record<string, string> = { n: "\n", t: "\t", r: "\r", b: "\b", "0": "\0", Z: "\x1a" };
      if (e === "%" || e === "_") out += `\\${e}`;
      else out += map[e] ?? e;
    } else if (c === q) {
      out += body[i];
      i++;
    } else out += body[i];
  }
  return out;
}

const whyCount = new Map<string, number>();

type Prediction = { ok: string[] } | { error: true } | null;

/**
 * What the server should answer according to pairgate's lexer: the hex of each statement's CONCAT,
 * or an error (an identifier item: unknown column). null when the tokens are not of the generated
 * shape (nothing to compare) or the lexer is uncertain.
 */
function predict(
  text: string,
  d: SqlDialect,
  toBytes: (tokenText: string) => string,
  mbLen: (s: string, p: number) => number,
): Prediction | "uncertain" {
  const all = new Lexer(text, d);
  while (all.next() !== TOK_EOF);
  if (all.uncertain) {
    whyCount.set(all.uncertainWhy, (whyCount.get(all.uncertainWhy) ?? 0) + 1);
    if (process.env.PARITY_DEBUG === "why")
      console.log(
        "uncertain",
        all.uncertainWhy,
        JSON.stringify(text.slice(Math.max(0, all.uncertainAt - 30), all.uncertainAt + 10)),
      );
    return "uncertain";
  }
  const lx = new Lexer(text, d);
  const out: string[] = [];
  let error = false;
  lx.next();
  while (lx.type !== TOK_EOF) {
    if (lx.isPunct(CH_SEMI)) {
      lx.next();
      continue;
    }
    const word = (w: string) => lx.type === TOK_WORD && lx.text().toUpperCase() === w;
    if (!word("SELECT")) return null;
    lx.next();
    if (!word("HEX")) return null;
    lx.next();
    if (!lx.isPunct(CH_LPAREN)) return null;
    lx.next();
    if (!word("CONCAT")) return null;
    lx.next();
    if (!lx.isPunct(CH_LPAREN)) return null;
    let value = "";
    let national = false;
    for (;;) {
      lx.next();
      if (lx.type === TOK_STRING) {
        const t = lx.text();
        const prefixed = t.charCodeAt(0) === 78 || t.charCodeAt(0) === 110;
        const q = t.charCodeAt(prefixed ? 1 : 0);
        if (t.length < (prefixed ? 3 : 2) || t.charCodeAt(t.length - 1) !== q) return null;
        const body = t.slice(prefixed ? 2 : 1, -1);
        if (prefixed) national = true;
        value += literalBytes(body, q, d, mbLen);
      } else if (lx.type === TOK_NUMBER) {
        value += lx.text();
      } else if (lx.type === TOK_QIDENT) {
        error = true;
      } else return null;
      lx.next();
      if (lx.isPunct(CH_COMMA)) continue;
      if (!lx.isPunct(CH_RPAREN)) return null;
      break;
    }
    lx.next();
    if (!lx.isPunct(CH_RPAREN)) return null;
    lx.next();
    if (!(lx.type === TOK_EOF || lx.isPunct(CH_SEMI))) return null;
    if (error) break;
    // N'..' is utf8: CONCAT converts the other operands to it; compare only ASCII results then.
    if (national && /[^\x00-\x7f]/.test(toBytes(value))) return null;
    out.push(Buffer.from(toBytes(value), "latin1").toString("hex").toUpperCase());
  }
  if (lx.uncertain) return "uncertain";
  if (error) return { error: true };
  return out.length ? { ok: out } : null;
}

let servers: Servers;
let conn: RawConnection;
let version = 0;

const SERVER_MORE_RESULTS_EXISTS = 0x08;

/** Sends `bytes` (a byte string) as one COM_QUERY; the first column of each result's first row. */
async function raw(bytes: string): Promise<{ ok: Array<string[] | null> } | { error: string }> {
  const sets: Array<string[] | null> = [];
  try {
    let first = await conn.command(Buffer.concat([Buffer.from([0x03]), Buffer.from(bytes, "latin1")]));
    for (;;) {
      const r = await conn.readResult(first);
      sets.push(r.columns === 0 ? null : r.rows.length ? textRow(r.rows[0]).map((v) => v ?? "NULL") : []);
      if (!(r.status & SERVER_MORE_RESULTS_EXISTS)) break;
      first = await conn.read();
    }
    return { ok: sets };
  } catch (e) {
    return { error: (e as Error).message };
  }
}

test.before(async () => {
  servers = await startServers(1);
  conn = await RawConnection.connect(servers.list[0].port);
  await conn.login({ user: ADMIN_USER.username, password: ADMIN_USER.password });
  const v = await raw("SELECT VERSION()");
  if (!("ok" in v) || !v.ok[0]) throw new Error(`SELECT VERSION(): ${JSON.stringify(v)}`);
  version = makeDialect({ serverVersion: v.ok[0][0] }).version;
});

test.after(async () => {
  conn?.close();
  await servers?.stop();
});

async function serverAnswer(text: string): Promise<Prediction> {
  const r = await raw(text);
  if ("error" in r) return { error: true };
  return { ok: r.ok.map((row) => (row === null ? "" : (row[0] ?? ""))) };
}

/** The character-set walk the lexer uses, for unescaping predicted values. */
function mbLenOf(cs: Cs, d: SqlDialect): (s: string, p: number) => number {
  if (cs === "utf8mb4" || cs === "latin1") return () => 0;
  return (s, p) => mbLength(d.cs, s, p);
}

test("generated texts: pairgate's lexer and MariaDB read the same strings, code, comments and statements", async () => {
  const r = prng(SEED);
  const gen = new Gen(r, version);
  let compared = 0;
  const comparedBy = new Map<string, number>();
  let uncertain = 0;
  let unpredicted = 0;
  const mismatches: string[] = [];
  let lastSetup = "";
  for (let i = 0; i < CASES; i++) {
    const cs = CHARSETS[i % CHARSETS.length];
    const mode = MODES[Math.floor(i / CHARSETS.length) % MODES.length];
    const setup = `SET NAMES ${cs === "utf8mb4" ? "utf8mb4" : cs}, sql_mode = '${mode}'`;
    if (setup !== lastSetup) {
      const r = await raw(setup);
      if ("error" in r) throw new Error(`${setup}: ${r.error}`);
      lastSetup = setup;
    }
    const bytes = gen.text(cs);
    const d = makeDialect({ flavor: "mariadb", version, sqlMode: mode, charset: cs });
    // The session's decoding: utf8 text as UTF-8, every other set byte for byte.
    const lexText = cs === "utf8mb4" ? Buffer.from(bytes, "latin1").toString("utf8") : bytes;
    const toBytes = (v: string) => (cs === "utf8mb4" ? Buffer.from(v, "utf8").toString("latin1") : v);
    // A NUL byte ends a `--` / `#` comment for the server, and is then a syntax error there (nothing
    // runs); pairgate reads on to the newline. Not a reading that matters: not compared.
    if (/(--|#)[^\n]*\x00/.test(bytes)) {
      uncertain++;
      continue;
    }
    const p = predict(lexText, d, toBytes, mbLenOf(cs, d));
    if (p === "uncertain") {
      uncertain++;
      continue;
    }
    if (p === null) {
      if (process.env.PARITY_DEBUG) console.log("unpredicted", JSON.stringify(bytes));
      unpredicted++;
      continue;
    }
    const got = await serverAnswer(bytes);
    compared++;
    comparedBy.set(cs, (comparedBy.get(cs) ?? 0) + 1);
    const same =
      "error" in p
        ? "error" in got
        : "ok" in got && got.ok.length === p.ok.length && got.ok.every((v, j) => v === p.ok[j]);
    if (!same && mismatches.length < 10)
      mismatches.push(
        `case ${i} [${cs}, sql_mode='${mode}'] ${JSON.stringify(bytes)}\n  hex: ${Buffer.from(bytes, "latin1").toString("hex")}\n  pairgate: ${JSON.stringify(p)}\n  server:   ${JSON.stringify(got)}`,
      );
  }
  console.log(
    `lexer parity: seed ${SEED}, ${CASES} texts against MariaDB ${version}: ${compared} compared, ` +
      `${uncertain} uncertain (fail safe: ${[...whyCount].map(([k, v]) => `${k} ${v}`).join(", ")}), ` +
      `${unpredicted} not of the generated shape`,
  );
  assert.equal(mismatches, [], mismatches.join("\n"));
  // The generator is hostile on purpose: many texts are uncertain (fail safe) or not of the shape
  // whose value can be predicted; enough must remain, in every character set.
  assert.ok(compared >= CASES * 0.1, `only ${compared} of ${CASES} texts were comparable`);
  for (const cs of CHARSETS)
    assert.ok((comparedBy.get(cs) ?? 0) >= CASES / 200, `${cs}: ${comparedBy.get(cs) ?? 0} texts compared`);
});

test("`--` followed by each byte 0x00-0xFF: a comment exactly when the server says so", async () => {
  const mismatches: string[] = [];
  let compared = 0;
  for (const cs of ["utf8mb4", "latin1", "gbk"] as const) {
    await raw(`SET NAMES ${cs}, sql_mode = ''`);
    const d = makeDialect({ flavor: "mariadb", version, charset: cs });
    for (let b = 0; b < 256; b++) {
      // 0x0A: the comment's own end. 0x00: the server ends the comment there and then fails on the
      // NUL (a syntax error, nothing runs); pairgate reads the comment on to the newline.
      if (b === 10 || b === 0) continue;
      // `SELECT 5 --<b> , 7\n`: one column, 5, if `--<b>` starts a comment; otherwise `5 - -<b>, 7`
      // (an error or two columns).
      const bytes = `SELECT 5 --${String.fromCharCode(b)} , 7\n`;
      const lx = new Lexer(cs === "utf8mb4" ? Buffer.from(bytes, "latin1").toString("utf8") : bytes, d);
      let n = 0;
      while (lx.next() !== TOK_EOF) n++;
      if (lx.uncertain) continue;
      const comment = n === 2; // SELECT, 5
      const got = await raw(bytes);
      const serverComment =
        "ok" in got && got.ok.length === 1 && got.ok[0]?.length === 1 && got.ok[0][0] === "5";
      compared++;
      if (comment !== serverComment)
        mismatches.push(
          `${cs} 0x${b.toString(16)}: pairgate ${comment}, server ${serverComment} ${JSON.stringify(got)}`,
        );
    }
  }
  assert.equal(mismatches, [], mismatches.join("\n"));
  assert.ok(compared > 400);
});

test.run();
