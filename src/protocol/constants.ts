/**
 * Protocol constants, named as in the MySQL client/server protocol documentation
 * (https://dev.mysql.com/doc/dev/mysql-server/latest/PAGE_PROTOCOL.html) and MariaDB's
 * (https://mariadb.com/kb/en/clientserver-protocol/).
 */

/** Capability flags (https://dev.mysql.com/doc/dev/mysql-server/latest/group__group__cs__capabilities__flags.html). */
export const CLIENT_LONG_PASSWORD = 0x1; // MariaDB calls this bit CLIENT_MYSQL
export const CLIENT_FOUND_ROWS = 0x2;
export const CLIENT_LONG_FLAG = 0x4;
export const CLIENT_CONNECT_WITH_DB = 0x8;
export const CLIENT_NO_SCHEMA = 0x10;
export const CLIENT_COMPRESS = 0x20;
export const CLIENT_ODBC = 0x40;
export const CLIENT_LOCAL_FILES = 0x80;
export const CLIENT_IGNORE_SPACE = 0x100;
export const CLIENT_PROTOCOL_41 = 0x200;
export const CLIENT_INTERACTIVE = 0x400;
export const CLIENT_SSL = 0x800;
export const CLIENT_IGNORE_SIGPIPE = 0x1000;
export const CLIENT_TRANSACTIONS = 0x2000;
export const CLIENT_RESERVED = 0x4000;
export const CLIENT_SECURE_CONNECTION = 0x8000;
export const CLIENT_MULTI_STATEMENTS = 0x10000;
export const CLIENT_MULTI_RESULTS = 0x20000;
export const CLIENT_PS_MULTI_RESULTS = 0x40000;
export const CLIENT_PLUGIN_AUTH = 0x80000;
export const CLIENT_CONNECT_ATTRS = 0x100000;
export const CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA = 0x200000;
export const CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS = 0x400000;
export const CLIENT_SESSION_TRACK = 0x800000;
export const CLIENT_DEPRECATE_EOF = 0x1000000;
export const CLIENT_OPTIONAL_RESULTSET_METADATA = 0x2000000;
export const CLIENT_QUERY_ATTRIBUTES = 0x8000000;

/**
 * What pairgate offers clients. Everything here is relayed verbatim between the two hops, so the
 * backend connection asks for the same bits the client got. Left out on purpose: COMPRESS (per hop,
 * not supported), SESSION_TRACK (our own OK packets would have to carry it), QUERY_ATTRIBUTES and
 * OPTIONAL_RESULTSET_METADATA (MySQL 8 only; MariaDB servers reject them).
 */
export const PROXY_CAPABILITIES =
  CLIENT_LONG_PASSWORD |
  CLIENT_FOUND_ROWS |
  CLIENT_LONG_FLAG |
  CLIENT_CONNECT_WITH_DB |
  CLIENT_NO_SCHEMA |
  CLIENT_ODBC |
  CLIENT_LOCAL_FILES |
  CLIENT_IGNORE_SPACE |
  CLIENT_PROTOCOL_41 |
  CLIENT_INTERACTIVE |
  CLIENT_IGNORE_SIGPIPE |
  CLIENT_TRANSACTIONS |
  CLIENT_RESERVED |
  CLIENT_SECURE_CONNECTION |
  CLIENT_MULTI_STATEMENTS |
  CLIENT_MULTI_RESULTS |
  CLIENT_PS_MULTI_RESULTS |
  CLIENT_PLUGIN_AUTH |
  CLIENT_CONNECT_ATTRS |
  CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
  CLIENT_CAN_HANDLE_EXPIRED_PASSWORDS |
  CLIENT_DEPRECATE_EOF;

/** Server status flags carried by OK and EOF packets. */
export const SERVER_STATUS_IN_TRANS = 0x1;
export const SERVER_STATUS_AUTOCOMMIT = 0x2;
export const SERVER_MORE_RESULTS_EXISTS = 0x8;
export const SERVER_STATUS_CURSOR_EXISTS = 0x40;
export const SERVER_STATUS_LAST_ROW_SENT = 0x80;
export const SERVER_STATUS_IN_TRANS_READONLY = 0x2000;
/** The OK packet carries session state changes (only on a hop that negotiated CLIENT_SESSION_TRACK). */
export const SERVER_SESSION_STATE_CHANGED = 0x4000;

/** Session state change types in an OK packet's session state info (MySQL `enum_session_state_type`). */
export const SESSION_TRACK_SYSTEM_VARIABLES = 0;
export const SESSION_TRACK_SCHEMA = 1;
export const SESSION_TRACK_STATE_CHANGE = 2;
export const SESSION_TRACK_GTIDS = 3;

