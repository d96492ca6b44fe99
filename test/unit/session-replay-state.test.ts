/**
 * SessionState (issue 19): what a move replays comes from the server's reports and is written
 * only as literals. Expressions never enter (there is no API that takes client text), one entry
 * per variable however many statements set it, guard variables never on the secondary, the
 * character sets last, user variables under SET NAMES utf8mb4.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { SessionState } from "../../src/session/replay-state.js";
import { classify } from "../../src/sql/classify.js";

test("tracked values become literals; one entry per name; autocommit from the status flags", () => {
  const s = new SessionState("passtrix", 45);
  for (let i = 0; i < 1000; i++) s.track("max_sort_length", String(1024 + i));
  s.track("sql_mode", "NO_BACKSLASH_ESCAPES,ANSI_QUOTES");
  s.track("time_zone", "+01:00");
  s.track("tx_isolation", "READ-COMMITTED");
  s.track("autocommit", "OFF");
  s.track("last_gtid", "0-1-5");
  s.track("optimizer_switch", "index_merge=on,x='y'\\");
  assert.is(s.variables.size, 5, "one entry per variable, the computed ones left out");
  assert.equal(s.replayStatements(false), [
    "SET SESSION `max_sort_length` = 2023, SESSION `sql_mode` = 'NO_BACKSLASH_ESCAPES,ANSI_QUOTES', SESSION `time_zone` = '+01:00', SESSION `tx_isolation` = 'READ-COMMITTED', SESSION `optimizer_switch` = _utf8mb4 X'696E6465785F6D657267653D6F6E2C783D2779275C', SESSION `autocommit` = 0",
  ]);
});

test("guard variables are never replayed on the secondary; the primary gets what the client set", () => {
  const s = new SessionState(null, 45);
  s.track("tx_read_only", "OFF");
  s.track("transaction_read_only", "OFF");
  s.track("sql_log_bin", "OFF");
  s.track("wait_timeout", "30");
  const secondary = s.replayStatements(true, true).join(";");
  assert.not.match(secondary, /read_only|sql_log_bin/);
  assert.match(secondary, /`wait_timeout` = 30/);
  assert.match(s.replayStatements(true, false).join(";"), /`tx_read_only` = 'OFF'/);
});

test("character sets last, in the server's order; NULL results; user variables under utf8mb4", () => {
  const s = new SessionState(null, 45);
  s.track("character_set_results", "");
  s.track("character_set_client", "gbk");
  s.track("collation_connection", "gbk_bin");
  s.track("character_set_connection", "gbk");
  s.setUserVariables(new Map([["a=1, @@global.read_only=0, @b", "1"]]), null);
  const out = s.replayStatements(true);
  assert.equal(out, [
    "SET NAMES utf8mb4",
    "SET @`a=1, @@global.read_only=0, @b` = 1",
    "SET SESSION `autocommit` = 1",
  ]);
  assert.is(
    s.charsetStatement(null),
    "SET SESSION `character_set_client` = 'gbk', SESSION `character_set_connection` = 'gbk', SESSION `collation_connection` = 'gbk_bin', SESSION `character_set_results` = NULL",
  );
  // Untracked character sets come back from the new connection's handshake values.
  const t = new SessionState(null, 45);
  t.setUserVariables(new Map([["x", "NULL"]]), null);
  assert.is(
    t.charsetStatement({
      character_set_client: "latin1",
      character_set_connection: "latin1",
      collation_connection: "latin1_swedish_ci",
      character_set_results: null,
    }),
    "SET SESSION `character_set_client` = 'latin1', SESSION `character_set_connection` = 'latin1', SESSION `collation_connection` = 'latin1_swedish_ci', SESSION `character_set_results` = NULL",
  );
});

test("what cannot be carried makes the session unmovable, with the reason", () => {
  const s = new SessionState(null, 45);
  assert.is(s.unmovable, null);
  s.track("init_connect_like", "x".repeat(70_000));
  assert.match(String(s.unmovable), /longer than/);
  const u = new SessionState(null, 45);
  u.setUserVariables(null, "more than 64 user variables (maxUserVariables)");
  assert.match(String(u.unmovable), /more than 64 user variables/);
  u.setUserVariables(new Map(), null);
  assert.is(u.unmovable, null, "a later read back that fits clears it");
});

test("a user variable set in a query no longer pins the session (it is read back); LOCK TABLES does", () => {
  const s = new SessionState(null, 45);
  s.apply(classify("SELECT @a := 1"));
  assert.is(s.pinnedBy, null);
  s.apply(classify("LOCK TABLES t READ"));
  assert.is(s.pinnedBy, "LOCK TABLES");
});

test.run();
