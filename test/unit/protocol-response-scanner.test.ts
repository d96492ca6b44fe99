/**
 * ResponseScanner against responses built with the independent builder in test/helpers/wire.ts.
 * Every response is fed whole, cut in two at every split point, and (when small) byte by byte:
 * `feed` must answer true for the chunk holding the last byte and false for every chunk before.
 * Each chunk is scribbled over once fed, as a reused socket read buffer would be.
 */
import { test } from "uvu";
import * as assert from "uvu/assert";
import { ResponseKind, ResponseScanner } from "../../src/protocol/response-scanner.js";
import {
  type Bytes,
  binaryRowPayload,
  chunkings,
  columnDefPayload,
  eofPayload,
  errPayload,
  lenenc,
  localInfilePayload,
  okPayload,
  packets,
  prepareResponsePayloads,
  resultSetPayloads,
  str,
  terminatorPayload,
  textRowPayload,
} from "../helpers/wire.js";

// Spec values, written out here rather than imported, so a wrong constant in src would show.
const CLIENT_PROTOCOL_41 = 0x200;
const CLIENT_DEPRECATE_EOF = 0x1000000;
const IN_TRANS = 0x0001;
const AUTOCOMMIT = 0x0002;
const MORE_RESULTS = 0x0008;
const CURSOR_EXISTS = 0x0040;
const LAST_ROW_SENT = 0x0080;

const CLASSIC = CLIENT_PROTOCOL_41;
const DEPRECATE = CLIENT_PROTOCOL_41 | CLIENT_DEPRECATE_EOF;
const MODES = [
  { name: "classic EOF", caps: CLASSIC, deprecateEof: false },
  { name: "CLIENT_DEPRECATE_EOF", caps: DEPRECATE, deprecateEof: true },
] as const;

interface Expect {
  status: number;
  failed?: boolean;
  prepared?: { statementId: number; columns: number; params: number } | null;
  awaitingClientData?: boolean;
}

/** Whole responses up to this size are also fed one byte at a time. */
const BYTE_BY_BYTE_MAX = 4096;

/**
 * Feeds `bytes` in every chunking and checks that the response ends exactly at its last byte.
 * `done` is the expected answer at the end (false only for a LOCAL INFILE request).
 */
function scan(
  kind: ResponseKind,
  caps: number,
  bytes: Bytes,
  expect: Expect,
  opts: { done?: boolean; initialStatus?: number } = {},
): void {
  const endsDone = opts.done ?? true;
  for (const { label, chunks } of chunkings(bytes, { byteByByte: bytes.length <= BYTE_BY_BYTE_MAX })) {
    const s = new ResponseScanner();
    if (opts.initialStatus !== undefined) s.status = opts.initialStatus;
    s.begin(kind, caps);
    assert.is(s.done, false, `${label}: begin() must clear done`);
    chunks.forEach((chunk, i) => {
      const last = i === chunks.length - 1;
      const r = s.feed(chunk);
      const want = last && endsDone;
      if (r !== want || s.done !== want) {
        assert.unreachable(
          `${label}: chunk ${i + 1}/${chunks.length} → feed()=${r}, done=${s.done}, want ${want}`,
        );
      }
      chunk.fill(0xee);
    });
    check(s, expect, label);
  }
}

function check(s: ResponseScanner, expect: Expect, label: string): void {
  assert.is(s.status, expect.status, `${label}: status 0x${s.status.toString(16)}`);
  assert.is(s.failed, expect.failed ?? false, `${label}: failed`);
  assert.equal(s.prepared, expect.prepared ?? null, `${label}: prepared`);
  assert.is(s.awaitingClientData, expect.awaitingClientData ?? false, `${label}: awaitingClientData`);
}

const ok = (status: number, extra: Partial<Parameters<typeof okPayload>[0]> = {}) =>
  okPayload({ status, ...extra });

// ---------------------------------------------------------------- single-packet answers

test("OK to a query: status flags come from the OK", () => {
  for (const m of MODES) {
    scan(ResponseKind.Query, m.caps, packets([ok(IN_TRANS | AUTOCOMMIT, { affectedRows: 1 })]), {
      status: IN_TRANS | AUTOCOMMIT,
    });
    scan(ResponseKind.Query, m.caps, packets([ok(AUTOCOMMIT)]), { status: AUTOCOMMIT }, { initialStatus: 3 });
  }
});

