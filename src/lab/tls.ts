/**
 * The lab's TLS material, made with the openssl command line: a CA, and one server certificate
 * (for localhost, 127.0.0.1, ::1 and the lab's host) that both servers present. Replication
 * verifies it against the CA; clients and pairgate can too (`caFile`).
 */
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { isIP } from "node:net";
import { join } from "node:path";
import { findExecutable, LabError } from "./mariadb.js";

export interface TlsFiles {
  dir: string;
  ca: string;
  caKey: string;
  cert: string;
  key: string;
}

export function tlsFiles(dir: string): TlsFiles {
  return {
    dir,
    ca: join(dir, "ca.pem"),
    caKey: join(dir, "ca-key.pem"),
    cert: join(dir, "server-cert.pem"),
    key: join(dir, "server-key.pem"),
  };
}

function openssl(bin: string, args: string[], cwd: string): void {
  const r = spawnSync(bin, args, { cwd, encoding: "utf8" });
  if (r.status !== 0)
    throw new LabError("PAIRGATE_LAB_TLS", `openssl ${args.join(" ")} failed:\n${r.stderr || r.error}`);
}

/** Creates the files once; an existing, complete set is kept (servers may be using it). */
export function ensureTls(dir: string, host: string): TlsFiles {
  const files = tlsFiles(dir);
  if ([files.ca, files.cert, files.key].every((f) => existsSync(f))) return files;
  const bin = findExecutable(["openssl"]);
  if (!bin)
    throw new LabError(
      "PAIRGATE_LAB_TLS",
      "openssl was not found: install the Debian package openssl (apt-get install -y openssl)",
    );
  const work = `${dir}.tmp-${process.pid}`;
  rmSync(work, { recursive: true, force: true });
  mkdirSync(work, { recursive: true, mode: 0o700 });
  const names = new Set(["DNS:localhost", "IP:127.0.0.1", "IP:::1"]);
  if (host && host !== "0.0.0.0" && host !== "::") names.add(isIP(host) ? `IP:${host}` : `DNS:${host}`);
  writeFileSync(
    join(work, "server.ext"),
    [
      "basicConstraints=critical,CA:FALSE",
      "keyUsage=critical,digitalSignature,keyEncipherment",
      "extendedKeyUsage=serverAuth,clientAuth",
      `subjectAltName=${[...names].join(",")}`,
      "",
    ].join("\n"),
  );
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  openssl(
    bin,
    [
      "req",
      "-x509",
      ...ec,
      "-keyout",
      "ca-key.pem",
      "-out",
      "ca.pem",
      "-days",
      "3650",
      "-subj",
      "/O=pairgate lab/CN=pairgate lab CA",
      "-addext",
      "basicConstraints=critical,CA:TRUE",
      "-addext",
      "keyUsage=critical,keyCertSign,cRLSign",
    ],
    work,
  );
  openssl(
    bin,
    [
      "req",
      ...ec,
      "-keyout",
      "server-key.pem",
      "-out",
      "server.csr",
      "-subj",
      "/O=pairgate lab/CN=localhost",
    ],
    work,
  );
  openssl(
    bin,
    [
      "x509",
      "-req",
      "-in",
      "server.csr",
      "-CA",
      "ca.pem",
      "-CAkey",
      "ca-key.pem",
      "-set_serial",
      `0x${Date.now().toString(16)}`,
      "-days",
      "3650",
      "-extfile",
      "server.ext",
      "-out",
      "server-cert.pem",
    ],
    work,
  );
  for (const f of ["ca-key.pem", "server-key.pem"]) chmodSync(join(work, f), 0o600);
  rmSync(join(work, "server.csr"));
  rmSync(join(work, "server.ext"));
  rmSync(dir, { recursive: true, force: true });
  renameSync(work, dir);
  return files;
}
