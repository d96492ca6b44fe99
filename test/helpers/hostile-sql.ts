/**
 * A seeded, grammar-based generator of hostile SQL for the generative suite (issue 19): what an
 * authenticated application user with SUPER / READ_ONLY ADMIN could send to get a write onto the
 * read-only secondary or a secret out of the audited table without an audit event.
 *
 * A generated unit is a `Chain`: statements run in order on one session. `later` statements run
 * on the same session after the next reconnect or failover (state carried across). Chains are the
 * unit of the audit oracle: the secret stashed into a user variable or a row of a carrier table by
 * one statement may be shown by another of the same chain; the chain must hold an audit event.
 * Carriers are chain-scoped (`@gv_<chain>`, `gen_o.chain = <chain>`), so one chain never shows
 * another chain's stash. Objects that reach the audited table for good (views, routines,
 * triggers) are kept in `Gen.objects`; later chains use them, and each such use needs its own event.
 *
 * Everything comes from the seed: the same seed gives the same statements, byte for byte.
 * The generator knows nothing of pairgate; it only knows the lab schema (passtrix.ptrx_passwords)
 * and the helper objects `setupStatements()` creates.
 */
import type { Rng } from "./prng.js";

export type Protocol = "text" | "binary";

export interface GenStatement {
  /** The statement's bytes (COM_QUERY text, or COM_STMT_PREPARE text for the binary protocol). */
  sql: Buffer;
  protocol: Protocol;
  /** Needs a raw session: bytes that are not UTF-8, multi-statements, or a handshake charset. */
  raw: boolean;
}

export interface Chain {
  id: number;
  family: string;
  statements: GenStatement[];
  /** Run on the same session after the next reconnect / failover. */
  later: GenStatement[];
  /** The session's handshake collation, for a chain that needs a new raw session (0 = default). */
  collation?: number;
}

export const SCHEMA = "passtrix";
export const AUDITED = "ptrx_passwords";
export const SECRET_COL = "encrypted_password";

/** Root runs these on the primary before the suite: the helper objects the grammar names. */
export function setupStatements(): string[] {
  return [
    "CREATE TABLE passtrix.gen_t (id INT PRIMARY KEY, v VARCHAR(200))",
    "INSERT INTO passtrix.gen_t VALUES (1, 'one'), (2, 'two'), (3, 'three')",
    "CREATE TABLE passtrix.gen_o (id INT AUTO_INCREMENT PRIMARY KEY, chain INT NOT NULL, v VARBINARY(600), KEY (chain))",
    "CREATE TABLE passtrix.gen_u (k VARBINARY(600) PRIMARY KEY)",
    "CREATE SEQUENCE passtrix.gen_seq",
    "CREATE FUNCTION passtrix.gen_f() RETURNS INT DETERMINISTIC MODIFIES SQL DATA BEGIN UPDATE passtrix.gen_t SET v = CONCAT('w', RAND()) WHERE id = 1; RETURN 1; END",
    "CREATE FUNCTION passtrix.gen_n() RETURNS BIGINT DETERMINISTIC MODIFIES SQL DATA RETURN NEXT VALUE FOR passtrix.gen_seq",
    "CREATE PROCEDURE passtrix.gen_p() MODIFIES SQL DATA DELETE FROM passtrix.gen_t WHERE id = 3",
  ];
}

// ---------------------------------------------------------------- the generator

/** Collations for a handshake: gbk_chinese_ci, sjis_japanese_ci, big5_chinese_ci. */
export const MULTIBYTE = [
  { name: "gbk", collation: 28, lead: 0xbf },
  { name: "sjis", collation: 13, lead: 0x95 },
  { name: "big5", collation: 1, lead: 0xa5 },
] as const;

const KEYWORDS = new Set([
  "SELECT",
  "FROM",
  "WHERE",
  "SET",
  "SESSION",
  "GLOBAL",
  "LOCAL",
  "TRANSACTION",
  "READ",
  "WRITE",
  "ONLY",
  "WITH",
  "AS",
  "LIMIT",
  "UPDATE",
  "DELETE",
  "INSERT",
  "INTO",
  "VALUES",
  "RETURNING",
  "SHOW",
  "PREPARE",
  "EXECUTE",
  "DO",
  "CALL",
  "CREATE",
  "OR",
  "REPLACE",
  "VIEW",
  "IS",
  "NOT",
  "NULL",
  "AND",
  "BEGIN",
  "ROLLBACK",
  "COMMIT",
  "START",
  "FOR",
  "STATEMENT",
  "UNION",
  "ALL",
]);

export class Gen {
  private nextChain = 1;
  /** Views / functions / procedures that reach the audited table, created by earlier chains. */
  readonly objects: { kind: "view" | "function" | "procedure" | "trigger"; name: string }[] = [];

  constructor(
    readonly rng: Rng,
    private readonly appPassword = "pmp-test-secret",
  ) {}

  // ---- rendering: one token list, many spellings