/** Command bytes (https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_command_phase.html). */
export const COM_SLEEP = 0x00;
export const COM_QUIT = 0x01;
export const COM_INIT_DB = 0x02;
export const COM_QUERY = 0x03;
export const COM_FIELD_LIST = 0x04;
export const COM_CREATE_DB = 0x05;
export const COM_DROP_DB = 0x06;
export const COM_REFRESH = 0x07;
export const COM_SHUTDOWN = 0x08;
export const COM_STATISTICS = 0x09;
export const COM_PROCESS_INFO = 0x0a;
export const COM_CONNECT = 0x0b;
export const COM_PROCESS_KILL = 0x0c;
export const COM_DEBUG = 0x0d;
export const COM_PING = 0x0e;
export const COM_CHANGE_USER = 0x11;
export const COM_BINLOG_DUMP = 0x12;
export const COM_STMT_PREPARE = 0x16;
export const COM_STMT_EXECUTE = 0x17;
export const COM_STMT_SEND_LONG_DATA = 0x18;
/** MariaDB: one prepared statement executed for many parameter rows (MARIADB_CLIENT_STMT_BULK_OPERATIONS). */
export const COM_STMT_BULK_EXECUTE = 0xfa;

/** MariaDB extended capabilities (the greeting's and the response's reserved bytes, when bit 0 is clear). */
export const MARIADB_CLIENT_STMT_BULK_OPERATIONS = 0x4;
export const MARIADB_CLIENT_EXTENDED_METADATA = 0x8;
/** The extended capabilities pairgate passes through: it relays both byte for byte and routes bulk like EXECUTE. */
export const PASSED_MARIADB_CAPABILITIES =
  MARIADB_CLIENT_STMT_BULK_OPERATIONS | MARIADB_CLIENT_EXTENDED_METADATA;
export const COM_STMT_CLOSE = 0x19;
export const COM_STMT_RESET = 0x1a;
export const COM_SET_OPTION = 0x1b;
export const COM_STMT_FETCH = 0x1c;
export const COM_RESET_CONNECTION = 0x1f;

/** First byte of a response packet. */
export const OK_HEADER = 0x00;
export const EOF_HEADER = 0xfe;
export const ERR_HEADER = 0xff;
export const LOCAL_INFILE_HEADER = 0xfb;
export const AUTH_MORE_DATA_HEADER = 0x01;
export const AUTH_SWITCH_HEADER = 0xfe;

/** A payload this long continues in the next packet. */
export const MAX_PACKET_PAYLOAD = 0xffffff;

/** COM_STMT_EXECUTE flags. */
export const CURSOR_TYPE_NO_CURSOR = 0x00;

/** Errors pairgate sends itself, with the server's codes and SQLSTATEs. */
export const ER_CON_COUNT_ERROR = 1040; // 08004 Too many connections
export const ER_HOST_IS_BLOCKED = 1129; // HY000 Host is blocked because of many connection errors
export const ER_HANDSHAKE_ERROR = 1043; // 08S01 Bad handshake
export const ER_ACCESS_DENIED_ERROR = 1045; // 28000
export const ER_UNKNOWN_COM_ERROR = 1047; // 08S01
export const ER_NO_SUCH_THREAD = 1094; // HY000 Unknown thread id: %lu
export const ER_NOT_SUPPORTED_AUTH_MODE = 1251; // 08004
export const ER_NET_PACKET_TOO_LARGE = 1153; // 08S01
export const ER_NET_PACKETS_OUT_OF_ORDER = 1156; // 08S01
export const ER_NET_READ_INTERRUPTED = 1159; // 08S01 Got timeout reading communication packets
export const ER_OPTION_PREVENTS_STATEMENT = 1290; // HY000 --read-only
export const ER_NEED_REPREPARE = 1615; // HY000 "Prepared statement needs to be re-prepared"
export const ER_TABLEACCESS_DENIED_ERROR = 1142; // 42000 command denied on a table
export const ER_UNKNOWN_STMT_HANDLER = 1243; // HY000
export const ER_SECURE_TRANSPORT_REQUIRED = 3159; // HY000
export const ER_LOCK_OR_ACTIVE_TRANSACTION = 1192; // HY000
/** CR_SERVER_LOST-like: the backend went away. 2013 is the client's code; servers use 1927 (MariaDB ER_CONNECTION_KILLED, 70100). */
export const ER_CONNECTION_KILLED = 1927;
export const ER_QUERY_INTERRUPTED = 1317; // 70100
export const ER_SERVER_SHUTDOWN = 1053; // 08S01
export const ER_MALFORMED_PACKET = 1835; // HY000 Malformed communication packet
/** A table write inside a read-only transaction/session (`SET SESSION TRANSACTION READ ONLY`). */
export const ER_CANT_EXECUTE_IN_READ_ONLY_TRANSACTION = 1792; // 25006
/** mysys "Error writing file": pairgate's answer when an audit event cannot be made durable. */
export const EE_WRITE = 3; // HY000
/** The client library's "Can't connect to MySQL server": sent when no backend can be reached. */
export const CR_CONN_HOST_ERROR = 2003; // HY000

/** utf8mb4_general_ci: the collation pairgate announces in its handshake. */
export const DEFAULT_COLLATION_ID = 45;
