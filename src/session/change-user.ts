/**
 * COM_CHANGE_USER: a new login inside the session. The client is asked to authenticate afresh
 * with the plugin the login uses (listen.authPlugin) through the same routine as the login; then
 * the session starts over (new state, a new backend connection as the new user).
 * https://dev.mysql.com/doc/dev/mysql-server/latest/page_protocol_com_change_user.html
 */
import { authenticate } from "../frontend/authenticate.js";
import { NATIVE_PASSWORD } from "../protocol/auth.js";
import { SERVER_STATUS_AUTOCOMMIT } from "../protocol/constants.js";
import { ServerError } from "../protocol/errors.js";
import { type ChangeUser, encodeOk } from "../protocol/messages.js";
import { framePayload } from "../protocol/packet.js";
import type { SessionContext } from "./context.js";
import type { Exchange } from "./exchange.js";
import type { SessionIdentity } from "./identity.js";
import type { StatementMap } from "./prepared-statements.js";
import type { SessionSlot } from "./slot-types.js";

/** What a change of user touches: who the session is, its backend, its statements. */
export interface ChangeUserParts {
  ctx: Pick<SessionContext, "authPlugin" | "users" | "accounts" | "sha2Cache" | "hooks">;
  who: SessionIdentity;
  slot: Pick<SessionSlot, "reset" | "login" | "status">;
  statements: Pick<StatementMap, "prepareFailed">;
  /** The client talks TLS (caching_sha2 full authentication needs it). */
  tls(): boolean;
}

export async function changeUser(x: Exchange, request: ChangeUser, parts: ChangeUserParts): Promise<void> {
  const { ctx, who, slot } = parts;
  x.wait("change_user");
  let replySeq = 1; // the answer to the command itself, until the authentication moves it on
  try {
    const scramble = who.scramble;
    const auth = await authenticate(
      { write: (payload, seq) => x.write(framePayload(payload, seq)), next: () => x.nextPacket() },
      {
        username: request.username,
        // The client's token is over the greeting's scramble, as with the server (which keeps one
        // scramble per connection): checked as it is when the client used the plugin pairgate asks
        // for (listen.authPlugin), else the client is asked again (auth switch) over the same
        // scramble. Connector/C answers an auth switch during COM_CHANGE_USER with a token over the
        // old scramble whatever the switch carried: a fresh one there was its 1045 (issue 20).
        answer: scramble
          ? (request.authPlugin ?? NATIVE_PASSWORD) === ctx.authPlugin()
            ? { plugin: ctx.authPlugin(), token: request.authResponse, scramble }
            : { plugin: "", token: Buffer.alloc(0), scramble }
          : null,
        seq: 1,
        secure: parts.tls(),
        plugin: ctx.authPlugin(),
        users: ctx.users,
        accounts: ctx.accounts ?? null,
        sha2Cache: ctx.sha2Cache,
        host: who.remoteAddress,
      },
    );
    replySeq = auth.seq;
    if (!auth.ok) {
      ctx.hooks.authFailure();
      // The code is the server's for the same refusal (1045, a locked account's 4151/3118, 1251).
      x.failWith(new ServerError(auth.errno, auth.sqlState, auth.message), auth.seq, "change user denied");
      return;
    }
    who.changedUser(request.username, auth.password, request.database || null, request.collation);
    parts.statements.prepareFailed(); // "the statement prepared last" names none in the new session
    slot.reset(SERVER_STATUS_AUTOCOMMIT);
    await slot.login(); // a primary that cannot be reached: the verdict, then the secondary
    if (x.closed) return;
    x.write(framePayload(encodeOk({ statusFlags: slot.status }), auth.seq));
    x.complete();
  } catch (e) {
    if (!x.closed) x.failWith(e, replySeq);
  }
}
