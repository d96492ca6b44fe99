/**
 * The catch-up's I/O: one connection to the secondary with the service account, opened at the
 * failover and closed when the catch-up ends. MariaDB: `SHOW ALL SLAVES STATUS` (Gtid_IO_Pos),
 * `@@gtid_slave_pos`/`@@gtid_binlog_pos`, `MASTER_GTID_WAIT(pos, seconds)`. MySQL:
 * `Retrieved_Gtid_Set`, `@@gtid_executed`, `WAIT_FOR_EXECUTED_GTID_SET(set, seconds)`.
 */
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import mysql, { type Connection, type RowDataPacket } from "mysql2/promise";
import type { BackendConfig } from "../config/load.js";
import type { CatchUpDriver, CatchUpPositions } from "./secondary-catch-up.js";
import { parseVersion, pickReplicationRow, readReplicaRow, replicationStatement } from "./server-status.js";

export class SqlCatchUpDriver implements CatchUpDriver {
  private conn: Promise<Connection> | null = null;
  private closed = false;
  private mysqlFlavor: boolean | null = null;

  constructor(
    private readonly cfg: BackendConfig,
    private readonly connectTimeoutMs: number,
    private readonly baseDir = process.cwd(),
  ) {}

  private connection(): Promise<Connection> {
    if (this.closed) return Promise.reject(new Error("catch-up ended"));
    if (!this.conn) {
      const cfg = this.cfg;
      this.conn = mysql.createConnection({
        host: cfg.host,
        port: cfg.port,
        user: cfg.user,
        password: cfg.password,
        connectTimeout: this.connectTimeoutMs,
        ssl: cfg.tls
          ? {
              ca: cfg.tls.ca ? readFileSync(resolve(this.baseDir, cfg.tls.ca), "utf8") : undefined,
              rejectUnauthorized: cfg.tls.rejectUnauthorized,
            }
          : undefined,
        supportBigNumbers: true,
        bigNumberStrings: true,
        connectAttributes: { program_name: "pairgate-catch-up" },
      });
      this.conn.then(
        (c) => {
          c.on("error", () => {});
          if (this.closed) c.destroy();
        },
        () => {},
      );
    }
    return this.conn;
  }

  async positions(): Promise<CatchUpPositions> {
    const c = await this.connection();
    const [[v]] = await c.query<RowDataPacket[]>("SELECT @@global.version AS v");
    const version = parseVersion(String(v.v));
    this.mysqlFlavor = version.flavor === "mysql";
    const [rows] = await c.query<RowDataPacket[]>(replicationStatement(version));
    const row = pickReplicationRow(rows);
    const received = row ? readReplicaRow(row).receivedPos : "";
    if (this.mysqlFlavor) {
      const [[e]] = await c.query<RowDataPacket[]>("SELECT @@global.gtid_executed AS e");
      return { received, applied: String(e.e ?? "").replace(/\s+/g, "") };
    }
    const [[p]] = await c.query<RowDataPacket[]>(
      "SELECT @@global.gtid_slave_pos AS s, @@global.gtid_binlog_pos AS b",
    );
    return { received, applied: [p.s, p.b].filter(Boolean).join(",") };
  }

  async waitApplied(pos: string, timeoutMs: number): Promise<boolean> {
    const c = await this.connection();
    const seconds = Math.max(0.001, timeoutMs / 1000).toFixed(3);
    const sql = this.mysqlFlavor
      ? "SELECT WAIT_FOR_EXECUTED_GTID_SET(?, ?) AS r"
      : "SELECT MASTER_GTID_WAIT(?, ?) AS r";
    const [[r]] = await c.query<RowDataPacket[]>(sql, [pos, Number(seconds)]);
    return Number(r.r) === 0;
  }

  close(): void {
    this.closed = true;
    const c = this.conn;
    this.conn = null;
    c?.then(
      (x) => x.destroy(),
      () => {},
    );
  }
}
