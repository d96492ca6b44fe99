/**
 * What a session needs from the rest of the proxy; built once by proxy.ts (the composition root)
 * and shared by every session. Fields a reload changes are updated in place.
 */
import type { AccountStore } from "../accounts/store.js";
import type { Role } from "../backend/connection.js";
import type { ServerAuthPlugin } from "../frontend/authenticate.js";
import type { Logger } from "../observability/logger.js";
import type { Classification } from "../sql/index.js";
import type { SessionAudit } from "./audit-gate.js";
import type { LoopLimits } from "./command-loop.js";
import type { KillRegistry } from "./kill.js";
import type { SlotContext } from "./slot-types.js";

export interface SessionContext extends SlotContext, LoopLimits {
  logger: Logger;
  /** Users and their passwords, from the config (COM_CHANGE_USER checks against them). */
  users: ReadonlyMap<string, string>;
  /** The accounts read from the servers (COM_CHANGE_USER to a user not in `users`); absent or null when off. */
  accounts?: AccountStore | null;
  /** listen.authPlugin: the plugin COM_CHANGE_USER asks for, as the login does. */
  authPlugin(): ServerAuthPlugin;
  /** Users that completed a caching_sha2_password full authentication (shared with the listener). */
  sha2Cache: Set<string>;
  hooks: SessionHooks;
  /** The audit trail, when enabled. */
  audit: SessionAudit | null;
  /** `maxLexedStatement`: longer statement texts are not lexed (see src/sql/big-statement.ts). */
  maxLexedStatement: number;
  /** `maxPreparedStatements`: open prepared statements per session. */
  maxPreparedStatements: number;
  /** pairgate's sessions by id, for KILL (kill.ts); absent: every KILL gets 1094. */
  sessions?: KillRegistry;
}

/** Counters and timings; implemented by observability, called with plain numbers only. */
export interface SessionHooks {
  query(role: Role, kind: Classification["kind"], seconds: number): void;
  writeRejected(): void;
  authFailure(): void;
  backendConnections(role: Role, delta: number): void;
  /** pairgate relayed a statement that may change accounts (ALTER USER, GRANT, ...): read them again. */
  accountsMayHaveChanged?(): void;
}
