/**
 * Loading a config file: parse JSON, validate against the schema, resolve secrets, freeze.
 * Errors name the path of the offending key: `primary.port: expected a number, got "x"`.
 */
import { readFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { z } from "zod";
import { PairgateError } from "../protocol/errors.js";
import { configSchema, type Secret } from "./schema.js";

type Parsed = z.output<typeof configSchema>;

/** A backend with its secret resolved to a plain string. */
export type BackendConfig = Omit<Parsed["primary"], "password"> & { password: string };
export type UserConfig = { username: string; password: string };
export type Config = Readonly<
  Omit<Parsed, "primary" | "secondary" | "users" | "admin"> & {
    primary: BackendConfig;
    secondary: BackendConfig;
    users: UserConfig[];
    admin: Omit<Parsed["admin"], "token"> & { token?: string };
    /** Absolute path of the file this came from; relative paths in it resolve against its folder. */
    file: string;
    baseDir: string;
  }
>;

export class ConfigError extends PairgateError {
  constructor(
    readonly file: string,
    readonly problems: string[],
  ) {
    super("PAIRGATE_CONFIG_INVALID", `${file}: invalid configuration\n  ${problems.join("\n  ")}`);
  }
}

function describeValue(v: unknown): string {
  if (v === undefined) return "nothing";
  if (typeof v === "string") return JSON.stringify(v);
  if (Array.isArray(v)) return "an array";
  if (v === null) return "null";
  return typeof v === "object" ? "an object" : `${typeof v} ${String(v)}`;
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = root;
  for (const k of path) {
    if (cur === null || typeof cur !== "object") return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

function formatIssues(raw: unknown, issues: z.core.$ZodIssue[]): string[] {
  return issues.map((issue) => {
    const path = issue.path.map(String).join(".") || "(root)";
    if (issue.code === "invalid_type") {
      const got = valueAt(raw, issue.path);
      const what = got === undefined ? "is missing" : `got ${describeValue(got)}`;
      return `${path}: expected ${article(issue.expected)}, ${what}`;
    }
    if (issue.code === "unrecognized_keys") {
      return issue.keys.map((k) => `${path === "(root)" ? k : `${path}.${k}`}: unknown key`).join("; ");
    }
    return `${path}: ${issue.message}`;
  });
}

function article(type: string): string {
  return /^[aeiou]/.test(type) ? `an ${type}` : `a ${type}`;
}

export function resolveSecret(secret: Secret, baseDir: string, where: string): string {
  if (typeof secret === "string") return secret;
  if ("env" in secret) {
    const v = process.env[secret.env];
    if (v === undefined) throw new Error(`${where}: environment variable ${secret.env} is not set`);
    return v;
  }
  try {
    return readFileSync(resolve(baseDir, secret.file), "utf8").replace(/\r?\n$/, "");
  } catch (e) {
    throw new Error(`${where}: cannot read secret file ${secret.file}: ${(e as Error).message}`);
  }
}

/** Validate an already-parsed JSON value. `file` is used for messages and relative paths. */
export function parseConfig(raw: unknown, file: string): Config {
  const result = configSchema.safeParse(raw);
  if (!result.success) throw new ConfigError(file, formatIssues(raw, result.error.issues));
  const c = result.data;
  const baseDir = dirname(resolve(file));
  const problems: string[] = [];
  const secret = (s: Secret, where: string): string => {
    try {
      return resolveSecret(s, baseDir, where);
    } catch (e) {
      problems.push((e as Error).message);
      return "";
    }
  };
  const names = new Set<string>();
  for (const [i, u] of c.users.entries()) {
    if (names.has(u.username))
      problems.push(`users.${i}.username: duplicate user ${JSON.stringify(u.username)}`);
    names.add(u.username);
  }
  if (c.users.length === 0 && !c.accounts.fromServers)
    problems.push("users: empty while accounts.fromServers is false: nobody could log in");
  const config: Config = {
    ...c,
    primary: { ...c.primary, password: secret(c.primary.password, "primary.password") },
    secondary: { ...c.secondary, password: secret(c.secondary.password, "secondary.password") },
    users: c.users.map((u, i) => ({
      username: u.username,
      password: secret(u.password, `users.${i}.password`),
    })),
    admin: {
      ...c.admin,
      token: c.admin.token === undefined ? undefined : secret(c.admin.token, "admin.token"),
    },
    file: resolve(file),
    baseDir,
  };
  if (problems.length > 0) throw new ConfigError(file, problems);
  return deepFreeze(config);
}

export function loadConfig(file: string): Config {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (e) {
    throw new ConfigError(file, [`cannot read: ${(e as Error).message}`]);
  }
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(file, [`not valid JSON: ${(e as Error).message}`]);
  }
  return parseConfig(raw, file);
}

/** Resolve a path from the config against the config file's folder. */
export function configPath(config: Pick<Config, "baseDir">, p: string): string {
  return resolve(config.baseDir, p);
}

function deepFreeze<T>(o: T): T {
  if (o && typeof o === "object" && !Object.isFrozen(o)) {
    Object.freeze(o);
    for (const v of Object.values(o)) deepFreeze(v);
  }
  return o;
}
