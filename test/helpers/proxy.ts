/** Runs a pairgate PairgateProxy in this process against a test pair, for integration tests. */
import mysql, { type Connection, type ConnectionOptions } from "mysql2/promise";
import { parseConfig } from "../../src/config/load.js";
import type { ConfigInput } from "../../src/config/schema.js";
import { createLogger } from "../../src/observability/logger.js";
import { PairgateProxy } from "../../src/proxy.js";
import type { TestPair } from "./pair.js";

export interface RunningProxy {
  proxy: PairgateProxy;
  port: number;
  /** A mysql2 connection through the proxy as the pair's app user. */
  connect(options?: ConnectionOptions): Promise<Connection>;
  stop(): Promise<void>;
}

export async function startProxy(
  pair: TestPair,
  raw: ConfigInput,
  file = `${pair.dir}/proxy.config.json`,
): Promise<RunningProxy> {
  const config = parseConfig(raw, file);
  const proxy = new PairgateProxy(config, createLogger(process.env.PAIRGATE_TEST_LOG ?? "warn"));
  await proxy.start();
  const port = proxy.address!.port;
  return {
    proxy,
    port,
    connect(options = {}) {
      return mysql.createConnection({
        host: "127.0.0.1",
        port,
        user: pair.appUser.username,
        password: pair.appUser.password,
        database: "passtrix",
        ...options,
      });
    },
    stop: () => proxy.stop(2000),
  };
}