test("OK with multi-byte length-encoded affected rows / insert id and an info string", () => {
  const cases = [
    { affectedRows: 250, lastInsertId: 251 },
    { affectedRows: 0xffff, lastInsertId: 0x10000 },
    { affectedRows: 0xffffff, lastInsertId: 0x1000000 },
    { affectedRows: 2 ** 40, lastInsertId: 2 ** 53 - 1 },
  ];
  for (const c of cases) {
    const payload = ok(IN_TRANS, { ...c, warnings: 3, info: "Rows matched: 1  Changed: 1  Warnings: 3" });
    scan(ResponseKind.Query, CLASSIC, packets([payload]), { status: IN_TRANS });
  }
});

test("ERR to a query: failed, status keeps the last known flags", () => {
  for (const m of MODES) {
    const bytes = packets([errPayload(1146, "42S02", "Table 'db.nope' doesn't exist")]);
    scan(ResponseKind.Query, m.caps, bytes, { status: 0, failed: true });
    scan(ResponseKind.Query, m.caps, bytes, { status: 3, failed: true }, { initialStatus: 3 });
  }
});

test("single-packet commands: OK, ERR, EOF (MariaDB's COM_SET_OPTION) and a plain string", () => {
  scan(ResponseKind.Single, CLASSIC, packets([ok(AUTOCOMMIT)]), { status: AUTOCOMMIT });
  scan(ResponseKind.Single, CLASSIC, packets([errPayload(1047, "08S01", "Unknown command")]), {
    status: 0,
    failed: true,
  });
  scan(ResponseKind.Single, CLASSIC, packets([eofPayload(IN_TRANS | AUTOCOMMIT)]), {
    status: IN_TRANS | AUTOCOMMIT,
  });
  scan(ResponseKind.Single, DEPRECATE, packets([eofPayload(AUTOCOMMIT)]), { status: AUTOCOMMIT });
  // COM_STATISTICS answers with a bare string; a long one passes the scanner's look-ahead.
  const stats = str("Uptime: 21  Threads: 1  Questions: 31  Slow queries: 0  Opens: 12  Open tables: 7");
  scan(ResponseKind.Single, CLASSIC, packets([stats]), { status: 5 }, { initialStatus: 5 });
  scan(ResponseKind.Single, CLASSIC, packets([str("U")]), { status: 0 });
});

// ---------------------------------------------------------------- text result sets

const threeColumns = ["id", "name", "note"];
const someRows: (string | null)[][] = [
  ["1", "alice", null],
  ["2", null, "x".repeat(300)],
  [null, "", "é"],
];

test("text result set: column count, definitions, [EOF], rows, EOF or 0xFE-OK", () => {
  for (const m of MODES) {
    const payloads = resultSetPayloads({
      columns: threeColumns,
      rows: someRows,
      deprecateEof: m.deprecateEof,
      status: IN_TRANS | AUTOCOMMIT,
    });
    scan(ResponseKind.Query, m.caps, packets(payloads), {
      status: IN_TRANS | AUTOCOMMIT,
    });
  }
});

test("text result set with no rows", () => {
  for (const m of MODES) {
    const payloads = resultSetPayloads({
      columns: ["a"],
      rows: [],
      deprecateEof: m.deprecateEof,
      status: 0x22,
    });
    scan(ResponseKind.Query, m.caps, packets(payloads), { status: 0x22 });
  }
});

test("a column count written as an 8-byte length-encoded integer (0xFE prefix, 9 bytes)", () => {
  // Legal though no server sends it for small counts: the count must be read from all 8 bytes and
  // the 9-byte packet not be taken for an EOF (which is shorter than 9 bytes).
  for (const m of MODES) {
    const payloads = resultSetPayloads({
      columns: threeColumns,
      rows: someRows,
      deprecateEof: m.deprecateEof,
      status: AUTOCOMMIT,
    });
    payloads[0] = [0xfe, 3, 0, 0, 0, 0, 0, 0, 0];
    scan(ResponseKind.Query, m.caps, packets(payloads), { status: AUTOCOMMIT });
  }
});

