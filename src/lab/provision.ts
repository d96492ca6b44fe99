/**
 * What the lab creates on the primary (and so, through replication, on the secondary): the
 * replication user, the application user, pairgate's service account, and the demo schema of a
 * password manager. Every statement can run again: `lab up` re-applies users and grants (so a
 * password changed in the config takes effect) but seeds the sample rows only into a new schema.
 */
import type { Connection } from "mysql2/promise";
import mysql from "mysql2/promise";
import { FENCE_SCHEMA } from "../topology/fence.js";

export interface Credentials {
  username: string;
  password: string;
}

export const DEMO_SCHEMA = "passtrix";
export const SYSBENCH_SCHEMA = "sbtest";
/** Privileges the application gets on its schemas: data and schema changes, nothing global. */
export const APP_PRIVILEGES =
  "SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, REFERENCES, CREATE TEMPORARY TABLES, " +
  "LOCK TABLES, EXECUTE, CREATE VIEW, SHOW VIEW, CREATE ROUTINE, ALTER ROUTINE, TRIGGER, EVENT";
/** SHOW SLAVE STATUS (SLAVE MONITOR) and SHOW MASTER STATUS / binlog positions (REPLICATION CLIENT). */
export const SERVICE_GLOBAL_PRIVILEGES = "SLAVE MONITOR, REPLICATION CLIENT";
/**
 * The accounts pairgate authenticates clients against (README "Accounts"): MariaDB's
 * mysql.global_priv (user, host, plugin, hash, lock) — SELECT on that one table, nothing wider.
 */
export const SERVICE_ACCOUNTS_TABLE = "mysql.global_priv";
/**
 * On the audit table's schema: read back, deliver, create the table on first use; ALTER to add
 * the hash-chain columns once to a table an earlier version made (delivery.ts). No UPDATE or DELETE.
 */
export const SERVICE_SCHEMA_PRIVILEGES = "SELECT, INSERT, CREATE, ALTER";
/** What the audit catalog reads in each application schema (views' and triggers' definitions). */
export const CATALOG_SCHEMA_PRIVILEGES = "SELECT, SHOW VIEW, TRIGGER";
/** Stored routines' and events' bodies. */
export const CATALOG_TABLES = ["mysql.proc", "mysql.event"];

export interface ProvisionOptions {
  appUser: Credentials;
  serviceUser: Credentials;
  replicationUser: Credentials;
  extraAppUsers?: Credentials[];
  extraServiceUsers?: Credentials[];
  /** The schema that holds pairgate's audit table (from `audit.table`), usually passtrix. */
  auditSchema: string;
}

const account = (name: string) => `${mysql.escape(name)}@'%'`;
const ident = (name: string) => mysql.escapeId(name);

function userStatements(user: Credentials, requireSsl = false): string[] {
  const auth = `IDENTIFIED VIA mysql_native_password USING PASSWORD(${mysql.escape(user.password)})`;
  const ssl = requireSsl ? " REQUIRE SSL" : "";
  return [
    `CREATE USER IF NOT EXISTS ${account(user.username)} ${auth}${ssl}`,
    `ALTER USER ${account(user.username)} ${auth}${ssl}`,
  ];
}

export function provisionStatements(o: ProvisionOptions, seedDemo: boolean): string[] {
  const s: string[] = [];
  if (seedDemo) s.push(...demoSchemaStatements());
  s.push(`CREATE DATABASE IF NOT EXISTS ${ident(SYSBENCH_SCHEMA)} CHARACTER SET utf8mb4`);
  s.push(`CREATE DATABASE IF NOT EXISTS ${ident(o.auditSchema)} CHARACTER SET utf8mb4`);

  s.push(...userStatements(o.replicationUser, true));
  s.push(`GRANT REPLICATION SLAVE ON *.* TO ${account(o.replicationUser.username)}`);

  for (const app of [o.appUser, ...(o.extraAppUsers ?? [])]) {
    s.push(...userStatements(app));
    for (const db of [DEMO_SCHEMA, SYSBENCH_SCHEMA])
      s.push(`GRANT ${APP_PRIVILEGES} ON ${ident(db)}.* TO ${account(app.username)}`);
  }
  for (const svc of [o.serviceUser, ...(o.extraServiceUsers ?? [])]) {
    s.push(...userStatements(svc));
    s.push(`GRANT ${SERVICE_GLOBAL_PRIVILEGES} ON *.* TO ${account(svc.username)}`);
    s.push(`GRANT ${SERVICE_SCHEMA_PRIVILEGES} ON ${ident(o.auditSchema)}.* TO ${account(svc.username)}`);
    // The promotion fence (`pairgate promote` writes pairgate.fence; every monitor reads it).
    s.push(`GRANT SELECT ON ${ident(FENCE_SCHEMA)}.* TO ${account(svc.username)}`);
    s.push(`GRANT SELECT ON ${SERVICE_ACCOUNTS_TABLE} TO ${account(svc.username)}`);
    // The audit catalog (src/audit/catalog.ts) reads what reaches an audited table: routine and
    // event bodies (mysql.proc, mysql.event), view definitions (SELECT + SHOW VIEW) and trigger
    // bodies (TRIGGER: MariaDB shows ACTION_STATEMENT to no one else) in the application's schemas.
    for (const t of CATALOG_TABLES) s.push(`GRANT SELECT ON ${t} TO ${account(svc.username)}`);
    for (const db of [DEMO_SCHEMA, SYSBENCH_SCHEMA])
      s.push(`GRANT ${CATALOG_SCHEMA_PRIVILEGES} ON ${ident(db)}.* TO ${account(svc.username)}`);
  }
  return s;
}

