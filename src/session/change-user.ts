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
import { SessionState } from "../routing/session-state.js";
import type { SessionHandler } from "./handler.js";

export async function changeUser(h: SessionHandler, request: ChangeUser): Promise<void> {
  const { loop, slot, who, ctx } = h;
  loop.to("wait_change_user");
  let replySeq = 1; // the answer to the command itself, until the authentication moves it on
  try {
    const auth = await authenticate(
      { write: (payload, seq) => loop.write(framePayload(payload, seq)), next: () => loop.nextPacket() },
      {
        username: request.username,
        // The client's token is over the greeting's scramble, as with the server (which keeps one
        // scramble per connection): checked as it is when the client used the plugin pairgate asks
        // for (listen.authPlugin), else the client is asked again (auth switch) over the same
        // scramble. Connector/C answers an auth switch during COM_CHANGE_USER with a token over the
        // old scramble whatever the switch carried: a fresh one there was its 1045 (issue 20).
        answer: h.scramble
          ? (request.authPlugin ?? NATIVE_PASSWORD) === ctx.authPlugin()
            ? { plugin: ctx.authPlugin(), token: request.authResponse, scramble: h.scramble }
            : { plugin: "", token: Buffer.alloc(0), scramble: h.scramble }
          : null,
        seq: 1,
        secure: h.tls(),
        plugin: ctx.authPlugin(),
        users: ctx.users,
        accounts: ctx.accounts ?? null,
        sha2Cache: ctx.sha2Cache,
        host: h.remoteAddress,
      },
    );
    replySeq = auth.seq;
    if (!auth.ok) {
      ctx.hooks.authFailure();
      // The code is the server's for the same refusal (1045, a locked account's 4151/3118, 1251).
      loop.sendError(auth.seq, new ServerError(auth.errno, auth.sqlState, auth.message));
      h.close("change user denied");
      return;
    }
    who.username = request.username;
    who.password = auth.password;
    who.state = new SessionState(request.database || null, request.collation ?? who.state.collation);
    h.statements.prepareFailed(); // "the statement prepared last" names none in the new session
    slot.reset(SERVER_STATUS_AUTOCOMMIT);
    await slot.login(); // a primary that cannot be reached: the verdict, then the secondary
    loop.write(framePayload(encodeOk({ statusFlags: slot.status }), auth.seq));
  } catch (e) {
    loop.sendError(replySeq, e);
  } finally {
    if (!loop.closed) {
      loop.to("done");
      loop.pump();
    }
  }
}