test("rows that start like other packets (NULL = 0xFB, empty string, 250/251-byte values)", () => {
  for (const m of MODES) {
    const rows: (string | null)[][] = [
      [null, null],
      ["", ""],
      ["a".repeat(250), "b"],
      ["a".repeat(251), null],
      ["c".repeat(0xffff), "d"],
      ["e".repeat(0x10000), ""],
    ];
    const payloads = resultSetPayloads({
      columns: ["a", "b"],
      rows,
      deprecateEof: m.deprecateEof,
      status: 2,
    });
    const bytes = packets(payloads);
    // Too big to cut everywhere in reasonable time: cut around every packet header instead.
    const points: number[] = [];
    let off = 0;
    for (const p of payloads) {
      for (let d = -2; d <= 30; d++) points.push(off + d);
      off += 4 + p.length;
    }
    for (const { label, chunks } of chunkings(bytes, { points })) {
      const s = new ResponseScanner();
      s.begin(ResponseKind.Query, m.caps);
      chunks.forEach((c, i) => {
        assert.is(s.feed(c), i === chunks.length - 1, label);
      });
      check(s, { status: 2 }, label);
    }
  }
});

test("more than 250 columns: the column count is a 3-byte length-encoded integer", () => {
  for (const m of MODES) {
    const columns = Array.from({ length: 300 }, (_, i) => `c${i}`);
    const row = columns.map((_, i) => String(i));
    const payloads = resultSetPayloads({
      columns,
      rows: [row, row],
      deprecateEof: m.deprecateEof,
      status: 2,
    });
    assert.equal(payloads[0], [0xfc, 0x2c, 0x01]);
    scan(ResponseKind.Query, m.caps, packets(payloads), { status: 2 });
  }
});

test("exactly 251 columns (first count that needs the 0xFC prefix)", () => {
  const columns = Array.from({ length: 251 }, (_, i) => `c${i}`);
  const payloads = resultSetPayloads({ columns, rows: [], deprecateEof: false, status: 2 });
  assert.equal(payloads[0], [0xfc, 251, 0]);
  const bytes = packets(payloads);
  const s = new ResponseScanner();
  s.begin(ResponseKind.Query, CLASSIC);
  // Everything except the final EOF: must not be done (251 definitions are expected, not 0xFC=252).
  const end = bytes.length - 9;
  assert.is(s.feed(Buffer.from(bytes.slice(0, end))), false);
  assert.is(s.feed(Buffer.from(bytes.slice(end))), true);
});

// ---------------------------------------------------------------- multi-results

test("multi-result: MORE_RESULTS in each terminator, the last result an OK", () => {
  for (const m of MODES) {
    const more = IN_TRANS | AUTOCOMMIT | MORE_RESULTS;
    const payloads = [
      ...resultSetPayloads({ columns: ["1"], rows: [["1"]], deprecateEof: m.deprecateEof, status: more }),
      ...resultSetPayloads({
        columns: ["a", "b"],
        rows: [["two", null]],
        deprecateEof: m.deprecateEof,
        status: more,
      }),
      ok(more, { affectedRows: 4 }),
      ...resultSetPayloads({ columns: ["x"], rows: [], deprecateEof: m.deprecateEof, status: more }),
      ok(IN_TRANS | AUTOCOMMIT),
    ];
    scan(ResponseKind.Query, m.caps, packets(payloads), { status: IN_TRANS | AUTOCOMMIT });
  }
});

test("multi-result: an OK with MORE_RESULTS is not the end", () => {
  const bytes = packets([
    ok(AUTOCOMMIT | MORE_RESULTS, { affectedRows: 1 }),
    ok(AUTOCOMMIT | MORE_RESULTS),
    ok(2),
  ]);
  scan(ResponseKind.Query, CLASSIC, bytes, { status: AUTOCOMMIT });
});

test("multi-result: an ERR in a later statement ends the response", () => {
  for (const m of MODES) {
    const more = AUTOCOMMIT | MORE_RESULTS;
    const payloads = [
      ...resultSetPayloads({ columns: ["1"], rows: [["1"]], deprecateEof: m.deprecateEof, status: more }),
      errPayload(1064, "42000", "You have an error in your SQL syntax"),
    ];
    scan(ResponseKind.Query, m.caps, packets(payloads), { status: more, failed: true });
  }
});

test("ERR in the middle of rows ends the response", () => {
  for (const m of MODES) {
    const payloads = [
      lenenc(2),
      columnDefPayload({ name: "a", type: 0x03 }),
      columnDefPayload({ name: "b" }),
      ...(m.deprecateEof ? [] : [eofPayload(0x22)]),
      textRowPayload(["1", "a"]),
      textRowPayload(["2", "b"]),
      errPayload(1242, "21000", "Subquery returns more than 1 row"),
    ];
    scan(ResponseKind.Query, m.caps, packets(payloads), {
      status: m.deprecateEof ? 0 : 0x22,
      failed: true,
    });
  }
});

