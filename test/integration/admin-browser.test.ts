/**
 * The admin listener against web pages, in headless Chromium (issue 11). With the default config
 * (no token, loopback), a page of another origin — served here from another local port — tries to
 * switch pairgate to maintenance: a cross-origin form POST with enctype=text/plain and with
 * application/x-www-form-urlencoded, and fetches. A DNS-rebinding page (its own name resolving to
 * 127.0.0.1, so the browser sees the admin as same-origin) tries too. None may change the mode;
 * the admin's own page still works, and a same-origin JSON action from it still does. Finally,
 * admin.token added by a reload (what SIGHUP runs) applies without a restart.
 */
import { createServer, type Server } from "node:http";
import { join } from "node:path";
import type { Browser, Page } from "playwright-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import { parseConfig } from "../../src/config/load.js";
import { launchChromium } from "../helpers/browser.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { freePort } from "../helpers/ports.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";

const REBIND_NAME = "rebind.pairgate.test";

let pair: TestPair;
let px: RunningProxy;
let evil: Server;
let evilPort: number;
let browser: Browser;
let adminPort: number;

/** The attacker's pages: each acts as soon as it loads. */
function evilPage(path: string): string {
  const target = `http://127.0.0.1:${adminPort}/maintenance`;
  switch (path) {
    case "/form-plain":
      // The classic JSON-via-text/plain trick: the body is `{"readOnly":true,"x":"="}`.
      return `<form method=POST action="${target}" enctype="text/plain"><input name='{"readOnly":true,"x":"' value='"}'></form><script>document.forms[0].submit()</script>`;
    case "/form-urlencoded":
      return `<form method=POST action="${target}" enctype="application/x-www-form-urlencoded"><input name='{"readOnly":true}' value=''></form><script>document.forms[0].submit()</script>`;
    case "/fetch":
      return `<script>
        window.results = [];
        const body = '{"readOnly": true}';
        Promise.allSettled([
          fetch(${JSON.stringify(target)}, { method: "POST", mode: "no-cors", headers: { "content-type": "text/plain" }, body }),
          fetch(${JSON.stringify(target)}, { method: "POST", mode: "no-cors", body }),
          fetch(${JSON.stringify(target)}, { method: "POST", headers: { "content-type": "application/json" }, body }),
        ]).then((r) => { window.results = r.map((x) => x.status); window.done = true; });
      </script>`;
    default:
      return "<p>nothing here</p>";
  }
}

async function adminGet(path: string): Promise<{ status: number; body: string }> {
  const r = await fetch(`http://127.0.0.1:${adminPort}${path}`);
  return { status: r.status, body: await r.text() };
}

async function maintenance(): Promise<boolean> {
  const s = JSON.parse((await adminGet("/status")).body) as { maintenance: boolean; mode: string };
  return s.maintenance;
}

/** Waits for requests a page set off to reach the admin (and be answered). */
const settle = () => new Promise((r) => setTimeout(r, 750));

async function visit(url: string, f?: (p: Page) => Promise<void>): Promise<void> {
  const page = await browser.newPage();
  try {
    await page.goto(url).catch(() => {});
    await page.waitForLoadState("load").catch(() => {});
    if (f) await f(page);
    await settle();
  } finally {
    await page.close();
  }
}

test.before(async () => {
  pair = await startPair();
  px = await startProxy(pair, pair.proxyConfig());
  adminPort = px.proxy.adminPort!;
  evilPort = await freePort();
  evil = createServer((req, res) => {
    res.writeHead(200, { "content-type": "text/html" });
    res.end(evilPage(new URL(req.url ?? "/", "http://x").pathname));
  });
  await new Promise<void>((r) => evil.listen(evilPort, "127.0.0.1", r));
  // Playwright gives the browser a fresh temporary profile of its own (it refuses --user-data-dir).
  browser = await launchChromium([`--host-resolver-rules=MAP ${REBIND_NAME} 127.0.0.1`]);
});

test.after(async () => {
  await browser?.close();
  await new Promise((r) => evil?.close(r));
  await px?.stop();
  await pair?.stop();
});

test("a cross-origin form POST (enctype=text/plain) does not switch pairgate to maintenance", async () => {
  await visit(`http://127.0.0.1:${evilPort}/form-plain`);
  assert.is(await maintenance(), false);
  assert.is(px.proxy.topology.mode, "read_write");
});

test("a cross-origin form POST (application/x-www-form-urlencoded) does not either", async () => {
  await visit(`http://127.0.0.1:${evilPort}/form-urlencoded`);
  assert.is(await maintenance(), false);
});