  /** A separator between two tokens: whitespace, comments of every kind, control characters. */
  private sep(inExecutable: boolean): string {
    const r = this.rng;
    const plain = [" ", "  ", "\n", "\t", "\r\n", " \f "];
    if (inExecutable || r.next() < 0.55) return r.pick(plain);
    return r.pick([
      "/**/",
      "/* c */",
      "/*/ x */",
      "/*!99999 ptrx_passwords */",
      "/*M!999999 gen_f() */",
      "/*!999999 SELECT 1 */",
      " -- c\n",
      " --\tc\n",
      " --\x01c\n",
      " --\x7fc\n",
      " #c\n",
      " # ptrx_passwords\n",
      " -- ' \n",
      " /* ' */ ",
      ' /* " */ ',
      " /* ` */ ",
    ]);
  }

  private kw(t: string): string {
    if (!KEYWORDS.has(t)) return t;
    const c = this.rng.int(4);
    if (c === 0) return t.toLowerCase();
    if (c === 1) return [...t].map((ch) => (this.rng.next() < 0.5 ? ch.toLowerCase() : ch)).join("");
    return t;
  }

  /**
   * Tokens joined by random separators; sometimes a run of tokens wrapped in an executable
   * comment the server runs (`/*!…*\/`, `/*!50000 …*\/`, `/*M!…*\/`, `/*M!100100 …*\/`).
   */
  render(tokens: string[]): string {
    const r = this.rng;
    let wrapFrom = -1;
    let wrapTo = -1;
    if (tokens.length > 1 && r.next() < 0.3) {
      wrapFrom = 1 + r.int(tokens.length - 1);
      wrapTo = Math.min(tokens.length - 1, wrapFrom + r.int(3));
    }
    const open = r.pick(["/*!", "/*!50000 ", "/*M!", "/*M!100100 ", "/*!100000 "]);
    let out = "";
    for (let i = 0; i < tokens.length; i++) {
      const inside = i > wrapFrom && i <= wrapTo;
      if (i > 0) out += this.sep(inside);
      if (i === wrapFrom) out += open;
      out += this.kw(tokens[i]);
      if (i === wrapTo) out += "*/";
    }
    if (r.next() < 0.1) out += r.pick([";", " ;", "; -- end", " #"]);
    return out;
  }

  // ---- names of the audited table and the secret column, as a client may spell them

  table(ansiQuotes = false): string {
    const forms = [
      AUDITED,
      `\`${AUDITED}\``,
      `${SCHEMA}.${AUDITED}`,
      `\`${SCHEMA}\`.\`${AUDITED}\``,
      `${SCHEMA} . ${AUDITED}`,
      `${SCHEMA}./**/${AUDITED}`,
      `\`${SCHEMA}\`.${AUDITED}`,
    ];
    if (ansiQuotes) forms.push(`"${AUDITED}"`, `"${SCHEMA}"."${AUDITED}"`);
    return this.rng.pick(forms);
  }

  secret(alias?: string): string {
    const c = alias ? `${alias}.${SECRET_COL}` : this.rng.pick([SECRET_COL, `\`${SECRET_COL}\``]);
    return this.rng.pick([c, c, `HEX(${c})`, `TO_BASE64(${c})`, `CAST(${c} AS CHAR)`, `CONCAT('', ${c})`]);
  }

  /** A scalar subquery that reads a secret. */
  secretSub(): string {
    return this.rng.pick([
      `(SELECT ${SECRET_COL} FROM ${this.table()} LIMIT 1)`,
      `(SELECT GROUP_CONCAT(${SECRET_COL}) FROM ${this.table()})`,
      `(SELECT MAX(${SECRET_COL}) FROM ${this.table()})`,
      `(SELECT ${SECRET_COL} FROM ${this.table()} WHERE account_id = ${1 + this.rng.int(5)})`,
    ]);
  }

  /** An expression with a side effect on the server it runs on. */
  writeExpr(): string {
    return this.rng.pick([
      "gen_f()",
      "passtrix.gen_f()",
      "gen_n()",
      "NEXTVAL(gen_seq)",
      "NEXT VALUE FOR gen_seq",
      "SETVAL(gen_seq, 100000)",
      "(SELECT gen_f())",
      "LASTVAL(gen_seq) + gen_n()",
    ]);
  }

  private st(text: string | Buffer, protocol: Protocol = "text", raw = false): GenStatement {
    return { sql: Buffer.isBuffer(text) ? text : Buffer.from(text, "utf8"), protocol, raw };
  }

  /** A statement in the text or the binary protocol (prepared and executed once). */
  private any(text: string): GenStatement {
    return this.st(text, this.rng.next() < 0.3 ? "binary" : "text");
  }

  // ---- the families

