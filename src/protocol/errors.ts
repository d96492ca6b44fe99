/**
 * pairgate's errors: one base class, stable codes, and the one table that says which MySQL error
 * number and SQLSTATE a client sees for each (undici's habit: errors as classes with stable codes).
 *
 * Callers test `e.code`, never a message. Errors that reach a client are sent with `errPacketOf`,
 * so an error's wire form is decided here and nowhere else.
 */
import {
  CR_CONN_HOST_ERROR,
  EE_WRITE,
  ER_ACCESS_DENIED_ERROR,
  ER_CON_COUNT_ERROR,
  ER_CONNECTION_KILLED,
  ER_HANDSHAKE_ERROR,
  ER_MALFORMED_PACKET,
  ER_NEED_REPREPARE,
  ER_NET_PACKET_TOO_LARGE,
  ER_NET_PACKETS_OUT_OF_ORDER,
  ER_NET_READ_INTERRUPTED,
  ER_NO_SUCH_THREAD,
  ER_OPTION_PREVENTS_STATEMENT,
  ER_SECURE_TRANSPORT_REQUIRED,
  ER_SERVER_SHUTDOWN,
  ER_TABLEACCESS_DENIED_ERROR,
  ER_UNKNOWN_COM_ERROR,
  ER_UNKNOWN_STMT_HANDLER,
} from "./constants.js";