test("cross-origin fetches (no-cors text/plain, no-cors without type, JSON with preflight) do not either", async () => {
  await visit(`http://127.0.0.1:${evilPort}/fetch`, async (p) => {
    await p.waitForFunction(() => (window as unknown as { done?: boolean }).done === true, null, {
      timeout: 5000,
    });
  });
  assert.is(await maintenance(), false);
});

test("DNS rebinding: a page of another name resolving to 127.0.0.1 gets 421 and cannot act", async () => {
  const page = await browser.newPage();
  try {
    const r = await page.goto(`http://${REBIND_NAME}:${adminPort}/`);
    assert.is(r?.status(), 421, "the admin page is not served under a foreign name");
    // To the browser this is same-origin: a JSON POST goes without preflight.
    const status = await page.evaluate(async () => {
      const res = await fetch("/maintenance", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"readOnly": true}',
      });
      return res.status;
    });
    assert.is(status, 421);
    const read = await page.evaluate(async () => (await fetch("/status")).status);
    assert.is(read, 421, "nor can it read /status");
  } finally {
    await page.close();
  }
  assert.is(await maintenance(), false);
});

test("the admin's own page still works, and a same-origin JSON action from it is accepted", async () => {
  const page = await browser.newPage();
  try {
    const r = await page.goto(`http://127.0.0.1:${adminPort}/`);
    assert.is(r?.status(), 200);
    await page.waitForSelector("#connection-status");
    const on = await page.evaluate(async () => {
      const res = await fetch("maintenance", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: '{"readOnly": true}',
      });
      return res.status;
    });
    assert.is(on, 200);
    assert.is(await maintenance(), true);
    const off = await page.evaluate(
      async () =>
        (
          await fetch("maintenance", {
            method: "POST",
            headers: { "content-type": "application/json" },
            body: '{"readOnly": false}',
          })
        ).status,
    );
    assert.is(off, 200);
    assert.is(await maintenance(), false);
  } finally {
    await page.close();
  }
});

test("plain HTTP: wrong Content-Type 415, foreign Origin 403, foreign Host 421, cross-site Sec-Fetch-Site 403", async () => {
  const url = `http://127.0.0.1:${adminPort}/maintenance`;
  const body = '{"readOnly": true}';
  const post = (headers: Record<string, string>) => fetch(url, { method: "POST", headers, body });
  assert.is((await post({ "content-type": "text/plain" })).status, 415);
  assert.is((await post({})).status, 415);
  assert.is(
    (await post({ "content-type": "application/json", origin: `http://127.0.0.1:${evilPort}` })).status,
    403,
  );
  assert.is((await post({ "content-type": "application/json", origin: "null" })).status, 403);
  assert.is((await post({ "content-type": "application/json", "sec-fetch-site": "cross-site" })).status, 403);
  // Node's fetch cannot set Host: node:http can.
  const { request } = await import("node:http");
  const foreignHost = await new Promise<number>((resolve, reject) => {
    const req = request(
      { host: "127.0.0.1", port: adminPort, path: "/status", headers: { host: `evil.example:${adminPort}` } },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on("error", reject);
    req.end();
  });
  assert.is(foreignHost, 421);
  assert.is(await maintenance(), false);
  // Same origin, JSON: accepted (curl-like clients send no Origin).
  const ok = await post({
    "content-type": "application/json; charset=utf-8",
    origin: `http://127.0.0.1:${adminPort}`,
  });
  assert.is(ok.status, 200);
  await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: '{"readOnly": false}',
  });
  assert.is(await maintenance(), false);
});

test("admin.token added by a reload (SIGHUP) applies at once, and removed again", async () => {
  const file = join(pair.dir, "proxy.config.json");
  const url = `http://127.0.0.1:${adminPort}/maintenance`;
  const json = { "content-type": "application/json" };
  const base = { ...pair.proxyConfig(), admin: { host: "127.0.0.1", port: adminPort } };
  await px.proxy.reload(parseConfig({ ...base, admin: { ...base.admin, token: "t0ken" } }, file));
  const none = await fetch(url, { method: "POST", headers: json, body: '{"readOnly": true}' });
  assert.is(none.status, 401, "no token: refused once the reload added one");
  const right = await fetch(url, {
    method: "POST",
    headers: { ...json, authorization: "Bearer t0ken" },
    body: '{"readOnly": false}',
  });
  assert.is(right.status, 200);
  await px.proxy.reload(parseConfig(base, file));
  const again = await fetch(url, { method: "POST", headers: json, body: '{"readOnly": false}' });
  assert.is(again.status, 200, "token removed: loopback without a token again");
  assert.is(await maintenance(), false);
});

test.run();