  /** One chain of a random family. */
  chain(): Chain {
    const id = this.nextChain++;
    const families: [string, number, (c: Chain) => void][] = [
      ["plain_audited", 2, (c) => this.plainAudited(c)],
      ["uservar_name_injection", 4, (c) => this.userVarInjection(c)],
      ["session_expression_replay", 4, (c) => this.sessionExpression(c)],
      ["transaction_characteristics", 4, (c) => this.txCharacteristics(c)],
      ["prepare_sql_mode", 4, (c) => this.prepareMode(c)],
      ["show_where_assign", 4, (c) => this.showWhere(c)],
      ["cte_shadow", 3, (c) => this.cteShadow(c)],
      ["returning", 3, (c) => this.returning(c)],
      ["multi_table_dml", 3, (c) => this.multiTable(c)],
      ["view_trigger_routine", 3, (c) => this.objectsFamily(c)],
      ["binlog_and_files", 3, (c) => this.serverCopies(c)],
      ["error_exfiltration", 4, (c) => this.errorExfil(c)],
      ["dynamic_sql", 2, (c) => this.dynamicSql(c)],
      ["event_scheduler", 2, (c) => this.events(c)],
      ["disguised_write", 5, (c) => this.disguisedWrite(c)],
      ["admin_write", 3, (c) => this.adminWrite(c)],
      ["multibyte_charset", 3, (c) => this.multibyte(c)],
      ["sql_mode_dialect", 3, (c) => this.modeDialect(c)],
      ["quote_soup", 2, (c) => this.soup(c)],
    ];
    const total = families.reduce((n, f) => n + f[1], 0);
    let x = this.rng.next() * total;
    let pick = families[0];
    for (const f of families) {
      x -= f[1];
      if (x < 0) {
        pick = f;
        break;
      }
    }
    const c: Chain = { id, family: pick[0], statements: [], later: [] };
    pick[2](c);
    return c;
  }

  private plainAudited(c: Chain): void {
    const t = this.table();
    c.statements.push(
      this.any(
        this.render(["SELECT", this.secret(), "FROM", t, "WHERE", `account_id = ${1 + this.rng.int(5)}`]),
      ),
    );
  }

