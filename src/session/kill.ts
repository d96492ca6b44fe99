/**
 * Connection ids that mean the same thing everywhere (issue 20). The id a client sees — in the
 * greeting, from `CONNECTION_ID()`, in `KILL` — is pairgate's session id, never the id of the
 * backend connection that happens to serve the session (it changes at every failover, and the
 * same number names a *different* client's backend connection: a driver's cancel, `KILL QUERY
 * <greeting id>`, used to interrupt another client's query).
 *
 * - `KILL [HARD|SOFT] [CONNECTION|QUERY] n` (any case, comments anywhere) and COM_PROCESS_KILL are
 *   answered here: n is looked up among pairgate's sessions; the KILL runs on a side connection to
 *   the backend that serves session n now, naming that backend connection's id, as the caller's
 *   own user. KILL CONNECTION also closes session n's client connection, as the server does.
 * - Permission rule: a session may kill sessions of the same user name (the server's rule for an
 *   account without CONNECTION ADMIN/SUPER). Any other n — unknown, or another user's — gets the
 *   server's own ERR 1094 "Unknown thread id", so a client cannot probe other users' session ids.
 * - `KILL QUERY ID n` names a server query id, which pairgate cannot map to a session: refused with
 *   ERR 1094 too rather than forwarded (the id could be another client's query). `KILL USER name`
 *   likewise (it would reach every pairgate session of that user and pairgate's own connections).
 * - `CONNECTION_ID()` in a COM_QUERY is replaced by the session's id before the statement is sent
 *   (`rewriteConnectionId`); a select item keeps the column name the server would give it.
 */
import { BackendConnection, type BackendTarget, type Role } from "../backend/connection.js";
import { COM_QUERY, SERVER_STATUS_AUTOCOMMIT } from "../protocol/constants.js";
import type { Packet } from "../protocol/framer.js";
import { encodeOk } from "../protocol/messages.js";
import { framePayload } from "../protocol/packet.js";
import type { SqlDialect } from "../sql/index.js";
import {
  CH_COMMA,
  CH_DOT,
  CH_LPAREN,
  CH_RPAREN,
  CH_SEMI,
  Lexer,
  TOK_EOF,
  TOK_NUMBER,
  TOK_PUNCT,
  TOK_WORD,
} from "../sql/lexer.js";
import type { Exchange } from "./exchange.js";
import type { SlotIdentity } from "./slot-types.js";

/** A session other sessions may kill. */
export interface Killable {
  readonly id: number;
  readonly username: string;
  /** The backend connection serving the session now, or null when it has none. */
  backendConnection(): { role: Role; connectionId: number } | null;
  /** Close the client connection (KILL CONNECTION). */
  close(reason: string): void;
}

/** Pairgate's sessions by id (proxy.ts). */
export interface KillRegistry {
  find(id: number): Killable | null;
}

export interface KillRequest {
  /** QUERY: the statement only; CONNECTION: the session. */
  what: "QUERY" | "CONNECTION";
  /** HARD or SOFT, as written ("" when absent). */
  mode: "" | "HARD" | "SOFT";
  /** The session id, or null for a form pairgate refuses (QUERY ID, USER). */
  id: number | null;
}

/** Cheap test before lexing: does the text start (after blanks and comments) with KILL? */
export function mightBeKill(sql: string): boolean {
  for (let i = 0; i < sql.length; i++) {
    const c = sql.charCodeAt(i);
    if (c <= 32) continue;
    // A comment first: let the lexer decide.
    return c === 75 || c === 107 || c === 47 || c === 35 || c === 45;
  }
  return false;
}