// ---------------------------------------------------------------- LOCAL INFILE

function localInfile(caps: number, after: Bytes[], expect: Expect): void {
  const request = packets([localInfilePayload("/tmp/data.csv")]);
  for (const { label, chunks } of chunkings(request, { byteByByte: true })) {
    const s = new ResponseScanner();
    s.begin(ResponseKind.Query, caps);
    for (const c of chunks) {
      assert.is(s.feed(c), false, `${label}: a LOCAL INFILE request does not end the exchange`);
      assert.is(s.done, false);
    }
    assert.is(s.awaitingClientData, true, label);
  }
  // The client's file packets (seq 2..) go the other way; then the server answers (seq 4 here).
  const answer = packets(after, 4);
  for (const { label, chunks } of chunkings(answer, { byteByByte: true })) {
    const s = new ResponseScanner();
    s.begin(ResponseKind.Query, caps);
    assert.is(s.feed(Buffer.from(request)), false);
    assert.is(s.awaitingClientData, true);
    s.clientDataSent();
    assert.is(s.awaitingClientData, false);
    chunks.forEach((c, i) => {
      assert.is(s.feed(c), i === chunks.length - 1, `${label}: chunk ${i + 1}`);
    });
    check(s, expect, label);
  }
}

test("LOCAL INFILE: 0xFB turns the direction around; the OK after the client's data ends it", () => {
  for (const m of MODES) {
    localInfile(m.caps, [ok(AUTOCOMMIT, { affectedRows: 2, info: "Records: 2  Deleted: 0  Skipped: 0" })], {
      status: AUTOCOMMIT,
    });
    localInfile(m.caps, [errPayload(1062, "23000", "Duplicate entry '1' for key 'PRIMARY'")], {
      status: 0,
      failed: true,
    });
  }
});

test("LOCAL INFILE inside a multi-statement: the OK says more results follow", () => {
  for (const m of MODES) {
    localInfile(
      m.caps,
      [
        ok(IN_TRANS | MORE_RESULTS, { affectedRows: 2 }),
        ...resultSetPayloads({
          columns: ["n"],
          rows: [["2"]],
          deprecateEof: m.deprecateEof,
          status: IN_TRANS,
        }),
      ],
      { status: IN_TRANS },
    );
  }
});

test("text rows whose first column is NULL (0xFB) are rows, not LOCAL INFILE requests", () => {
  const payloads = resultSetPayloads({
    columns: ["a"],
    rows: [[null], [null]],
    deprecateEof: true,
    status: 2,
  });
  scan(ResponseKind.Query, DEPRECATE, packets(payloads), { status: 2 });
});

// ---------------------------------------------------------------- COM_STMT_PREPARE

test("COM_STMT_PREPARE: PREPARE_OK, parameter definitions [EOF], column definitions [EOF]", () => {
  const shapes = [
    { params: 2, columns: 3 },
    { params: 0, columns: 0 },
    { params: 1, columns: 0 },
    { params: 0, columns: 2 },
    { params: 300, columns: 1 },
  ];
  for (const m of MODES) {
    for (const { params, columns } of shapes) {
      const statementId = 0x01020304;
      const payloads = prepareResponsePayloads(statementId, params, columns, m.deprecateEof);
      scan(
        ResponseKind.Prepare,
        m.caps,
        packets(payloads),
        { status: 7, prepared: { statementId, columns, params } },
        { initialStatus: 7 },
      );
    }
  }
});

test("COM_STMT_PREPARE that fails", () => {
  for (const m of MODES) {
    scan(ResponseKind.Prepare, m.caps, packets([errPayload(1064, "42000", "syntax error")]), {
      status: 0,
      failed: true,
      prepared: null,
    });
  }
});

test("a prepare response does not end at a parameter definition that looks like EOF", () => {
  // The scanner counts definitions rather than looking for 0xFE: a prepare with params and
  // columns is only done after all of them (and their EOFs).
  const payloads = prepareResponsePayloads(9, 2, 2, false);
  const bytes = packets(payloads);
  const s = new ResponseScanner();
  s.begin(ResponseKind.Prepare, CLASSIC);
  let off = 0;
  payloads.forEach((p, i) => {
    const n = 4 + p.length;
    const r = s.feed(Buffer.from(bytes.slice(off, off + n)));
    off += n;
    assert.is(r, i === payloads.length - 1, `after packet ${i + 1}`);
  });
});

