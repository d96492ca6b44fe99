/**
 * Finds where a server's response to one command ends, while the bytes stream through untouched.
 *
 * The relay hands every chunk the backend socket delivers to `feed` and forwards the same chunk to
 * the client. Only packet headers and the first bytes of each packet ("head") are looked at: enough
 * to tell OK / ERR / EOF / LOCAL INFILE from a row, to count column definitions and to read the
 * status flags of the packet that ends the response. Rows are never decoded or copied.
 *
 * Response shapes (https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_command_phase.html):
 * - text/binary result: column count, N column definitions, [EOF], rows, EOF-or-OK (0xFE);
 *   SERVER_MORE_RESULTS_EXISTS in the last status means another result follows.
 * - COM_STMT_PREPARE: PREPARE_OK, param definitions [EOF], column definitions [EOF].
 * - COM_FIELD_LIST: column definitions until EOF. Most other commands: one packet.
 * A packet with a 0xFFFFFF-byte payload continues in the next one; only the first part has a head.
 */
import {
  CLIENT_DEPRECATE_EOF,
  EOF_HEADER,
  ERR_HEADER,
  LOCAL_INFILE_HEADER,
  MAX_PACKET_PAYLOAD,
  OK_HEADER,
  SERVER_MORE_RESULTS_EXISTS,
  SERVER_SESSION_STATE_CHANGED,
  SERVER_STATUS_CURSOR_EXISTS,
} from "./constants.js";
import { lenencAt, okStatusAt } from "./messages.js";

/** What the command's response looks like. */
export enum ResponseKind {
  /** COM_QUERY: results, OK, ERR or LOCAL INFILE request. */
  Query = 1,
  /** COM_STMT_EXECUTE: binary results (or an open cursor), OK or ERR. */
  Execute = 2,
  /** COM_STMT_FETCH: rows then EOF/OK, or ERR. */
  Fetch = 3,
  Prepare = 4,
  FieldList = 5,
  /** A single packet: OK, ERR, EOF or a string (COM_PING, COM_STATISTICS, COM_SET_OPTION ...). */
  Single = 6,
}

enum Phase {
  First = 1,
  ColumnDefs = 2,
  ColumnsEof = 3,
  Rows = 4,
  PrepareParams = 5,
  PrepareParamsEof = 6,
  PrepareColumns = 7,
  PrepareColumnsEof = 8,
  FieldList = 9,
  Single = 10,
  /** The server asked for a local file; the client's data must flow before more response comes. */
  LocalInfile = 11,
  Done = 12,
}

/** Bytes of a packet's payload we look at: OK = 1 + 9 + 9 + 2 + 2. */
const HEAD_MAX = 24;

export class ResponseScanner {
  /** Status flags of the last OK/EOF seen; the transaction state comes from here. */
  status = 0;
  /** The response ended with an ERR packet. */
  failed = false;
  /** The response is complete. */
  done = true;
  /** The server sent a LOCAL INFILE request: the client's file packets go next. */
  awaitingClientData = false;
  /** Statement id, column and parameter counts from a PREPARE_OK. */
  prepared: { statementId: number; columns: number; params: number } | null = null;
  /** The error number of the ERR packet that ended the response (0 when it did not fail). */
  errno = 0;
  /** A result before the last one (multi-statement) carried session state (SERVER_SESSION_STATE_CHANGED). */
  earlierStateChange = false;

  private deprecateEof = false;
  private kind: ResponseKind = ResponseKind.Single;
  private phase: Phase = Phase.Done;
  private left = 0; // column or parameter definitions still to come
  private columnsAfterParams = 0;

  // Framing state, kept across chunks.
  private hdr = Buffer.alloc(4);
  private hdrHave = 0;
  private payloadLeft = 0;
  private packetLen = 0;
  private continuation = false;
  private head = Buffer.alloc(HEAD_MAX);
  private headHave = 0;
  private headWant = 0;