/** Runs the statements on the primary's root connection. */
export async function provision(root: Connection, o: ProvisionOptions): Promise<void> {
  const [rows] = await root.query(
    "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
    [DEMO_SCHEMA],
  );
  const seed = (rows as unknown[]).length === 0;
  for (const sql of provisionStatements(o, seed)) await root.query(sql);
}

const RESOURCES: [string, string, string, string][] = [
  ["db-prod-01", "db-prod-01.corp.example", "Linux", "Database"],
  ["db-prod-02", "db-prod-02.corp.example", "Linux", "Database"],
  ["web-frontend-01", "web01.corp.example", "Linux", "Web"],
  ["web-frontend-02", "web02.corp.example", "Linux", "Web"],
  ["dc-01", "dc01.corp.example", "Windows", "IT"],
  ["exchange-01", "mail.corp.example", "Windows", "IT"],
  ["fw-edge-01", "fw-edge-01.corp.example", "Cisco IOS", "Network"],
  ["core-switch-01", "sw-core-01.corp.example", "Cisco IOS", "Network"],
  ["erp-app-01", "erp.corp.example", "Linux", "Finance"],
  ["hr-portal-01", "hr.corp.example", "Windows", "HR"],
];
const LOGINS: Record<string, [string, string][]> = {
  Linux: [
    ["root", "superuser"],
    ["deploy", "deployment automation"],
    ["backup", "nightly backup job"],
  ],
  Windows: [
    ["Administrator", "local administrator"],
    ["svc_backup", "backup service account"],
    ["helpdesk", "first-level support"],
  ],
  "Cisco IOS": [
    ["admin", "privilege level 15"],
    ["netops", "network operations"],
    ["monitor", "read-only SNMP/CLI"],
  ],
};
/** The demo's "master key": the lab stores AES_ENCRYPT output under it, as a real vault would. */
export const DEMO_ENCRYPTION_KEY = "passtrix-lab-master-key";

export function demoSchemaStatements(): string[] {
  const db = ident(DEMO_SCHEMA);
  const s = [
    `CREATE DATABASE IF NOT EXISTS ${db} CHARACTER SET utf8mb4`,
    `CREATE TABLE IF NOT EXISTS ${db}.ptrx_resources (
      id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
      name VARCHAR(128) NOT NULL,
      dns_name VARCHAR(255) NOT NULL,
      os_type VARCHAR(32) NOT NULL,
      department VARCHAR(64) NOT NULL,
      created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      UNIQUE KEY uq_resources_name (name)
    ) ENGINE=InnoDB`,
    `CREATE TABLE IF NOT EXISTS ${db}.ptrx_accounts (
      id INT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
      resource_id INT UNSIGNED NOT NULL,
      login_name VARCHAR(128) NOT NULL,
      description VARCHAR(255) NULL,
      created_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      UNIQUE KEY uq_accounts_login (resource_id, login_name),
      CONSTRAINT fk_accounts_resource FOREIGN KEY (resource_id) REFERENCES ptrx_resources (id) ON DELETE CASCADE
    ) ENGINE=InnoDB`,
    `CREATE TABLE IF NOT EXISTS ${db}.ptrx_passwords (
      account_id INT UNSIGNED NOT NULL PRIMARY KEY,
      encrypted_password VARBINARY(512) NOT NULL,
      updated_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3) ON UPDATE CURRENT_TIMESTAMP(3),
      updated_by VARCHAR(128) NOT NULL,
      CONSTRAINT fk_passwords_account FOREIGN KEY (account_id) REFERENCES ptrx_accounts (id) ON DELETE CASCADE
    ) ENGINE=InnoDB`,
    `CREATE TABLE IF NOT EXISTS ${db}.ptrx_audit (
      id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
      occurred_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      app_user VARCHAR(128) NOT NULL,
      operation VARCHAR(64) NOT NULL,
      resource VARCHAR(128) NULL,
      account VARCHAR(128) NULL,
      client_ip VARCHAR(45) NULL,
      KEY ix_audit_time (occurred_at)
    ) ENGINE=InnoDB`,
  ];
  const resources = RESOURCES.map((r, i) => `(${i + 1}, ${r.map((v) => mysql.escape(v)).join(", ")})`);
  s.push(
    `INSERT IGNORE INTO ${db}.ptrx_resources (id, name, dns_name, os_type, department) VALUES ${resources.join(", ")}`,
  );
  const accounts: string[] = [];
  RESOURCES.forEach(([, , os], r) => {
    for (const [login, description] of LOGINS[os]) {
      accounts.push(
        `(${accounts.length + 1}, ${r + 1}, ${mysql.escape(login)}, ${mysql.escape(description)})`,
      );
    }
  });
  s.push(
    `INSERT IGNORE INTO ${db}.ptrx_accounts (id, resource_id, login_name, description) VALUES ${accounts.join(", ")}`,
  );
  s.push(
    `INSERT IGNORE INTO ${db}.ptrx_passwords (account_id, encrypted_password, updated_by)
     SELECT id, AES_ENCRYPT(CONCAT('Lab-', id, '-', SHA2(login_name, 256)), ${mysql.escape(DEMO_ENCRYPTION_KEY)}), 'admin'
     FROM ${db}.ptrx_accounts`,
  );
  s.push(
    `INSERT IGNORE INTO ${db}.ptrx_audit (id, app_user, operation, resource, account, client_ip) VALUES
     (1, 'admin', 'resource_created', 'db-prod-01', NULL, '10.0.0.15'),
     (2, 'admin', 'password_changed', 'db-prod-01', 'root', '10.0.0.15'),
     (3, 'alice', 'password_retrieval', 'dc-01', 'Administrator', '10.0.4.21')`,
  );
  return s;
}