/** A KILL statement, or null when `sql` is no KILL (then it is relayed as it is). */
export function parseKill(sql: string, dialect?: SqlDialect): KillRequest | null {
  const lx = new Lexer(sql, dialect);
  const word = () => (lx.type === TOK_WORD ? lx.text().toUpperCase() : "");
  lx.next();
  if (word() !== "KILL") return null;
  lx.next();
  let mode: KillRequest["mode"] = "";
  if (word() === "HARD" || word() === "SOFT") {
    mode = word() as "HARD" | "SOFT";
    lx.next();
  }
  let what: KillRequest["what"] = "CONNECTION";
  if (word() === "CONNECTION") lx.next();
  else if (word() === "QUERY") {
    what = "QUERY";
    lx.next();
    if (word() === "ID") return { what, mode, id: null };
  }
  if (word() === "USER") return { what, mode, id: null };
  if (lx.type !== TOK_NUMBER) return null; // an expression or a variable: the server decides
  const text = lx.text();
  if (!/^\d+$/.test(text)) return null;
  const end = lx.next() as number;
  if (!(end === TOK_EOF || (end === TOK_PUNCT && lx.ch === CH_SEMI))) return null;
  return { what, mode, id: Number(text) };
}

/** What the caller gets. */
export type KillOutcome = { ok: true; self: boolean } | { ok: false; code: 1094; message: string };

export function unknownThread(id: number | null): KillOutcome {
  return {
    ok: false,
    code: 1094,
    message:
      id === null
        ? "Unknown thread id: pairgate cannot map server query ids or KILL USER to its sessions; use KILL [QUERY|CONNECTION] <CONNECTION_ID()>"
        : `Unknown thread id: ${id}`,
  };
}

/**
 * Carry out `req` for a caller logged in as `caller.username`. `openSide` opens a side connection
 * to a backend as the caller (its credentials are the ones the backend knows).
 */
export async function kill(
  req: KillRequest,
  caller: { id: number; username: string },
  registry: KillRegistry,
  openSide: (role: Role) => Promise<BackendConnection>,
): Promise<KillOutcome> {
  if (req.id === null) return unknownThread(null);
  const target = registry.find(req.id);
  if (!target || target.username !== caller.username) return unknownThread(req.id);
  const self = target.id === caller.id;
  const backend = target.backendConnection();
  // The caller's own query cannot be running (it is sending this one); its KILL CONNECTION is
  // answered by the caller (ERR 1927 and a close), as the server does.
  if (backend && !self) {
    const side = await openSide(backend.role);
    try {
      const mode = req.mode ? `${req.mode} ` : "";
      await side
        .runQuery(`KILL ${mode}${req.what} ${backend.connectionId}`)
        .catch((e: Error & { errno?: number }) => {
          // The backend connection ended meanwhile (1094 from the server): the kill is done.
          if (e.errno !== 1094) throw e;
        });
    } finally {
      side.quit();
    }
  }
  if (req.what === "CONNECTION" && !self) target.close("killed by KILL CONNECTION from another session");
  return { ok: true, self };
}

/**
 * Runs on every COM_QUERY: one RegExp for the module (a literal in the function body is a new
 * RegExp object per call: an allocation per statement).
 */
const MENTIONS_CONNECTION_ID = /connection_id/i;

/**
 * `CONNECTION_ID()` calls in `sql` replaced by `id`, or null when there is none (the statement is
 * sent as it is). A call that is a whole select item gets `AS \`<the call as written>\``, so the
 * result's column name is the server's.
 */
