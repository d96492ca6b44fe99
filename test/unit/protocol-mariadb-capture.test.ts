/**
 * ResponseScanner on responses captured from a real MariaDB 10.11.19 (Debian 12) server, once
 * with the classic protocol and once with CLIENT_DEPRECATE_EOF. Captured by a throwaway client
 * over a unix socket that sent each command and took everything that arrived within 250 ms, so
 * where each response ends comes from the server, not from any parser. Capabilities asked for:
 * LONG_PASSWORD, LONG_FLAG, LOCAL_FILES, PROTOCOL_41, TRANSACTIONS, SECURE_CONNECTION,
 * MULTI_STATEMENTS, MULTI_RESULTS, PS_MULTI_RESULTS, PLUGIN_AUTH (+ DEPRECATE_EOF).
 *
 * Commands (tables t.x(a int) = 1,2,3 and t.y(a int, b varchar(10)) = (1,a),(2,b),(3,c),(3,d)):
 *   setup            CREATE DATABASE ...; CREATE TABLE ...; ... (7 statements, COM_QUERY)
 *   selectText       SELECT 1 AS a, NULL AS b, 'x' AS c UNION ALL SELECT 2, 'y', NULL
 *   begin            BEGIN
 *   selectInTrans    SELECT a FROM t.x
 *   multi            SELECT 1; SELECT 'two' AS b; DO 1
 *   commit           COMMIT
 *   errQuery         SELECT * FROM t.nope
 *   errMidRows       SELECT a, (SELECT b FROM t.y WHERE y.a = x.a) AS b FROM t.x ORDER BY a
 *                    (two rows, then ERR 1242 "Subquery returns more than 1 row")
 *   emptyResult      SELECT a FROM t.x WHERE a > 100
 *   infileRequest    LOAD DATA LOCAL INFILE 'f.csv' INTO TABLE t.x
 *   infileOk         (the server's answer after the client sent "7\n8\n" and an empty packet)
 *   prepare          COM_STMT_PREPARE SELECT a, ? AS p FROM t.x WHERE a > ?
 *   prepareNone      COM_STMT_PREPARE DO 1
 *   prepareParamsOnly COM_STMT_PREPARE INSERT INTO t.x VALUES (?)
 *   prepareColsOnly  COM_STMT_PREPARE SELECT a FROM t.x
 *   prepareErr       COM_STMT_PREPARE SELECT FROM
 *   execute          COM_STMT_EXECUTE of `prepare` with (5, 0)
 *   executeInsert    COM_STMT_EXECUTE of `prepareParamsOnly` with 9
 *   executeCursor    COM_STMT_EXECUTE of `prepareColsOnly` with CURSOR_TYPE_READ_ONLY
 *   fetch1, fetch2   COM_STMT_FETCH 2 rows, then 10 rows (cursor exhausted: LAST_ROW_SENT)
 *   initDb           COM_INIT_DB t
 *   fieldList        COM_FIELD_LIST y
 *   ping, statistics, setOption (COM_SET_OPTION: MariaDB answers with an EOF)
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ResponseKind, ResponseScanner } from "../../src/protocol/response-scanner.js";
import { chunkings, hex } from "../helpers/wire.js";

const classicCaptures: Record<string, string> = {
  setup: `
    070000010001000a000000070000020000000a000000070000030000000a000000070000040000002a00000007000005
    0000002a0000002e0000060003000a000000265265636f7264733a203320204475706c6963617465733a203020205761
    726e696e67733a20302e00000700040002000000265265636f7264733a203420204475706c6963617465733a20302020
    5761726e696e67733a2030
  `,
  selectText: `
    010000010317000002036465660000000161000c3f000200000003810000000017000003036465660000000162000c2d
    0004000000fd000027000017000004036465660000000163000c2d0004000000fd000027000005000005fe0000020005
    0000060131fb01780500000701320179fb05000008fe00000200
  `,
  begin: "0700000100000003000000",
  selectInTrans: `
    01000001011b00000203646566017401780178016101610c3f000b00000003000000000005000003fe00002300020000
    04013102000005013202000006013305000007fe00002300
  `,
  multi: `
    010000010117000002036465660000000131000c3f000100000003810000000005000003fe00000b0002000004013105
    000005fe00000b00010000060117000007036465660000000162000c2d000c000000fd010027000005000008fe00000b
    00040000090374776f0500000afe00000b000700000b00000003000000
  `,
  commit: "0700000100000002000000",
  errQuery: "25000001ff7a042334325330325461626c652027742e6e6f70652720646f65736e2774206578697374",
  errMidRows: `
    01000001021b00000203646566017401780178016101610c3f000b000000030000000000170000030364656600000001
    62000c2d0028000000fd000027000005000004fe000022000400000501310161040000060132016229000007ffda0423
    323130303053756271756572792072657475726e73206d6f7265207468616e203120726f77
  `,
  emptyResult: `
    01000001011b00000203646566017401780178016101610c3f000b00000003000000000005000003fe00002200050000
    04fe00002200
  `,
  infileRequest: "06000001fb662e637376",
  infileOk: `
    37000004000200020000002f5265636f7264733a2032202044656c657465643a20302020536b69707065643a20302020
    5761726e696e67733a2030
  `,
  prepare: `
    0c00000100010000000200020000000017000002036465660000000170000c3f00000000000680000000001700000303
    646566000000013f000c3f000000000006800000000005000004fe000002001b00000503646566017401780178016101
    610c3f000b00000003000000000017000006036465660000000170000c3f000000000006800000000005000007fe0000
    0200
  `,
  prepareNone: "0c000001000200000000000000000000",
  prepareParamsOnly: `
    0c0000010003000000000001000000001700000203646566000000013f000c3f000000000006800000000005000003fe
    00000200
  `,
  prepareColsOnly: `
    0c0000010004000000010000000000001b00000203646566017401780178016101610c3f000b00000003000000000005
    000003fe00000200
  `,
  prepareErr: `
    a1000001ff2804233432303030596f75206861766520616e206572726f7220696e20796f75722053514c2073796e7461
    783b20636865636b20746865206d616e75616c207468617420636f72726573706f6e647320746f20796f7572204d6172
    69614442207365727665722076657273696f6e20666f72207468652072696768742073796e74617820746f2075736520
    6e656172202746524f4d27206174206c696e652031
  `,
  execute: `
    01000001021b00000203646566017401780178016101610c3f000b000000030000000000170000030364656600000001
    70000c3f001500000008810000000005000004fe000022000e00000500000100000005000000000000000e0000060000
    0200000005000000000000000e00000700000300000005000000000000000e0000080000070000000500000000000000
    0e00000900000800000005000000000000000500000afe00002200
  `,
  executeInsert: "0700000100010002000000",
  executeCursor: "01000001011b00000203646566017401780178016101610c3f000b00000003000000000005000003fe00006200",
  fetch1: "060000010000010000000600000200000200000005000003fe00004200",
  fetch2: `
    0600000100000300000006000002000007000000060000030000080000000600000400000900000005000005fe000082
    00
  `,
  initDb: "0700000100000002000000",
  fieldList: `
    1c00000103646566017401790179016101610c3f000b000000030000000000fb1c000002036465660174017901790162
    01620c2d0028000000fd0000000000fb05000003fe00000200
  `,
  ping: "0700000100000002000000",
  statistics: `
    70000001557074696d653a2032312020546872656164733a203120205175657374696f6e733a2033312020536c6f7720
    717565726965733a203020204f70656e733a20313220204f70656e207461626c65733a20372020517565726965732070
    6572207365636f6e64206176673a20312e343736
  `,
  setOption: "05000001fe00000200",
};
const deprecateEofCaptures: Record<string, string> = {
  setup: `
    070000010000000a000100070000020000000a000100070000030000000a000100070000040006002a00000007000005
    0004002a0000002e0000060003000a000000265265636f7264733a203320204475706c6963617465733a203020205761
    726e696e67733a20302e00000700040002000000265265636f7264733a203420204475706c6963617465733a20302020
    5761726e696e67733a2030
  `,
  selectText: `
    010000010317000002036465660000000161000c3f000200000003810000000017000003036465660000000162000c2d
    0004000000fd000027000017000004036465660000000163000c2d0004000000fd0000270000050000050131fb017805
    00000601320179fb07000007fe000002000000
  `,
  begin: "0700000100000003000000",
  selectInTrans: `
    01000001011b00000203646566017401780178016101610c3f000b000000030000000000020000030131020000040132
    02000005013307000006fe000023000000
  `,
  multi: `
    010000010117000002036465660000000131000c3f000100000003810000000002000003013107000004fe00000b0000
    00010000050117000006036465660000000162000c2d000c000000fd0100270000040000070374776f07000008fe0000
    0b0000000700000900000003000000
  `,
  commit: "0700000100000002000000",
  errQuery: "25000001ff7a042334325330325461626c652027742e6e6f70652720646f65736e2774206578697374",
  errMidRows: `
    01000001021b00000203646566017401780178016101610c3f000b000000030000000000170000030364656600000001
    62000c2d0028000000fd00002700000400000401310161040000050132016229000006ffda0423323130303053756271
    756572792072657475726e73206d6f7265207468616e203120726f77
  `,
  emptyResult:
    "01000001011b00000203646566017401780178016101610c3f000b00000003000000000007000003fe000022000000",
  infileRequest: "06000001fb662e637376",
  infileOk: `
    37000004000200020000002f5265636f7264733a2032202044656c657465643a20302020536b69707065643a20302020
    5761726e696e67733a2030
  `,
  prepare: `
    0c00000100060000000200020000000017000002036465660000000170000c3f00000000000680000000001700000303
    646566000000013f000c3f00000000000680000000001b00000403646566017401780178016101610c3f000b00000003
    000000000017000005036465660000000170000c3f0000000000068000000000
  `,
  prepareNone: "0c000001000700000000000000000000",
  prepareParamsOnly: "0c0000010008000000000001000000001700000203646566000000013f000c3f0000000000068000000000",
  prepareColsOnly:
    "0c0000010009000000010000000000001b00000203646566017401780178016101610c3f000b000000030000000000",
  prepareErr: `
    a1000001ff2804233432303030596f75206861766520616e206572726f7220696e20796f75722053514c2073796e7461
    783b20636865636b20746865206d616e75616c207468617420636f72726573706f6e647320746f20796f7572204d6172
    69614442207365727665722076657273696f6e20666f72207468652072696768742073796e74617820746f2075736520
    6e656172202746524f4d27206174206c696e652031
  `,
  execute: `
    01000001021b00000203646566017401780178016101610c3f000b000000030000000000170000030364656600000001
    70000c3f00150000000881000000000e00000400000100000005000000000000000e0000050000020000000500000000
    0000000e00000600000300000005000000000000000e00000700000700000005000000000000000e0000080000080000
    00050000000000000007000009fe000022000000
  `,
  executeInsert: "0700000100010002000000",
  executeCursor:
    "01000001011b00000203646566017401780178016101610c3f000b00000003000000000007000003fe000062000000",
  fetch1: "060000010000010000000600000200000200000007000003fe000042000000",
  fetch2: `
    0600000100000300000006000002000007000000060000030000080000000600000400000900000007000005fe000082
    000000
  `,
  initDb: "0700000100000002000000",
  fieldList: `
    1c00000103646566017401790179016101610c3f000b000000030000000000fb1c000002036465660174017901790162
    01620c2d0028000000fd0000000000fb07000003fe000002000000
  `,
  ping: "0700000100000002000000",
  statistics: `
    70000001557074696d653a2032392020546872656164733a203120205175657374696f6e733a2036322020536c6f7720
    717565726965733a203020204f70656e733a20313220204f70656e207461626c65733a20372020517565726965732070
    6572207365636f6e64206176673a20322e313337
  `,
  setOption: "07000001fe000002000000",
};

const CLASSIC = 0x200;
const DEPRECATE = 0x200 | 0x1000000;

interface Expect {
  kind: ResponseKind;
  status: number;
  failed?: boolean;
  prepared?: { statementId: number; columns: number; params: number };
}

/** What each response must yield; `status` is read off the hex by hand (a fresh scanner starts at 0). */
function expectations(deprecateEof: boolean): Record<string, Expect> {
  const Q = ResponseKind.Query;
  return {
    setup: { kind: Q, status: 0x0002 },
    selectText: { kind: Q, status: 0x0002 },
    begin: { kind: Q, status: 0x0003 },
    selectInTrans: { kind: Q, status: 0x0023 },
    multi: { kind: Q, status: 0x0003 },
    commit: { kind: Q, status: 0x0002 },
    errQuery: { kind: Q, status: 0, failed: true },
    // Classic: the EOF after the column definitions said 0x0022 before the ERR came.
    errMidRows: { kind: Q, status: deprecateEof ? 0 : 0x0022, failed: true },
    emptyResult: { kind: Q, status: 0x0022 },
    infileOk: { kind: Q, status: 0x0002 },
    prepare: {
      kind: ResponseKind.Prepare,
      status: 0,
      prepared: { statementId: deprecateEof ? 6 : 1, columns: 2, params: 2 },
    },
    prepareNone: {
      kind: ResponseKind.Prepare,
      status: 0,
      prepared: { statementId: deprecateEof ? 7 : 2, columns: 0, params: 0 },
    },
    prepareParamsOnly: {
      kind: ResponseKind.Prepare,
      status: 0,
      prepared: { statementId: deprecateEof ? 8 : 3, columns: 0, params: 1 },
    },
    prepareColsOnly: {
      kind: ResponseKind.Prepare,
      status: 0,
      prepared: { statementId: deprecateEof ? 9 : 4, columns: 1, params: 0 },
    },
    prepareErr: { kind: ResponseKind.Prepare, status: 0, failed: true },
    execute: { kind: ResponseKind.Execute, status: 0x0022 },
    executeInsert: { kind: ResponseKind.Execute, status: 0x0002 },
    // SERVER_STATUS_CURSOR_EXISTS | 0x20 (no index used) | AUTOCOMMIT, and no rows.
    executeCursor: { kind: ResponseKind.Execute, status: 0x0062 },
    fetch1: { kind: ResponseKind.Fetch, status: 0x0042 },
    fetch2: { kind: ResponseKind.Fetch, status: 0x0082 },
    initDb: { kind: ResponseKind.Single, status: 0x0002 },
    // The scanner does not take status flags from COM_FIELD_LIST's EOF.
    fieldList: { kind: ResponseKind.FieldList, status: 0 },
    ping: { kind: ResponseKind.Single, status: 0x0002 },
    statistics: { kind: ResponseKind.Single, status: 0 },
    setOption: { kind: ResponseKind.Single, status: 0x0002 },
  };
}

