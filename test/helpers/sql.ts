/** Small query helpers shared by the integration suites that talk to the servers directly. */
import type { Connection, RowDataPacket } from "mysql2/promise";
import * as assert from "uvu/assert";
import type { Role } from "../../src/lab/index.js";
import type { TestPair } from "./pair.js";
import { ADMIN_USER, type StandaloneServer } from "./servers.js";

/** The rows of one query. */
export async function q(conn: Connection, sql: string, params: unknown[] = []): Promise<RowDataPacket[]> {
  const [r] = await conn.query<RowDataPacket[]>(sql, params);
  return r;
}

async function using<T>(open: Promise<Connection>, f: (c: Connection) => Promise<T>): Promise<T> {
  const c = await open;
  try {
    return await f(c);
  } finally {
    await c.end();
  }
}

/** Runs `f` on a new root session to one of the pair's servers, and closes it. */
export function onRoot<T>(pair: TestPair, role: Role, f: (c: Connection) => Promise<T>): Promise<T> {
  return using(pair.rootConnection(role), f);
}

/** Runs `f` on a new root session to a standalone server, and closes it. */
export function onServer<T>(server: StandaloneServer, f: (c: Connection) => Promise<T>): Promise<T> {
  return using(server.rootConnection(), f);
}

/** Creates ADMIN_USER (all privileges, with grant option) on the pair's primary; it replicates. */
export async function createAdmin(pair: TestPair): Promise<void> {
  await onRoot(pair, "primary", async (c) => {
    await c.query("CREATE USER ?@'%' IDENTIFIED BY ?", [ADMIN_USER.username, ADMIN_USER.password]);
    await c.query("GRANT ALL PRIVILEGES ON *.* TO ?@'%' WITH GRANT OPTION", [ADMIN_USER.username]);
  });
}

/** Waits (up to `seconds`) until the secondary has applied everything in the primary's binlog; asserts it did. */
export async function waitReplicated(pair: TestPair, seconds: number): Promise<void> {
  const pos = await onRoot(pair, "primary", async (c) =>
    String((await q(c, "SELECT @@GLOBAL.gtid_binlog_pos AS p"))[0].p),
  );
  await onRoot(pair, "secondary", async (c) =>
    assert.is(
      Number((await q(c, "SELECT MASTER_GTID_WAIT(?, ?) AS r", [pos, seconds]))[0].r),
      0,
      "the secondary caught up",
    ),
  );
}
