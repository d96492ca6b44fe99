/**
 * Who the session is: the login it replays on every new backend connection (user, credential,
 * capabilities, connection attributes) and its replayable state (SessionState: schema, variables,
 * prepared statements). One owner: it changes only through `loggedIn` (the login) and `changedUser`
 * (COM_CHANGE_USER); everything else reads it, and changes the state only through its methods.
 */
import type { Credential } from "../protocol/auth.js";
import { CLIENT_CONNECT_WITH_DB } from "../protocol/constants.js";
import { SessionState } from "./replay-state.js";
import type { SlotIdentity } from "./slot-types.js";

/** What the login established (frontend/handshake.ts), to start the command phase with. */
export interface SessionLogin {
  username: string;
  password: Credential;
  capabilities: number;
  database: string | null;
  collation: number;
  connectAttrs: Buffer | null;
  /** The greeting's scramble (COM_CHANGE_USER is checked against it, change-user.ts). */
  scramble?: Buffer;
  /** MariaDB extended capabilities agreed on at login. */
  mariadbCapabilities?: number;
}

export class SessionIdentity implements SlotIdentity {
  #username = "";
  #password: Credential = "";
  #capabilities = 0;
  #connectAttrs: Buffer | null = null;
  #mariadbCapabilities = 0;
  #scramble: Buffer | null = null;
  #state = new SessionState(null, 0);

  constructor(
    /** pairgate's id of this session (the greeting's; what KILL and CONNECTION_ID() mean). */
    readonly sessionId: number,
    /** The client's address (without the IPv4-mapped prefix). */
    readonly remoteAddress: string,
  ) {}

  get username(): string {
    return this.#username;
  }
  /** The password, or SHA1(password) for an account read from the servers (see protocol/auth.ts). */
  get password(): Credential {
    return this.#password;
  }
  get capabilities(): number {
    return this.#capabilities;
  }
  get connectAttrs(): Buffer | null {
    return this.#connectAttrs;
  }
  get mariadbCapabilities(): number {
    return this.#mariadbCapabilities;
  }
  /** The scramble of the connection's greeting (change-user.ts); null: a fresh one is sent. */
  get scramble(): Buffer | null {
    return this.#scramble;
  }
  /** The session state a move replays (replaced whole at a login or COM_CHANGE_USER). */
  get state(): SessionState {
    return this.#state;
  }

  loggedIn(login: SessionLogin): void {
    this.#username = login.username;
    this.#password = login.password;
    this.#capabilities = login.capabilities;
    this.#connectAttrs = login.connectAttrs;
    this.#mariadbCapabilities = login.mariadbCapabilities ?? 0;
    this.#state = new SessionState(
      login.capabilities & CLIENT_CONNECT_WITH_DB ? login.database : null,
      login.collation,
    );
    if (login.scramble) this.#scramble = login.scramble;
  }

  /** COM_CHANGE_USER succeeded: another user, and the session starts over (a fresh state). */
  changedUser(
    username: string,
    password: Credential,
    database: string | null,
    collation: number | null,
  ): void {
    this.#username = username;
    this.#password = password;
    this.#state = new SessionState(database, collation ?? this.#state.collation);
  }
}