for (const [mode, caps, captures] of [
  ["classic", CLASSIC, classicCaptures],
  ["CLIENT_DEPRECATE_EOF", DEPRECATE, deprecateEofCaptures],
] as const) {
  const expected = expectations(caps === DEPRECATE);

  test(`${mode}: every captured response ends exactly at its last byte`, () => {
    for (const [name, e] of Object.entries(expected)) {
      const bytes = hex(captures[name]);
      for (const { label, chunks } of chunkings(bytes, { byteByByte: true })) {
        const s = new ResponseScanner();
        s.begin(e.kind, caps);
        chunks.forEach((c, i) => {
          const last = i === chunks.length - 1;
          const r = s.feed(c);
          if (r !== last) assert.unreachable(`${name}, ${label}: chunk ${i + 1}/${chunks.length} → ${r}`);
          c.fill(0xee);
        });
        assert.is(s.status, e.status, `${name}, ${label}: status 0x${s.status.toString(16)}`);
        assert.is(s.failed, e.failed ?? false, `${name}, ${label}: failed`);
        assert.equal(s.prepared, e.prepared ?? null, `${name}, ${label}: prepared`);
      }
    }
  });

  test(`${mode}: LOCAL INFILE request, then the server's OK after the client's data`, () => {
    const request = hex(captures.infileRequest);
    const answer = hex(captures.infileOk);
    for (const { label, chunks } of chunkings(request, { byteByByte: true })) {
      const s = new ResponseScanner();
      s.begin(ResponseKind.Query, caps);
      for (const c of chunks) assert.is(s.feed(c), false, label);
      assert.is(s.awaitingClientData, true, label);
    }
    for (const { label, chunks } of chunkings(answer, { byteByByte: true })) {
      const s = new ResponseScanner();
      s.begin(ResponseKind.Query, caps);
      assert.is(s.feed(Buffer.from(request)), false);
      s.clientDataSent();
      chunks.forEach((c, i) => {
        assert.is(s.feed(c), i === chunks.length - 1, `${label}: chunk ${i + 1}`);
      });
      assert.is(s.status, 0x0002, label);
      assert.is(s.awaitingClientData, false, label);
    }
  });

  test(`${mode}: all responses back to back through one scanner, in 7-byte chunks`, () => {
    // One scanner for the whole conversation, as a session uses it; chunks straddle responses only
    // within one response here, since a server sends nothing before the next command.
    const s = new ResponseScanner();
    for (const [name, e] of Object.entries(expected)) {
      if (name === "infileOk") continue;
      const bytes = Buffer.from(hex(captures[name]));
      s.begin(e.kind, caps);
      for (let off = 0; off < bytes.length; off += 7) {
        const end = Math.min(bytes.length, off + 7);
        assert.is(s.feed(bytes.subarray(off, end)), end === bytes.length, `${name} at ${off}`);
      }
      if (e.status !== 0) assert.is(s.status, e.status, name);
    }
  });
}

test.run();