// ---------------------------------------------------------------- COM_STMT_EXECUTE and FETCH

test("COM_STMT_EXECUTE: binary result set", () => {
  for (const m of MODES) {
    const payloads = resultSetPayloads({
      columns: ["a", "b", "c"],
      rows: [
        [1, null, 3],
        [null, null, null],
        [2 ** 40, 0, 0xfe],
      ],
      binary: true,
      deprecateEof: m.deprecateEof,
      status: IN_TRANS,
    });
    scan(ResponseKind.Execute, m.caps, packets(payloads), { status: IN_TRANS });
  }
});

test("COM_STMT_EXECUTE: OK and ERR", () => {
  for (const m of MODES) {
    scan(ResponseKind.Execute, m.caps, packets([ok(IN_TRANS, { affectedRows: 1, lastInsertId: 7 })]), {
      status: IN_TRANS,
    });
    scan(ResponseKind.Execute, m.caps, packets([errPayload(1243, "HY000", "Unknown prepared statement")]), {
      status: 0,
      failed: true,
    });
  }
});

test("COM_STMT_EXECUTE that opens a cursor: CURSOR_EXISTS after the definitions, no rows", () => {
  const defs = [
    lenenc(2),
    columnDefPayload({ name: "a", type: 0x08 }),
    columnDefPayload({ name: "b", type: 0x08 }),
  ];
  const status = AUTOCOMMIT | CURSOR_EXISTS | 0x20;
  // Classic: the EOF after the column definitions carries CURSOR_EXISTS and ends the response.
  scan(ResponseKind.Execute, CLASSIC, packets([...defs, eofPayload(status)]), { status });
  // Under CLIENT_DEPRECATE_EOF the server (MariaDB 10.11, captured) ends it with a 0xFE-OK instead.
  scan(ResponseKind.Execute, DEPRECATE, packets([...defs, terminatorPayload(true, status)]), { status });
});

test("CURSOR_EXISTS after the definitions ends only a COM_STMT_EXECUTE response", () => {
  // For COM_QUERY the same EOF is followed by rows.
  const payloads = [
    lenenc(1),
    columnDefPayload({ name: "a" }),
    eofPayload(CURSOR_EXISTS | AUTOCOMMIT),
    textRowPayload(["1"]),
    eofPayload(AUTOCOMMIT),
  ];
  scan(ResponseKind.Query, CLASSIC, packets(payloads), { status: AUTOCOMMIT });
});

test("COM_STMT_FETCH: rows then EOF (cursor still open, or last row sent)", () => {
  for (const m of MODES) {
    for (const status of [AUTOCOMMIT | CURSOR_EXISTS, AUTOCOMMIT | LAST_ROW_SENT, IN_TRANS | LAST_ROW_SENT]) {
      const rows = [binaryRowPayload([0, 1]), binaryRowPayload([null, 2])];
      scan(ResponseKind.Fetch, m.caps, packets([...rows, terminatorPayload(m.deprecateEof, status)]), {
        status,
      });
    }
    // No rows left: just the terminator.
    scan(ResponseKind.Fetch, m.caps, packets([terminatorPayload(m.deprecateEof, LAST_ROW_SENT)]), {
      status: LAST_ROW_SENT,
    });
    scan(ResponseKind.Fetch, m.caps, packets([errPayload(1243, "HY000", "Unknown prepared statement")]), {
      status: 0,
      failed: true,
    });
  }
});

// ---------------------------------------------------------------- COM_FIELD_LIST

test("COM_FIELD_LIST: column definitions until EOF (0xFE-OK under DEPRECATE_EOF)", () => {
  for (const m of MODES) {
    const defs = ["a", "b", "c"].map((name) => columnDefPayload({ name, table: "t", schema: "db" }));
    scan(ResponseKind.FieldList, m.caps, packets([...defs, terminatorPayload(m.deprecateEof, AUTOCOMMIT)]), {
      status: 0,
    });
    scan(ResponseKind.FieldList, m.caps, packets([terminatorPayload(m.deprecateEof, AUTOCOMMIT)]), {
      status: 0,
    });
    scan(ResponseKind.FieldList, m.caps, packets([errPayload(1146, "42S02", "Table 'db.t' doesn't exist")]), {
      status: 0,
      failed: true,
    });
  }
});