  /** Start scanning the response to a new command. */
  begin(kind: ResponseKind, capabilities: number): void {
    this.kind = kind;
    this.deprecateEof = (capabilities & CLIENT_DEPRECATE_EOF) !== 0;
    this.done = false;
    this.failed = false;
    this.awaitingClientData = false;
    this.prepared = null;
    this.errno = 0;
    this.earlierStateChange = false;
    this.hdrHave = 0;
    this.payloadLeft = 0;
    this.continuation = false;
    this.headWant = 0;
    this.phase =
      kind === ResponseKind.Prepare
        ? Phase.First
        : kind === ResponseKind.Fetch
          ? Phase.Rows
          : kind === ResponseKind.FieldList
            ? Phase.FieldList
            : kind === ResponseKind.Single
              ? Phase.Single
              : Phase.First;
  }

  /** Payload length of the last packet header seen (at the end of a response: its final packet). */
  get lastPacketLength(): number {
    return this.packetLen;
  }

  /**
   * After `feed` returned false: how many bytes at the end of what was fed so far belong to a packet
   * not yet complete that may be an ERR — its header or first payload byte not seen yet, or an ERR
   * whose head was seen — so that the relay can hold them back until the packet is whole (and then
   * replace a refusal of the server's: secondary-guard.ts). 0 for anything else (a row: its first
   * byte is never 0xFF), and for a packet longer than `max` payload bytes (an ERR never is).
   */
  pendingErrBytes(max: number): number {
    if (this.done) return 0;
    if (this.hdrHave > 0) return this.hdrHave; // a header cut short: any packet
    if (this.payloadLeft === 0 || this.continuation || this.packetLen > max) return 0;
    const got = 4 + this.packetLen - this.payloadLeft;
    if (this.headWant > 0) return this.headHave === 0 || this.head[0] === ERR_HEADER ? got : 0;
    return this.failed ? got : 0;
  }

  /** The client finished sending its LOCAL INFILE data: the server's OK/ERR comes next. */
  clientDataSent(): void {
    this.awaitingClientData = false;
    this.phase = Phase.First;
  }

  /**
   * Scan one chunk from the backend. Returns true when the response is complete at the end of
   * this chunk (a well-behaved server sends nothing more until the next command).
   */
  feed(buf: Buffer): boolean {
    const n = buf.length;
    let i = 0;
    while (i < n) {
      if (this.payloadLeft === 0 && this.headWant === 0) {
        // A packet header.
        let len: number;
        if (this.hdrHave === 0 && n - i >= 4) {
          len = buf[i] | (buf[i + 1] << 8) | (buf[i + 2] << 16);
          i += 4;
        } else {
          while (this.hdrHave < 4 && i < n) this.hdr[this.hdrHave++] = buf[i++];
          if (this.hdrHave < 4) break;
          this.hdrHave = 0;
          len = this.hdr[0] | (this.hdr[1] << 8) | (this.hdr[2] << 16);
        }
        this.packetLen = len;
        this.payloadLeft = len;
        const isContinuation = this.continuation;
        this.continuation = len === MAX_PACKET_PAYLOAD;
        if (!isContinuation) {
          this.headWant = Math.min(len, HEAD_MAX);
          this.headHave = 0;
          if (this.headWant === 0) this.onPacket(this.head, 0, 0);
        }
        continue;
      }
      if (this.headWant > 0) {
        if (this.headHave === 0 && n - i >= this.headWant) {
          // The whole head is in this chunk: look at it in place.
          this.headWant = 0;
          this.onPacket(buf, i, this.packetLen);
        } else {
          const take = Math.min(this.headWant - this.headHave, n - i);
          buf.copy(this.head, this.headHave, i, i + take);
          this.headHave += take;
          i += take;
          this.payloadLeft -= take;
          if (this.headHave === this.headWant) {
            this.headWant = 0;
            this.onPacket(this.head, 0, this.packetLen);
          }
          continue;
        }
      }
      const skip = Math.min(this.payloadLeft, n - i);
      i += skip;
      this.payloadLeft -= skip;
    }
    if (this.phase === Phase.Done && this.payloadLeft === 0 && this.hdrHave === 0 && !this.continuation) {
      this.done = true;
    }
    return this.done;
  }

