/**
 * The session variables read back after a multi-statement or a routine: both lists in one query,
 * compared here (changed-variables.ts) — what the join of SESSION_VARIABLES and GLOBAL_VARIABLES
 * returned, without its quadratic cost on the server.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { changedVariables } from "../../src/session/changed-variables.js";

test("the variables whose session value differs from the global one, NULL-safe, session-only ones left out", () => {
  const rows: (string | null)[][] = [
    ["1", "MAX_SORT_LENGTH", "1234"],
    ["0", "MAX_SORT_LENGTH", "1024"],
    ["1", "SQL_MODE", "STRICT_TRANS_TABLES"],
    ["0", "SQL_MODE", "STRICT_TRANS_TABLES"],
    ["1", "CHARACTER_SET_RESULTS", null],
    ["0", "CHARACTER_SET_RESULTS", "utf8mb4"],
    ["1", "INIT_CONNECT", ""],
    ["0", "INIT_CONNECT", null],
    ["1", "TIMESTAMP", "1796680024.9"], // session-only: not in GLOBAL_VARIABLES
  ];
  assert.equal(changedVariables(rows), [
    ["max_sort_length", "1234"],
    ["character_set_results", ""],
    ["init_connect", ""],
  ]);
});

test.run();