// ---------------------------------------------------------------- one scanner, many responses

test("one scanner reused across responses keeps the last status and resets the rest", () => {
  const s = new ResponseScanner();
  const run = (kind: ResponseKind, payloads: Bytes[]) => {
    s.begin(kind, DEPRECATE);
    return s.feed(Buffer.from(packets(payloads)));
  };
  assert.ok(run(ResponseKind.Query, [ok(IN_TRANS | AUTOCOMMIT)]));
  assert.is(s.status, IN_TRANS | AUTOCOMMIT);
  assert.ok(run(ResponseKind.Query, [errPayload(1, "HY000", "x")]));
  assert.is(s.failed, true);
  assert.is(s.status, IN_TRANS | AUTOCOMMIT);
  assert.ok(run(ResponseKind.Prepare, prepareResponsePayloads(5, 1, 1, true)));
  assert.is(s.failed, false);
  assert.equal(s.prepared, { statementId: 5, columns: 1, params: 1 });
  assert.ok(run(ResponseKind.Single, [ok(AUTOCOMMIT)]));
  assert.is(s.prepared, null);
  assert.is(s.status, AUTOCOMMIT);
  // A response abandoned half-way (the backend died mid-header) must not leak into the next one.
  s.begin(ResponseKind.Query, DEPRECATE);
  assert.is(s.feed(Buffer.from([0x30, 0x00])), false);
  assert.ok(run(ResponseKind.Query, [ok(IN_TRANS)]));
  assert.is(s.status, IN_TRANS);
  s.begin(ResponseKind.Query, DEPRECATE);
  const big = packets(
    resultSetPayloads({ columns: ["a"], rows: [["x".repeat(100)]], deprecateEof: true, status: 2 }),
  );
  assert.is(s.feed(Buffer.from(big.slice(0, big.length - 20))), false);
  assert.ok(run(ResponseKind.Query, [ok(AUTOCOMMIT | IN_TRANS)]));
  assert.is(s.status, AUTOCOMMIT | IN_TRANS);
});

test("pendingErrBytes: cut at every point, holding back what it names leaves every ERR whole in one chunk, and only ERRs", () => {
  for (const mode of MODES) {
    const rs = resultSetPayloads({
      columns: ["a"],
      rows: [[str("1")], [str("row")]],
      status: MORE_RESULTS | AUTOCOMMIT,
      deprecateEof: mode.deprecateEof,
    });
    const err = errPayload(1792, "25006", "Cannot execute statement in a READ ONLY transaction");
    const bytes = Buffer.from(packets([...rs, err]));
    const errLen = err.length + 4;
    const rowsOnly = Buffer.from(packets(rs.slice(0, -1)));
    for (let cut = 1; cut < bytes.length; cut++) {
      const s = new ResponseScanner();
      s.begin(ResponseKind.Query, mode.caps);
      // The relay's hold (backend-slot.ts onData), as it does it.
      const out: Buffer[] = [];
      let held: Buffer | null = null;
      let last = Buffer.alloc(0);
      for (const part of [bytes.subarray(0, cut), bytes.subarray(cut)]) {
        const done = s.feed(part);
        let chunk: Buffer = held ? Buffer.concat([held, part]) : part;
        held = null;
        if (!done) {
          const k = s.pendingErrBytes(1024);
          if (k > 0) {
            assert.ok(k <= chunk.length, `${mode.name} cut ${cut}: ${k} <= ${chunk.length}`);
            held = chunk.subarray(chunk.length - k);
            chunk = chunk.subarray(0, chunk.length - k);
          }
        }
        out.push(chunk);
        last = chunk;
      }
      assert.equal(Buffer.concat(out), bytes, `${mode.name} cut ${cut}: every byte relayed, in order`);
      assert.ok(last.length >= errLen, `${mode.name} cut ${cut}: the ERR whole in the last chunk`);
      assert.is(last[last.length - errLen + 4], 0xff);
      // Nothing of the rows is held back beyond the first bytes of a packet whose first byte is unknown.
      if (cut < rowsOnly.length)
        assert.ok(out[0]!.length >= cut - 4, `${mode.name} cut ${cut}: rows not held`);
    }
  }
});

test.run();