export function rewriteConnectionId(sql: string, id: number, dialect?: SqlDialect): string | null {
  if (!MENTIONS_CONNECTION_ID.test(sql)) return null;
  const lx = new Lexer(sql, dialect);
  let out = "";
  let copied = 0;
  let prev = { type: TOK_EOF, ch: 0, word: "" };
  for (let t = lx.next(); t !== TOK_EOF; t = lx.next()) {
    const here = { type: t, ch: lx.ch, word: t === TOK_WORD ? lx.text().toUpperCase() : "" };
    if (here.word === "CONNECTION_ID" && !(prev.type === TOK_PUNCT && prev.ch === CH_DOT)) {
      const start = lx.start;
      const mark = lx.save();
      const open = lx.next() === TOK_PUNCT && lx.ch === CH_LPAREN;
      if (open && lx.next() === TOK_PUNCT && (lx.ch as number) === CH_RPAREN) {
        const end = lx.end;
        const afterMark = lx.save();
        const after = lx.next();
        const afterCh = lx.ch;
        const afterWord = after === TOK_WORD ? lx.text().toUpperCase() : "";
        lx.restore(afterMark);
        const itemStart = prev.word === "SELECT" || (prev.type === TOK_PUNCT && prev.ch === CH_COMMA);
        const itemEnd =
          after === TOK_EOF ||
          (after === TOK_PUNCT && (afterCh === CH_COMMA || afterCh === CH_SEMI)) ||
          afterWord === "FROM" ||
          afterWord === "INTO";
        const written = sql.slice(start, end);
        out += sql.slice(copied, start) + String(id);
        if (itemStart && itemEnd && !written.includes("`")) out += ` AS \`${written}\``;
        copied = end;
        prev = { type: TOK_PUNCT, ch: CH_RPAREN, word: "" };
        continue;
      }
      lx.restore(mark);
    }
    prev = here;
  }
  return copied === 0 ? null : out + sql.slice(copied);
}

/** The session side (handler.ts): answer a KILL or COM_PROCESS_KILL the client sent. */
export async function answerKill(
  x: Exchange,
  req: KillRequest,
  caller: { id: number; username: string; status(): number },
  registry: KillRegistry | undefined,
  openSide: (role: Role) => Promise<BackendConnection>,
): Promise<void> {
  x.wait("backend");
  let r: KillOutcome;
  try {
    r = await kill(req, caller, registry ?? { find: () => null }, openSide);
  } catch (e) {
    if (!x.closed) x.failWith(e);
    return;
  }
  if (x.closed) return;
  if (!r.ok) x.fail("PAIRGATE_UNKNOWN_THREAD", r.message);
  else if (r.self && req.what === "CONNECTION")
    x.fail("PAIRGATE_KILLED", "Connection was killed", 1, "KILL CONNECTION of its own session");
  else {
    x.write(framePayload(encodeOk({ statusFlags: caller.status() || SERVER_STATUS_AUTOCOMMIT }), 1));
    x.complete();
  }
}

/** A COM_QUERY packet's payload with `sql` (utf8) as its text. */
export function queryPayload(sql: string): Buffer {
  const b = Buffer.allocUnsafe(1 + Buffer.byteLength(sql, "utf8"));
  b[0] = COM_QUERY;
  b.write(sql, 1, "utf8");
  return b;
}

/**
 * The COM_QUERY `p` (text `sql`) with `CONNECTION_ID()` answered as the session's `id`: a packet
 * with another payload, framed anew when sent — or `p` itself when there is no call to replace, or
 * when the text did not decode as utf8 byte for byte (it is then sent as the client wrote it).
 */
export function withOwnConnectionId(p: Packet, sql: string, id: number, dialect?: SqlDialect): Packet {
  const own = rewriteConnectionId(sql, id, dialect);
  if (own === null || Buffer.byteLength(sql, "utf8") !== p.payload.length - 1) return p;
  const payload = queryPayload(own);
  return {
    seq: p.seq,
    lastSeq: p.lastSeq,
    payload,
    length: payload.length,
    first: payload[0]!,
    raw: null,
    rawParts: null,
  };
}

/** Opens a side connection to a backend as the session's user (the KILL runs there). */
export function sideConnectionAs(
  ctx: { target(role: Role): BackendTarget; connectTimeoutMs: number },
  who: SlotIdentity,
): (role: Role) => Promise<BackendConnection> {
  return (role) =>
    BackendConnection.open(
      ctx.target(role),
      {
        username: who.username,
        password: who.password,
        database: null,
        collation: who.state.collation,
        capabilities: 0,
        connectAttrs: null,
      },
      ctx.connectTimeoutMs,
    );
}