  private onPacket(b: Buffer, off: number, len: number): void {
    const first = len > 0 ? b[off] : -1;
    switch (this.phase) {
      case Phase.First:
        if (first === OK_HEADER) {
          if (this.kind === ResponseKind.Prepare) {
            const columns = b.readUInt16LE(off + 5);
            const params = b.readUInt16LE(off + 7);
            this.prepared = { statementId: b.readUInt32LE(off + 1), columns, params };
            this.columnsAfterParams = columns;
            this.afterPrepareOk(params);
            return;
          }
          this.endWithStatus(okStatusAt(b, off));
        } else if (first === ERR_HEADER) {
          this.fail(b, off, len);
        } else if (
          first === LOCAL_INFILE_HEADER &&
          (this.kind === ResponseKind.Query || this.kind === ResponseKind.Execute)
        ) {
          // Also for a prepared LOAD DATA LOCAL (COM_STMT_EXECUTE): it hung here (issue 20).
          this.phase = Phase.LocalInfile;
          this.awaitingClientData = true;
        } else if (first === EOF_HEADER && len < 9) {
          this.endWithStatus(eofStatus(b, off, len));
        } else {
          this.left = lenencAt(b, off);
          this.phase = this.left > 0 ? Phase.ColumnDefs : Phase.Rows;
        }
        return;
      case Phase.ColumnDefs:
        if (--this.left === 0) this.phase = this.deprecateEof ? Phase.Rows : Phase.ColumnsEof;
        return;
      case Phase.ColumnsEof: {
        const status = eofStatus(b, off, len);
        this.status = status;
        // COM_STMT_EXECUTE that opened a cursor: no rows follow until COM_STMT_FETCH.
        this.phase =
          this.kind === ResponseKind.Execute && status & SERVER_STATUS_CURSOR_EXISTS
            ? Phase.Done
            : Phase.Rows;
        return;
      }
      case Phase.Rows:
        if (first === EOF_HEADER && len < MAX_PACKET_PAYLOAD) {
          this.endWithStatus(this.deprecateEof ? okStatusAt(b, off) : eofStatus(b, off, len));
        } else if (first === ERR_HEADER) {
          this.fail(b, off, len);
        }
        return;
      case Phase.PrepareParams:
        if (--this.left === 0) {
          if (this.deprecateEof) this.afterPrepareParams();
          else this.phase = Phase.PrepareParamsEof;
        }
        return;
      case Phase.PrepareParamsEof:
        this.afterPrepareParams();
        return;
      case Phase.PrepareColumns:
        if (--this.left === 0) this.phase = this.deprecateEof ? Phase.Done : Phase.PrepareColumnsEof;
        return;
      case Phase.PrepareColumnsEof:
        this.phase = Phase.Done;
        return;
      case Phase.FieldList:
        if (first === ERR_HEADER) {
          this.fail(b, off, len);
        } else if (first === EOF_HEADER && len < MAX_PACKET_PAYLOAD) {
          this.phase = Phase.Done;
        }
        return;
      case Phase.Single:
        if (first === ERR_HEADER) this.fail(b, off, len);
        else if (first === OK_HEADER) this.status = okStatusAt(b, off);
        else if (first === EOF_HEADER && len < 9) this.status = eofStatus(b, off, len);
        this.phase = Phase.Done;
        return;
      default:
        // Bytes after the end of a response, or during LOCAL INFILE: a protocol anomaly the
        // session will see as "not done"; nothing to track here.
        return;
    }
  }

  private afterPrepareOk(params: number): void {
    if (params > 0) {
      this.left = params;
      this.phase = Phase.PrepareParams;
    } else this.afterPrepareParams();
  }

  private afterPrepareParams(): void {
    if (this.columnsAfterParams > 0) {
      this.left = this.columnsAfterParams;
      this.phase = Phase.PrepareColumns;
    } else this.phase = Phase.Done;
  }

  private fail(b: Buffer, off: number, len: number): void {
    this.failed = true;
    this.errno = len >= 3 ? b[off + 1] | (b[off + 2] << 8) : 0;
    this.phase = Phase.Done;
  }

  private endWithStatus(status: number): void {
    this.status = status;
    if (status & SERVER_MORE_RESULTS_EXISTS) {
      // Session state reported by a result before the last one: already relayed, not read (issue 19).
      if (status & SERVER_SESSION_STATE_CHANGED) this.earlierStateChange = true;
      this.phase = Phase.First;
    } else this.phase = Phase.Done;
  }
}

function eofStatus(b: Buffer, off: number, len: number): number {
  return len >= 5 ? b.readUInt16LE(off + 3) : 0;
}
