/**
 * The status page's charts (src/admin/history.ts, page.ts) through a whole pairgate in headless
 * Chromium: traffic through the proxy while the pair goes read_write → read_only (primary killed)
 * → down (secondary killed) → read_write (both back). In each mode a screenshot is saved under
 * test-artifacts/ (admin-charts-<mode>.png; the last one, after a failover and a failback, is the
 * picture in docs/status-page.png), and the charts are checked as drawn: the mode timeline has a
 * segment per mode and a marker per failover/failback, statements per second has a line per backend,
 * the lag chart a line. GET /history serves the samples.
 */
import { mkdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Browser, Page } from "playwright-core";
import { test } from "uvu";
import * as assert from "uvu/assert";
import type { HistoryDocument } from "../../src/admin/history.js";
import { launchChromium } from "../helpers/browser.js";
import { startPair, type TestPair } from "../helpers/pair.js";
import { type RunningProxy, startProxy } from "../helpers/proxy.js";
import { until } from "../helpers/wait.js";

const ARTIFACTS = fileURLToPath(new URL("../../test-artifacts/", import.meta.url));

let pair: TestPair;
let px: RunningProxy;
let browser: Browser;
let page: Page;
let load: { stop(): Promise<void>; answered: number };

/** A few clients reading through the proxy all along (errors ignored: the pair goes down on purpose). */
function startLoad(): { stop(): Promise<void>; answered: number } {
  let running = true;
  const state = {
    answered: 0,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
  const loops = [0, 1, 2].map(async (n) => {
    while (running) {
      const c = await px.connect().catch(() => null);
      if (!c) {
        await new Promise((r) => setTimeout(r, 100));
        continue;
      }
      c.on("error", () => {});
      try {
        while (running) {
          await c.query("SELECT id FROM ptrx_resources WHERE id = ?", [1 + n]);
          state.answered++;
          await new Promise((r) => setTimeout(r, 5 + 10 * n));
        }
      } catch {
        // the backend went away: a new connection
      } finally {
        c.destroy();
      }
    }
  });
  return state;
}

async function history(): Promise<HistoryDocument> {
  const r = await fetch(`http://127.0.0.1:${px.proxy.adminPort}/history`);
  assert.is(r.status, 200);
  return (await r.json()) as HistoryDocument;
}

interface ChartsDrawn {
  modes: string[];
  markers: string[];
  series: string[];
  lag: number;
  timeLabels: number;
  title: string;
}

/** Reload the page (fresh history), wait for the charts, screenshot; returns what the charts drew. */
async function shot(name: string) {
  await page.goto(`http://127.0.0.1:${px.proxy.adminPort}/`);
  await page.waitForSelector("#chart-qps");
  mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: join(ARTIFACTS, `admin-charts-${name}.png`), fullPage: true });
  // Only what the browser really draws counts (an element swallowed by a malformed sibling has no
  // box). A string, so that tsx's helpers (__name) do not travel into the page.
  return page.evaluate<ChartsDrawn>(`(() => {
    function drawn(sel) {
      return [...document.querySelectorAll(sel)].filter((e) => {
        const r = e.getBoundingClientRect();
        return r.width > 0 || r.height > 0;
      });
    }
    return {
      modes: drawn("#chart-mode rect.seg").map((r) => r.getAttribute("data-mode")),
      markers: drawn("#chart-mode g.mk").map((g) => g.getAttribute("data-kind")),
      series: drawn("#chart-qps path.series").map((p) => p.getAttribute("data-series")),
      lag: drawn("#chart-lag path.series").length,
      timeLabels: drawn("#chart-qps text").filter((t) => /^[0-9][0-9]:[0-9][0-9]/.test(t.textContent || "")).length,
      title: (document.querySelector("#charts h2") || {}).textContent || "",
    };
  })()`);
}

test.before(async () => {
  pair = await startPair();
  px = await startProxy(
    pair,
    pair.proxyConfig({
      monitor: { intervalMs: 100, connectTimeoutMs: 300, queryTimeoutMs: 300, fall: 2, rise: 2 },
      admin: { charts: { sampleMs: 250, windowMs: 60_000 } },
    }),
  );
  browser = await launchChromium();
  page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
  load = startLoad();
});

test.after(async () => {
  await load?.stop();
  await browser?.close();
  await px?.stop();
  await pair?.stop();
});

test("read_write: the primary's traffic and a lag line are charted", async () => {
  await new Promise((r) => setTimeout(r, 4000));
  const h = await history();
  assert.ok(h.t.length >= 5, `samples: ${h.t.length}`);
  assert.ok(
    h.primaryPerSecond.some((v) => v !== null && v > 10),
    "statements per second to the primary",
  );
  assert.ok(
    h.lag.some((v) => v === 0),
    "lag sampled (0 s behind)",
  );
  const c = await shot("read_write");
  assert.equal(c.modes, ["read_write"]);
  assert.equal(c.markers, []);
  assert.ok(c.series.includes("primary"), JSON.stringify(c));
  assert.is(c.lag, 1);
  assert.ok(c.timeLabels >= 3, `time axis labels: ${c.timeLabels}`);
  assert.match(c.title, "Last 60 seconds");
});

test("read_only (primary killed): a failover marker, the secondary's traffic", async () => {
  await pair.lab.kill("primary");
  await px.proxy.topology.waitFor("read_only", 10_000);
  await new Promise((r) => setTimeout(r, 4000));
  const h = await history();
  assert.ok(
    h.secondaryPerSecond.some((v) => v !== null && v > 10),
    "statements per second to the secondary",
  );
  // (On a loaded machine a slow check can add a brief read_only → down → read_only: not asserted.)
  assert.is(h.transitions[0]?.kind, "failover");
  const c = await shot("read_only");
  assert.equal(c.modes.slice(0, 2), ["read_write", "read_only"]);
  assert.is(c.modes.at(-1), "read_only");
  assert.is(c.markers[0], "failover");
  assert.ok(c.series.includes("secondary"));
});

test("down (secondary killed too), then both back: read_write again with a failback marker", async () => {
  await pair.lab.kill("secondary");
  await px.proxy.topology.waitFor("down", 10_000);
  await new Promise((r) => setTimeout(r, 2000));
  const d = await shot("down");
  assert.equal(d.modes.slice(0, 2), ["read_write", "read_only"]);
  assert.is(d.modes.at(-1), "down");
  await pair.lab.start("secondary");
  await pair.lab.start("primary");
  await px.proxy.topology.waitFor("read_write", 20_000);
  const before = load.answered;
  await until("traffic flows again", async () => load.answered > before + 200, 15_000);
  await new Promise((r) => setTimeout(r, 3000));
  const c = await shot("after-failback");
  assert.equal(c.modes.at(-1), "read_write");
  assert.ok(c.modes.includes("read_only") && c.modes.includes("down"), JSON.stringify(c.modes));
  assert.ok(c.markers.includes("failover") && c.markers.includes("failback"), JSON.stringify(c.markers));
  assert.ok(c.series.includes("primary") && c.series.includes("secondary"));
});

test.run();
