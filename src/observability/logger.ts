/**
 * The operational log: pino JSON lines on stdout (files, pipes, collectors), or lines in words
 * through pino-pretty for a person at a terminal (see console.ts for when). One root logger per
 * process, children per part/session.
 */
import { type DestinationStream, type Logger, pino } from "pino";
import pretty from "pino-pretty";
import type { LogFormat } from "./console.js";

export type { Logger };

export function createLogger(
  level = process.env.PAIRGATE_LOG_LEVEL ?? "info",
  format: LogFormat = "json",
  color = process.stdout.isTTY === true,
  /** Where JSON lines go instead of stdout (tests keep them, see test/helpers/pairgate-log.ts). */
  destination?: DestinationStream,
): Logger {
  const options = { level, base: { pid: process.pid }, timestamp: pino.stdTimeFunctions.isoTime };
  if (format === "json") return destination === undefined ? pino(options) : pino(options, destination);
  return pino(
    options,
    pretty({
      colorize: color,
      sync: true,
      translateTime: "SYS:HH:MM:ss.l",
      ignore: "pid,hostname,part",
      messageFormat: "{if part}{part}: {end}{msg}",
      singleLine: true,
    }),
  );
}