  /** SET @`name` where the name carries SQL (issue 19: pasted unquoted into the replayed SET). */
  private userVarInjection(c: Chain): void {
    const r = this.rng;
    const payload = r.pick([
      "a=1, @@global.read_only=0, @b",
      "a=1, @@session.tx_read_only=0, @b",
      "a=1; STOP SLAVE; SET @b",
      "a=1; CREATE DATABASE gen_injected; SET @b",
      "a=1; UPDATE passtrix.gen_t SET v='pwned' WHERE id=2; SET @b",
      "a=(SELECT gen_f()), @b",
      `a=(SELECT ${SECRET_COL} FROM passtrix.${AUDITED} LIMIT 1), @b`,
      "a=1, @@global.general_log_file='gen_gl.log', @@global.general_log=1, @b",
      "a */ = 1, @@global.read_only = 0 /* b",
      "a` = 1, @@global.read_only = 0, @`b",
      "x\n-- \n=1, @@global.read_only=0, @y",
    ]);
    const quoted = r.pick([
      () => `@\`${payload.replace(/`/g, "``")}\``,
      () => `@'${payload.replace(/\\/g, "\\\\").replace(/'/g, "''")}'`,
      () => `@"${payload.replace(/\\/g, "\\\\").replace(/"/g, '""')}"`,
    ])();
    const value = r.pick(["1", "'v'", "0x41", "NULL", this.writeExpr(), this.secretSub()]);
    c.statements.push(this.any(this.render(["SET", quoted, "=", value])));
    if (r.next() < 0.5) c.statements.push(this.any(`SELECT ${quoted}`));
    c.later.push(this.st("SELECT 1"));
  }

  /** SET of a session variable from an expression that writes (NEXTVAL, a writing function). */
  private sessionExpression(c: Chain): void {
    const r = this.rng;
    const [name, base] = r.pick([
      ["max_sort_length", "1024"],
      ["sort_buffer_size", "262144"],
      ["group_concat_max_len", "4096"],
      ["max_join_size", "1000000"],
      ["sql_select_limit", "100000"],
      ["div_precision_increment", "0"],
    ] as const);
    const expr = r.pick([
      `${base} + ${this.writeExpr()}`,
      `${base} + 0 * ${this.writeExpr()}`,
      `(SELECT ${base} FROM DUAL WHERE ${this.writeExpr()} > 0)`,
      `${base} + LENGTH(${this.secretSub()})`,
      `IF(${this.writeExpr()}, ${base}, ${base})`,
    ]);
    const lhs = r.pick([
      ["SET", "SESSION", name],
      ["SET", `@@session.${name}`],
      ["SET", `@@${name}`],
      ["SET", "LOCAL", name],
      ["SET", name],
    ]);
    c.statements.push(this.any(this.render([...lhs, "=", expr])));
    if (r.next() < 0.3)
      c.statements.push(
        this.any(this.render(["SET", "STATEMENT", `${name} = ${expr}`, "FOR", "SELECT", "1"])),
      );
    c.later.push(this.any(`SELECT @@session.${name}`));
  }

  /** Lifting the read-only transaction guard with comments between the tokens. */
  private txCharacteristics(c: Chain): void {
    const r = this.rng;
    const variants: string[][] = [
      ["SET", "SESSION", "TRANSACTION", "READ", "WRITE"],
      ["SET", "TRANSACTION", "READ", "WRITE"],
      ["SET", "SESSION", "TRANSACTION", "ISOLATION LEVEL READ COMMITTED ,", "READ", "WRITE"],
      ["SET", "@@session.tx_read_only", "=", r.pick(["0", "OFF", "(SELECT 0)", "FALSE"])],
      ["SET", "@@session.transaction_read_only", "=", r.pick(["0", "OFF"])],
      ["SET", "SESSION", "tx_read_only", "=", "0"],
      ["SET", "tx_read_only", "=", "0"],
      ["SET", "@@tx_read_only", "=", "0"],
      ["START", "TRANSACTION", "READ", "WRITE"],
      ["SET", "STATEMENT", "tx_read_only=0", "FOR", "SELECT", "gen_f()"],
    ];
    c.statements.push(this.any(this.render(r.pick(variants))));
    const probe = () =>
      this.any(
        r.pick([
          "SELECT gen_f()",
          "INSERT INTO gen_t VALUES (100 + FLOOR(RAND() * 1000000), 'tx')",
          "UPDATE gen_t SET v = 'tx' WHERE id = 2",
          "SELECT gen_n()",
        ]),
      );
    // Always closed: an open transaction would hold row locks that stall every other session.
    c.statements.push(probe(), this.st("COMMIT"));
    c.later.push(probe(), this.st("COMMIT"));
  }

  /**
   * A statement prepared under one sql_mode, executed (and, after a failover, re-prepared) under
   * another: read with backslash escapes it is one statement, without them another.
   */
  private prepareMode(c: Chain): void {
    const r = this.rng;
    const n = c.id;
    // Under NO_BACKSLASH_ESCAPES: "SELECT 'a\' AS x" and a comment. With escapes: the string runs
    // on and what follows is SQL.
    const tails = [
      `INTO OUTFILE 'gen_out_${n}.txt'`,
      ", gen_f()",
      `, ${SECRET_COL} FROM ${AUDITED} LIMIT 1`,
      ", NEXTVAL(gen_seq)",
    ];
    const tail = r.pick(tails);
    const escaped = `SELECT 'a\\' AS x -- ' ${tail}`;
    // Under no escapes "SELECT 'a\' , ..." runs the tail; with escapes the tail is inside a string.
    const unescaped = `SELECT 'a\\' ${tail.startsWith(",") ? tail : `, 1 ${tail}`} -- '`;
    const [first, second, text] = r.pick([
      ["NO_BACKSLASH_ESCAPES", "", escaped],
      ["", "NO_BACKSLASH_ESCAPES", escaped],
      ["", "NO_BACKSLASH_ESCAPES", unescaped],
      ["NO_BACKSLASH_ESCAPES", "", unescaped],
      ["ANSI_QUOTES", "", `SELECT "a" AS x ${tail.startsWith(",") ? tail : ""}`],
    ]);
    c.statements.push(this.st(this.render(["SET", "SESSION", `sql_mode = '${first}'`])));
    if (r.next() < 0.5) {
      const lit =
        first === "NO_BACKSLASH_ESCAPES"
          ? `'${text.replace(/'/g, "''")}'`
          : `'${text.replace(/\\/g, "\\\\").replace(/'/g, "\\'")}'`;
      c.statements.push(this.st(`PREPARE gs_${n} FROM ${lit}`));
      c.statements.push(this.st(this.render(["SET", "SESSION", `sql_mode = '${second}'`])));
      c.statements.push(this.st(`EXECUTE gs_${n}`));
      c.later.push(this.st(`EXECUTE gs_${n}`));
    } else {
      // The binary protocol: the runner prepares it now and executes it now and after the move.
      c.statements.push(this.st(text, "binary"));
      c.statements.push(this.st(this.render(["SET", "SESSION", `sql_mode = '${second}'`])));
      c.later.push(this.st(text, "binary"));
    }
  }

  /** SHOW … WHERE with a subquery and an assignment; the stash shown later. */
  private showWhere(c: Chain): void {
    const r = this.rng;
    const show = r.pick([
      "SHOW DATABASES",
      "SHOW TABLES",
      "SHOW FULL TABLES",
      "SHOW VARIABLES",
      "SHOW SESSION STATUS",
      "SHOW COLLATION",
      "SHOW CHARACTER SET",
      "SHOW TABLE STATUS",
      "SHOW COLUMNS FROM gen_t",
      "SHOW INDEX FROM gen_t",
      "SHOW FUNCTION STATUS",
      "SHOW TRIGGERS",
      "SHOW PLUGINS",
      "SHOW OPEN TABLES",
    ]);
    const v = `@gv_${c.id}`;
    const cond = r.pick([
      `(${v} := ${this.secretSub()}) IS NOT NULL`,
      `1 = ${this.secretSub()}`,
      `ExtractValue('<a/>', CONCAT('~', ${this.secretSub()})) IS NULL`,
      `${this.writeExpr()} > 0`,
      `(${v} := ${this.writeExpr()}) > 0`,
    ]);
    c.statements.push(this.any(this.render([show, "WHERE", cond])));
    c.statements.push(this.st(r.pick([`SELECT ${v}`, "SHOW WARNINGS", `SELECT HEX(${v})`])));
  }

  /** A later CTE name shadows the audited table. */
  private cteShadow(c: Chain): void {
    const r = this.rng;
    const q = r.pick(["", "`"]);
    const name = `${q}${AUDITED}${q}`;
    const forms = [
      `WITH a AS (SELECT ${this.secret()} FROM ${this.table()}), ${name} AS (SELECT 1) SELECT * FROM a`,
      `WITH ${name} AS (SELECT ${SECRET_COL} FROM ${SCHEMA}.${AUDITED}) SELECT * FROM ${name}`,
      `WITH RECURSIVE a AS (SELECT ${SECRET_COL} AS s FROM ${this.table()}), ${name} AS (SELECT 1) SELECT s FROM a`,
      `WITH ${name} AS (SELECT 1 AS x) SELECT (SELECT ${SECRET_COL} FROM ${SCHEMA}.${AUDITED} LIMIT 1) FROM ${name}`,
      `SELECT * FROM (WITH ${name} AS (SELECT 1) SELECT * FROM ${SCHEMA}.${AUDITED}) d`,
      `WITH a AS (SELECT * FROM ${this.table()}) , b AS (SELECT 2) SELECT ${SECRET_COL} FROM a`,
    ];
    c.statements.push(this.any(r.pick(forms)));
  }

  /** DELETE/INSERT/REPLACE … RETURNING of a secret, rolled back. */
  private returning(c: Chain): void {
    const r = this.rng;
    const id = 1 + r.int(5);
    const body = r.pick([
      `DELETE FROM ${this.table()} WHERE account_id = ${id} RETURNING ${SECRET_COL}`,
      `DELETE FROM ${this.table()} WHERE account_id = ${id} RETURNING *`,
      `INSERT INTO gen_o (chain, v) SELECT ${c.id}, ${SECRET_COL} FROM ${this.table()} LIMIT 1 RETURNING v`,
      `REPLACE INTO gen_o (chain, v) SELECT ${c.id}, ${SECRET_COL} FROM ${this.table()} LIMIT 1 RETURNING v`,
      `UPDATE ${this.table()} SET updated_by = updated_by WHERE account_id = ${id} RETURNING ${SECRET_COL}`,
      `INSERT INTO gen_o (chain, v) VALUES (${c.id}, ${this.secretSub()}) RETURNING v`,
    ]);
    c.statements.push(this.st(r.pick(["BEGIN", "START TRANSACTION"])));
    c.statements.push(this.any(this.render(body.split(" "))));
    c.statements.push(this.st("ROLLBACK"));
  }

  /** Multi-table UPDATE, INSERT … SELECT, CREATE … SELECT: the secret copied, then read back. */
  private multiTable(c: Chain): void {
    const r = this.rng;
    const k = c.id;
    const form = r.int(5);
    if (form === 0) {
      c.statements.push(this.st(`INSERT INTO gen_o (chain, v) VALUES (${k}, 'x')`));
      c.statements.push(
        this.any(
          this.render([
            "UPDATE",
            `gen_o o, ${this.table()} p`,
            "SET",
            `o.v = ${this.secret("p")}`,
            "WHERE",
            `o.chain = ${k} AND p.account_id = 1`,
          ]),
        ),
      );
    } else if (form === 1) {
      c.statements.push(
        this.any(
          this.render([
            "INSERT",
            "INTO",
            "gen_o (chain, v)",
            "SELECT",
            `${k}, ${SECRET_COL}`,
            "FROM",
            this.table(),
            "LIMIT",
            "1",
          ]),
        ),
      );
    } else if (form === 2) {
      c.statements.push(this.st(`INSERT INTO gen_o (chain, v) VALUES (${k}, 'x')`));
      c.statements.push(this.any(`UPDATE gen_o SET v = ${this.secretSub()} WHERE chain = ${k}`));
    } else if (form === 3) {
      c.statements.push(
        this.any(
          `CREATE TABLE gen_c_${k} AS SELECT ${k} AS chain, ${SECRET_COL} AS v FROM ${this.table()} LIMIT 1`,
        ),
      );
      c.statements.push(this.any(`SELECT v FROM gen_c_${k}`));
      return;
    } else {
      c.statements.push(
        this.any(
          `INSERT INTO gen_o (chain, v) SELECT ${k}, x.s FROM (SELECT ${SECRET_COL} AS s FROM ${this.table()}) x LIMIT 1`,
        ),
      );
    }
    c.statements.push(this.any(`SELECT v FROM gen_o WHERE chain = ${k}`));
  }

  /** Views, routines and triggers created by the user that reach the audited table; used later. */
  private objectsFamily(c: Chain): void {
    const r = this.rng;
    const k = c.id;
    if (this.objects.length > 0 && r.next() < 0.6) {
      const o = r.pick(this.objects);
      if (o.kind === "view") c.statements.push(this.any(`SELECT * FROM ${o.name}`));
      else if (o.kind === "function") c.statements.push(this.any(`SELECT ${o.name}()`));
      else if (o.kind === "procedure") c.statements.push(this.st(`CALL ${o.name}()`));
      else {
        c.statements.push(this.st(`INSERT INTO gen_o (chain, v) VALUES (${k}, 'x')`));
        c.statements.push(this.any(`SELECT v FROM gen_o WHERE chain = ${k}`));
      }
      return;
    }
    const form = r.int(4);
    if (form === 0) {
      const name = `gen_v_${k}`;
      const via = this.objects.find((o) => o.kind === "view");
      const src = via && r.next() < 0.4 ? via.name : this.table();
      c.statements.push(this.st(`CREATE OR REPLACE VIEW ${name} AS SELECT * FROM ${src}`));
      this.objects.push({ kind: "view", name });
    } else if (form === 1) {
      const name = `gen_sf_${k}`;
      c.statements.push(
        this.st(`CREATE FUNCTION ${name}() RETURNS VARBINARY(600) READS SQL DATA RETURN ${this.secretSub()}`),
      );
      this.objects.push({ kind: "function", name });
    } else if (form === 2) {
      const name = `gen_sp_${k}`;
      c.statements.push(
        this.st(`CREATE PROCEDURE ${name}() READS SQL DATA SELECT ${SECRET_COL} FROM ${this.table()}`),
      );
      this.objects.push({ kind: "procedure", name });
    } else {
      const name = `gen_trg_${k}`;
      c.statements.push(
        this.st(`CREATE TRIGGER ${name} BEFORE INSERT ON gen_o FOR EACH ROW SET NEW.v = ${this.secretSub()}`),
      );
      this.objects.push({ kind: "trigger", name });
    }
  }

  /** The server's own copies of the data: binlog and relay-log events, the files themselves. */
  private serverCopies(c: Chain): void {
    const r = this.rng;
    c.statements.push(
      this.any(
        r.pick([
          "SHOW BINLOG EVENTS",
          `SHOW BINLOG EVENTS LIMIT ${r.int(400)}, 400`,
          "SHOW BINLOG EVENTS IN 'mariadb-bin.000001'",
          "SHOW BINLOG EVENTS IN 'mariadb-bin.000002'",
          "SHOW RELAYLOG EVENTS",
          "SHOW RELAYLOG EVENTS IN 'relay-bin.000002'",
          "SHOW MASTER STATUS",
          "SHOW BINARY LOGS",
          "SHOW FULL PROCESSLIST",
          "SELECT INFO FROM information_schema.PROCESSLIST",
          "SHOW ENGINE INNODB STATUS",
          `SELECT LOAD_FILE(CONCAT(@@datadir, '${SCHEMA}/${AUDITED}.ibd'))`,
          "SELECT LOAD_FILE(CONCAT(@@datadir, 'mariadb-bin.000001'))",
          "SELECT LOAD_FILE(CONCAT(@@datadir, 'mariadb-bin.000002'))",
          "SELECT HEX(LOAD_FILE(CONCAT(@@datadir, 'mariadb-bin.000001')))",
          "SELECT LOAD_FILE(CONCAT(@@datadir, 'relay-bin.000002'))",
          "SELECT * FROM mysql.gtid_slave_pos",
        ]),
      ),
    );
  }

  /** The secret inside an error message or a warning. */
  private errorExfil(c: Chain): void {
    const r = this.rng;
    const sub = this.secretSub();
    const form = r.pick([
      `SELECT ExtractValue('<a/>', CONCAT('~', ${sub}))`,
      `SELECT UpdateXML('<a/>', CONCAT('/', ${sub}), 'x')`,
      `DO ExtractValue('<a/>', CONCAT('~', ${sub}))`,
      `SELECT 1 FROM DUAL WHERE 1 = ${sub}`,
      `SELECT * FROM gen_t WHERE id = ${sub}`,
      `SET @@session.time_zone = ${sub}`,
      `SET SESSION sql_mode = ${sub}`,
      `SET lc_messages = ${sub}`,
      `SET SESSION character_set_results = ${sub}`,
      `SET @@session.default_storage_engine = ${sub}`,
      `INSERT INTO gen_u (k) SELECT ${SECRET_COL} FROM ${this.table()} UNION ALL SELECT ${SECRET_COL} FROM ${this.table()}`,
      `SELECT CAST(${sub} AS SIGNED)`,
      `SELECT JSON_EXTRACT(${sub}, '$')`,
      `BEGIN NOT ATOMIC DECLARE v VARCHAR(600); SELECT ${SECRET_COL} INTO v FROM ${AUDITED} LIMIT 1; SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = v; END`,
      `SELECT ${SECRET_COL} INTO @gv_${c.id} FROM ${this.table()} LIMIT 1`,
      `SET @gv_${c.id} = ${sub}`,
      `SELECT 1 FROM DUAL WHERE (@gv_${c.id} := ${sub}) IS NULL`,
    ]);
    c.statements.push(this.any(form));
    c.statements.push(this.st(r.pick(["SHOW WARNINGS", `SELECT @gv_${c.id}`, "SHOW ERRORS"])));
    if (r.next() < 0.3) c.later.push(this.st(`SELECT @gv_${c.id}`));
  }

  private dynamicSql(c: Chain): void {
    const r = this.rng;
    const s = `CONCAT('SELECT ${SECRET_COL} FROM ptrx', '_passwords')`;
    if (r.next() < 0.5) {
      c.statements.push(this.st(`PREPARE gd_${c.id} FROM ${s}`));
      c.statements.push(this.st(`EXECUTE gd_${c.id}`));
      c.later.push(this.st(`EXECUTE gd_${c.id}`));
    } else {
      c.statements.push(this.st(r.pick([`EXECUTE IMMEDIATE ${s}`, "EXECUTE IMMEDIATE 'SELECT gen_f()'"])));
    }
  }

  /** An event (run by the server, not by any session) that copies a secret or writes. */
  private events(c: Chain): void {
    const r = this.rng;
    const k = c.id;
    const body = r.pick([
      `INSERT INTO gen_o (chain, v) SELECT ${k}, ${SECRET_COL} FROM ${this.table()} LIMIT 1`,
      "UPDATE gen_t SET v = 'event' WHERE id = 2",
    ]);
    c.statements.push(this.st("SET GLOBAL event_scheduler = ON"));
    c.statements.push(
      this.st(`CREATE EVENT gen_e_${k} ON SCHEDULE AT CURRENT_TIMESTAMP ON COMPLETION PRESERVE DO ${body}`),
    );
    if (r.next() < 0.5) c.statements.push(this.st(`ALTER EVENT gen_e_${k} ENABLE`));
    c.statements.push(this.st("DO SLEEP(1)"));
    c.statements.push(this.any(`SELECT v FROM gen_o WHERE chain = ${k}`));
    c.later.push(this.st("SET GLOBAL event_scheduler = ON"), this.st("DO SLEEP(1)"));
  }

  /** Writes dressed as reads or session statements. */
  private disguisedWrite(c: Chain): void {
    const r = this.rng;
    const e = this.writeExpr();
    const k = c.id;
    c.statements.push(
      this.any(
        r.pick([
          this.render(["SELECT", e]),
          this.render(["DO", e]),
          this.render(["SET", `@gw_${k}`, "=", e]),
          this.render(["WITH", "w", "AS", `(SELECT ${e} AS x)`, "SELECT", "*", "FROM", "w"]),
          this.render(["SELECT", "*", "FROM", "gen_t", "WHERE", `id = ${e}`]),
          this.render(["SELECT", "1", "UNION", "ALL", "SELECT", e]),
          this.render(["CALL", "gen_p()"]),
          this.render(["VALUES", `(${e})`]),
          this.render(["SET", "STATEMENT", "max_statement_time=10", "FOR", "SELECT", e]),
          `SELECT * FROM gen_t INTO OUTFILE 'gen_out_${k}.txt'`,
          `SELECT 1 INTO DUMPFILE 'gen_dump_${k}.bin'`,
          `SELECT * FROM gen_t WHERE id = 1 FOR UPDATE`,
          "BEGIN NOT ATOMIC UPDATE gen_t SET v = 'block' WHERE id = 2; END",
          `SHOW DATABASES WHERE ${e} > 0`,
          `SELECT (SELECT ${e}) AS a FROM DUAL`,
          `PREPARE gw_${k} FROM 'SELECT gen_f()'`,
        ]),
      ),
    );
    if (r.next() < 0.3) c.later.push(this.any(this.render(["SELECT", this.writeExpr()])));
  }

  /** Server administration a SUPER user may try on the secondary. */
  private adminWrite(c: Chain): void {
    const r = this.rng;
    const k = c.id;
    const stmt = r.pick([
      "SET GLOBAL read_only = 0",
      "SET @@global.read_only = OFF",
      "STOP SLAVE",
      "STOP SLAVE SQL_THREAD",
      "FLUSH BINARY LOGS",
      "FLUSH LOGS",
      "FLUSH TABLES",
      "ANALYZE TABLE gen_t",
      "OPTIMIZE TABLE gen_t",
      "TRUNCATE TABLE gen_u",
      `SET GLOBAL general_log_file = 'gen_gl_${k}.log'`,
      "SET SESSION sql_log_bin = 0",
      "SET SESSION gtid_domain_id = 9",
      "SET SESSION server_id = 1",
      "SET SESSION gtid_seq_no = 1",
      // The same password again (a new one would lock the run out of the primary too): on the
      // secondary still a change of mysql.global_priv.
      `SET PASSWORD = PASSWORD('${this.appPassword}')`,
      `ALTER USER CURRENT_USER() IDENTIFIED BY '${this.appPassword}'`,
      "KILL QUERY 1",
      "BEGIN NOT ATOMIC DECLARE i INT; SELECT ID INTO i FROM information_schema.PROCESSLIST WHERE COMMAND = 'Slave_SQL' LIMIT 1; EXECUTE IMMEDIATE CONCAT('KILL ', i); END",
      `CREATE DATABASE gen_db_${k}`,
      `CREATE TEMPORARY TABLE gen_tmp_${k} (a INT)`,
      `XA START 'gx${k}'`,
      "LOCK TABLES gen_t WRITE",
      "INSERT INTO gen_t VALUES (1000 + FLOOR(RAND() * 1000000), 'direct')",
      "DELETE FROM gen_t WHERE id = 2",
      `RENAME TABLE gen_u TO gen_u_${k}`,
      "INSTALL SONAME 'ha_blackhole'",
      "SET GLOBAL event_scheduler = ON",
    ]);
    c.statements.push(this.any(this.render(stmt.split(" "))));
    if (/sql_log_bin|gtid_domain_id|server_id|gtid_seq_no|XA START|LOCK TABLES/.test(stmt))
      c.statements.push(
        this.any(
          r.pick(["INSERT INTO gen_t VALUES (2000 + FLOOR(RAND() * 1000000), 'x')", "SELECT gen_f()"]),
        ),
      );
    // Locks and XA transactions released in the same chain: held, they stall the other sessions.
    if (stmt.startsWith("XA START"))
      c.statements.push(this.st(`XA END 'gx${k}'`), this.st(`XA ROLLBACK 'gx${k}'`));
    if (stmt.startsWith("LOCK TABLES")) c.statements.push(this.st("UNLOCK TABLES"));
  }

  /** GBK/SJIS/BIG5: a lead byte whose trail is 0x5C (a backslash in ASCII) before a quote. */
  private multibyte(c: Chain): void {
    const r = this.rng;
    const cs = r.pick(MULTIBYTE);
    const viaHandshake = r.next() < 0.4;
    if (viaHandshake) c.collation = cs.collation;
    else
      c.statements.push(
        this.st(
          this.render(
            r.pick([
              ["SET", "NAMES", cs.name],
              ["SET", "character_set_client", "=", cs.name],
              ["SET", "NAMES", `'${cs.name}'`],
            ]),
          ),
          "text",
          true,
        ),
      );
    const tail = r.pick([
      ", gen_f() -- ",
      `, ${SECRET_COL} FROM ${AUDITED} -- `,
      "; UPDATE gen_t SET v = 'mb' WHERE id = 2; -- ",
      ` UNION SELECT ${SECRET_COL} FROM ${AUDITED} -- `,
      `, NEXTVAL(gen_seq) -- `,
    ]);
    const bytes = Buffer.concat([
      Buffer.from("SELECT 'x"),
      Buffer.from([cs.lead, 0x5c]),
      Buffer.from(`' ${tail}'`),
    ]);
    c.statements.push(this.st(bytes, r.next() < 0.3 && !tail.startsWith(";") ? "binary" : "text", true));
    c.later.push(this.st(bytes, "text", true));
  }

  /** sql_mode switches (literal and by expression) followed by mode-dependent text. */
  private modeDialect(c: Chain): void {
    const r = this.rng;
    const mode = r.pick(["ANSI_QUOTES", "NO_BACKSLASH_ESCAPES", "ANSI", "PIPES_AS_CONCAT", "ORACLE", ""]);
    const how = r.pick([
      ["SET", "SESSION", `sql_mode = '${mode}'`],
      ["SET", `@@sql_mode = '${mode}'`],
      ["SET", `sql_mode = (SELECT '${mode}')`],
      ["SET", `sql_mode = CONCAT(@@sql_mode, ',${mode || "STRICT_ALL_TABLES"}')`],
      ["SET", "STATEMENT", `sql_mode = '${mode}'`, "FOR", "SELECT", "1"],
    ]);
    c.statements.push(this.st(this.render(how)));
    const ansi = mode === "ANSI_QUOTES" || mode === "ANSI";
    c.statements.push(
      this.any(
        r.pick([
          `SELECT "x\\" , gen_f() -- "`,
          `SELECT 'x\\' , gen_f() -- '`,
          `SELECT 'x\\' , ${SECRET_COL} FROM ${AUDITED} -- '`,
          `SELECT "x\\" , ${SECRET_COL} FROM ${AUDITED} -- "`,
          `SELECT ${SECRET_COL} FROM ${this.table(ansi)}`,
          `SELECT "${SECRET_COL}" FROM "${AUDITED}"`,
          `SELECT * FROM gen_t WHERE v = "x" OR id = gen_f()`,
          `SELECT 'a' || ${this.writeExpr()}`,
        ]),
      ),
    );
    c.later.push(this.any(`SELECT 'x\\' , gen_f() -- '`));
  }

  /** Random tokens from a palette of quotes, comments and payloads: mostly errors, some surprises. */
  private soup(c: Chain): void {
    const r = this.rng;
    const palette = [
      "SELECT",
      "'",
      '"',
      "`",
      "\\",
      "--",
      "-- ",
      "#",
      "/*",
      "*/",
      "/*!",
      "/*M!",
      "gen_f()",
      SECRET_COL,
      AUDITED,
      "FROM",
      ",",
      "(",
      ")",
      "1",
      "x",
      ";",
      "\n",
      "UNION SELECT",
      "WHERE",
      "@v",
      ":=",
    ];
    const n = 3 + r.int(12);
    const parts = ["SELECT"];
    for (let i = 0; i < n; i++) parts.push(r.pick(palette));
    c.statements.push(this.st(parts.join(r.pick(["", " "])), "text", r.next() < 0.5));
  }
}

/** A statement as a log line: printable ASCII as is, everything else as \xNN. */
export function printable(b: Buffer): string {
  let s = "";
  for (const x of b)
    s +=
      x >= 0x20 && x < 0x7f && x !== 0x5c
        ? String.fromCharCode(x)
        : x === 0x5c
          ? "\\\\"
          : `\\x${x.toString(16).padStart(2, "0")}`;
  return s;
}
