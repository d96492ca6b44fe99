/** The operational log: pino JSON lines on stdout. One root logger per process, children per part/session. */
import { type Logger, pino } from "pino";

export type { Logger };

export function createLogger(level = process.env.PAIRGATE_LOG_LEVEL ?? "info"): Logger {
  return pino({ level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime });
}
