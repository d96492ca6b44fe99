/**
 * The server-side guard on the secondary (defence in depth, issue 11): every backend connection to
 * the secondary runs `SET SESSION TRANSACTION READ ONLY` (MariaDB's `tx_read_only = 1`) before it
 * serves a statement, so a write pairgate's classifier did not see — a stored function with side
 * effects, SQL hidden where pairgate reads it differently — fails on the server itself with 1792,
 * even for users with SUPER / READ_ONLY ADMIN that `read_only` lets through.
 *
 * Where the guard could be lifted, it is put back or never lifted:
 * - a new connection (login, move, retry, COM_CHANGE_USER): `sessionSetup` runs and is confirmed
 *   (`@@session.tx_read_only` read back) before anything else — the state replay included;
 * - the replay onto the secondary never sets a guard variable, and writes only literals;
 * - statements that would lift it (`Classification.neverSecondary`, read from lexer tokens) are
 *   routed as writes;
 * - whatever the text looked like, the server's own report decides (issue 19): every connection
 *   tracks `tx_read_only` / `transaction_read_only` in its OK packets; an OK on the secondary that
 *   reports the guard lifted has it set again and confirmed before the next statement is relayed,
 *   or the connection is dropped (BackendSlot.finish). The statement that lifted it wrote nothing;
 *   a write in the same multi-statement fails on `read_only` for the rest, and is refused up front
 *   because its text names a guard variable;
 * - the server does not report everything: a routine's `SET @@tx_read_only = 0` or `SET TRANSACTION
 *   READ WRITE` makes the next transaction read-write, unreported and invisible in
 *   @@session.tx_read_only; so after every statement that ran a routine the guard is set again;
 * - COM_RESET_CONNECTION resets session variables: the guard is set again before the next command.
 */
import type { Role } from "../backend/connection.js";
import { ERROR_CODES } from "../protocol/errors.js";
import { encodeErr } from "../protocol/messages.js";
import { framePayload } from "../protocol/packet.js";
import type { ResponseScanner } from "../protocol/response-scanner.js";
import { READ_ONLY_MESSAGE, type ReadProofOptions } from "../routing/router.js";

/** Run on every new connection to the secondary, before anything else. Fails the connect on ERR. */
export const SECONDARY_SETUP: readonly string[] = Object.freeze(["SET SESSION TRANSACTION READ ONLY"]);
const NO_SETUP: readonly string[] = Object.freeze([]);

/** `SlotContext.sessionSetup`: the guard for the secondary, nothing for the primary. */
export function guardSetup(role: Role): readonly string[] {
  return role === "secondary" ? SECONDARY_SETUP : NO_SETUP;
}

/** For statements headed to a guarded secondary: routine-calling reads may run there. */
export const GUARDED: ReadProofOptions = Object.freeze({ serverReadOnly: true });

/**
 * Errnos with which the secondary refuses a write itself: read-only transaction (1792,
 * ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION), `read_only` (1290, ER_OPTION_PREVENTS_STATEMENT),
 * read-only mode (1836, ER_READ_ONLY_MODE). The client gets pairgate's 1290 instead.
 */
export function isGuardRefusal(errno: number): boolean {
  return errno === 1792 || errno === 1290 || errno === 1836;
}

/**
 * A response that is exactly one ERR packet (header + 0xFF payload) carrying a guard refusal, or
 * -1: its sequence id, so pairgate's own ERR replaces it in place.
 */
export function guardRefusalSeq(chunk: Buffer): number {
  if (chunk.length < 7 || chunk[4] !== 0xff) return -1;
  const len = chunk[0] | (chunk[1] << 8) | (chunk[2] << 16);
  if (chunk.length !== len + 4) return -1;
  return isGuardRefusal(chunk[5] | (chunk[6] << 8)) ? chunk[3] : -1;
}

/**
 * A response whose earlier results already went out (a multi-statement's first result, a
 * procedure's result set, rows held for an audit event) and that ends with the secondary's own
 * refusal: `chunk` with that trailing ERR — its last `4 + errLength` bytes, `errLength` being the
 * scanner's last packet length — replaced by pairgate's 1290 under the same sequence id, so the
 * client reads the refusal as everywhere else. The protocol allows it: an ERR may end a result
 * set or a multi-result response at any point, and only its own bytes change. null when the ERR
 * does not lie whole in this chunk — which the relay avoids by holding back the first bytes of a
 * packet that may be an ERR when a read ends inside it (ResponseScanner.pendingErrBytes); the
 * server's own ERR would then go through unchanged, still an error that ends the statement.
 */
export function withGuardRefusalReplaced(chunk: Buffer, errLength: number): Buffer | null {
  const at = chunk.length - 4 - errLength;
  if (at < 0 || errLength < 3 || chunk[at + 4] !== 0xff) return null;
  if ((chunk[at] | (chunk[at + 1] << 8) | (chunk[at + 2] << 16)) !== errLength) return null;
  if (!isGuardRefusal(chunk[at + 5] | (chunk[at + 6] << 8))) return null;
  const e = ERROR_CODES.PAIRGATE_READ_ONLY;
  const err = framePayload(
    encodeErr({ code: e.errno, sqlState: e.sqlState, message: READ_ONLY_MESSAGE }),
    chunk[at + 3]!,
  );
  return Buffer.concat([chunk.subarray(0, at), err]);
}

/** An ERR packet's payload is at most 1 + 2 + 6 + 512 bytes (MariaDB's messages: MYSQL_ERRMSG_SIZE). */
const ERR_PAYLOAD_MAX = 1024;

/**
 * The first bytes of a secondary's packet that may be an ERR, held back when a read ends inside
 * it, so that the whole refusal can still become pairgate's 1290 (withGuardRefusalReplaced)
 * however the network cut it. At most an ERR's length is ever held.
 */
export class CutErrHold {
  private held: Buffer | null = null;

  clear(): void {
    this.held = null;
  }

  /** `chunk` with the bytes held from the previous read in front of it. */
  join(chunk: Buffer): Buffer {
    if (this.held === null) return chunk;
    const whole = Buffer.concat([this.held, chunk]);
    this.held = null;
    return whole;
  }

  /** `chunk` less the first bytes of a packet in it that may be an ERR, kept for the next read. */
  keepTail(chunk: Buffer, scanner: ResponseScanner): Buffer {
    const pending = scanner.pendingErrBytes(ERR_PAYLOAD_MAX);
    if (pending <= 0 || pending > chunk.length) return chunk;
    this.held = Buffer.from(chunk.subarray(chunk.length - pending));
    return chunk.subarray(0, chunk.length - pending);
  }
}

/** Tracked variables that hold the guard: the session is read-only while they are ON. */
const GUARD_TRACKED = new Set(["tx_read_only", "transaction_read_only"]);

/** Does a tracked `name = value` (from an OK's session state) say the guard was lifted? */
export function isGuardLifted(name: string, value: string): boolean {
  return GUARD_TRACKED.has(name) && value !== "ON" && value !== "1";
}