/** Every code, with the MySQL errno and SQLSTATE a client gets when the error reaches it. */
export const ERROR_CODES = {
  // The wire.
  PAIRGATE_PROTOCOL: { errno: ER_MALFORMED_PACKET, sqlState: "HY000" },
  PAIRGATE_PACKET_TOO_LARGE: { errno: ER_NET_PACKET_TOO_LARGE, sqlState: "08S01" },
  PAIRGATE_OUT_OF_ORDER: { errno: ER_NET_PACKETS_OUT_OF_ORDER, sqlState: "08S01" },
  PAIRGATE_READ_TIMEOUT: { errno: ER_NET_READ_INTERRUPTED, sqlState: "08S01" },
  PAIRGATE_UNKNOWN_COMMAND: { errno: ER_UNKNOWN_COM_ERROR, sqlState: "08S01" },
  PAIRGATE_UNKNOWN_STATEMENT: { errno: ER_UNKNOWN_STMT_HANDLER, sqlState: "HY000" },
  PAIRGATE_TOO_MANY_STATEMENTS: { errno: 1461, sqlState: "42000" },
  // Login.
  PAIRGATE_OLD_CLIENT: { errno: ER_HANDSHAKE_ERROR, sqlState: "08S01" },
  PAIRGATE_HANDSHAKE: { errno: ER_HANDSHAKE_ERROR, sqlState: "08S01" },
  PAIRGATE_AUTH_DENIED: { errno: ER_ACCESS_DENIED_ERROR, sqlState: "28000" },
  PAIRGATE_TLS_REQUIRED: { errno: ER_SECURE_TRANSPORT_REQUIRED, sqlState: "HY000" },
  PAIRGATE_TOO_MANY_CONNECTIONS: { errno: ER_CON_COUNT_ERROR, sqlState: "08004" },
  // Backends.
  PAIRGATE_BACKEND_UNREACHABLE: { errno: CR_CONN_HOST_ERROR, sqlState: "HY000" },
  PAIRGATE_BACKEND_TIMEOUT: { errno: CR_CONN_HOST_ERROR, sqlState: "HY000" },
  PAIRGATE_BACKEND_LOST: { errno: CR_CONN_HOST_ERROR, sqlState: "HY000" },
  PAIRGATE_BACKEND_ERROR: { errno: CR_CONN_HOST_ERROR, sqlState: "HY000" },
  PAIRGATE_BACKEND_NO_TLS: { errno: CR_CONN_HOST_ERROR, sqlState: "HY000" },
  PAIRGATE_BACKEND_TLS: { errno: CR_CONN_HOST_ERROR, sqlState: "HY000" },
  PAIRGATE_BACKEND_AUTH_PLUGIN: { errno: CR_CONN_HOST_ERROR, sqlState: "HY000" },
  /** An error the server sent; its own errno and SQLSTATE travel with it (ServerError). */
  PAIRGATE_SERVER: { errno: CR_CONN_HOST_ERROR, sqlState: "HY000" },
  // Sessions and routing.
  PAIRGATE_READ_ONLY: { errno: ER_OPTION_PREVENTS_STATEMENT, sqlState: "HY000" },
  PAIRGATE_DOWN: { errno: CR_CONN_HOST_ERROR, sqlState: "HY000" },
  PAIRGATE_TRANSACTION_LOST: { errno: ER_CONNECTION_KILLED, sqlState: "70100" },
  PAIRGATE_STATEMENT_LOST: { errno: ER_CONNECTION_KILLED, sqlState: "70100" },
  /** KILL of a session id that is not one of the caller's user's sessions (the server's 1094). */
  PAIRGATE_UNKNOWN_THREAD: { errno: ER_NO_SUCH_THREAD, sqlState: "HY000" },
  /** KILL CONNECTION of the caller's own session. */
  PAIRGATE_KILLED: { errno: ER_CONNECTION_KILLED, sqlState: "70100" },
  PAIRGATE_SESSION_PINNED: { errno: CR_CONN_HOST_ERROR, sqlState: "HY000" },
  /** A prepared statement cannot be prepared again under the dialect it was prepared in (issue 19). */
  PAIRGATE_STATEMENT_DIALECT: { errno: ER_NEED_REPREPARE, sqlState: "HY000" },
  PAIRGATE_SHUTDOWN: { errno: ER_SERVER_SHUTDOWN, sqlState: "08S01" },
  PAIRGATE_AUDIT_REFUSED: { errno: EE_WRITE, sqlState: "HY000" },
  /** audit.unresolved = refuse: pairgate cannot tell whether the statement reads an audited table. */
  PAIRGATE_AUDIT_UNRESOLVED: { errno: ER_TABLEACCESS_DENIED_ERROR, sqlState: "42000" },
  // The audit journal: a statement whose event cannot be made durable is refused with EE_WRITE.
  PAIRGATE_AUDIT_JOURNAL_FAILED: { errno: EE_WRITE, sqlState: "HY000" },
  PAIRGATE_AUDIT_JOURNAL_LOCKED: { errno: EE_WRITE, sqlState: "HY000" },
  // Never sent to a client (operators see them).
  PAIRGATE_CONFIG_INVALID: { errno: 0, sqlState: "HY000" },
  PAIRGATE_INTERNAL: { errno: 0, sqlState: "HY000" },
  PAIRGATE_PROBE_TIMEOUT: { errno: 0, sqlState: "HY000" },
  PAIRGATE_ADMIN_HTTP: { errno: 0, sqlState: "HY000" },
  PAIRGATE_USAGE: { errno: 0, sqlState: "HY000" },
  // The lab (npm start, the tests' servers).
  PAIRGATE_LAB_KILL: { errno: 0, sqlState: "HY000" },
  PAIRGATE_LAB_NO_MARIADB: { errno: 0, sqlState: "HY000" },
  PAIRGATE_LAB_NOT_SET_UP: { errno: 0, sqlState: "HY000" },
  PAIRGATE_LAB_OPTIONS: { errno: 0, sqlState: "HY000" },
  PAIRGATE_LAB_REPLICATION: { errno: 0, sqlState: "HY000" },
  PAIRGATE_LAB_START: { errno: 0, sqlState: "HY000" },
  PAIRGATE_LAB_STOP: { errno: 0, sqlState: "HY000" },
  PAIRGATE_LAB_TEMPLATE: { errno: 0, sqlState: "HY000" },
  PAIRGATE_LAB_TLS: { errno: 0, sqlState: "HY000" },
  PAIRGATE_LAB_NOT_SITES: { errno: 0, sqlState: "HY000" },
  PAIRGATE_LAB_WAN: { errno: 0, sqlState: "HY000" },
  // The replication commands (setup, check, promote).
  PAIRGATE_PROMOTE_NOT_APPLIED: { errno: 0, sqlState: "HY000" },
  PAIRGATE_PROMOTE_PRIMARY_ALIVE: { errno: 0, sqlState: "HY000" },
  PAIRGATE_REPL_ADDRESS: { errno: 0, sqlState: "HY000" },
  PAIRGATE_REPL_CA: { errno: 0, sqlState: "HY000" },
  PAIRGATE_REPL_INTERRUPTED: { errno: 0, sqlState: "HY000" },
  PAIRGATE_REPL_IO_ERROR: { errno: 0, sqlState: "HY000" },
  PAIRGATE_REPL_NO_CLIENT: { errno: 0, sqlState: "HY000" },
  PAIRGATE_REPL_NO_GTID: { errno: 0, sqlState: "HY000" },
  PAIRGATE_REPL_NOT_REPLICA: { errno: 0, sqlState: "HY000" },
  PAIRGATE_REPL_OTHER_PRIMARY: { errno: 0, sqlState: "HY000" },
  PAIRGATE_REPL_PREFLIGHT: { errno: 0, sqlState: "HY000" },
  PAIRGATE_REPL_SAME_SERVER: { errno: 0, sqlState: "HY000" },
  PAIRGATE_REPL_SECONDARY_HAS_DATA: { errno: 0, sqlState: "HY000" },
  PAIRGATE_REPL_SEED: { errno: 0, sqlState: "HY000" },
  PAIRGATE_REPL_SQL_ERROR: { errno: 0, sqlState: "HY000" },
  PAIRGATE_REPL_TIMEOUT: { errno: 0, sqlState: "HY000" },
  PAIRGATE_REPL_UNREACHABLE: { errno: 0, sqlState: "HY000" },
} as const satisfies Record<string, { errno: number; sqlState: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

/** The base of pairgate's errors: a stable `code`, and the errno/SQLSTATE a client sees for it. */
export class PairgateError extends Error {
  readonly code: ErrorCode;

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
    this.code = code;
  }

  get errno(): number {
    return ERROR_CODES[this.code].errno;
  }

  get sqlState(): string {
    return ERROR_CODES[this.code].sqlState;
  }
}

/** A server error as a JS error, keeping the server's own code and SQLSTATE. */
export class ServerError extends PairgateError {
  constructor(
    private readonly serverErrno: number,
    private readonly serverSqlState: string,
    message: string,
  ) {
    super("PAIRGATE_SERVER", message);
  }

  override get errno(): number {
    return this.serverErrno;
  }

  override get sqlState(): string {
    return this.serverSqlState;
  }
}

/** What a client gets for `e`: pairgate's and the server's errors as coded, anything else as 2003. */
export function errPacketOf(e: unknown): { code: number; sqlState: string; message: string } {
  if (e instanceof PairgateError) return { code: e.errno, sqlState: e.sqlState, message: e.message };
  return { code: CR_CONN_HOST_ERROR, sqlState: "HY000", message: (e as Error)?.message ?? String(e) };
}
