/**
 * The HA status page (`GET /`): one self-contained HTML document, inline CSS and a small inline
 * script, no external assets. The first paint uses the status embedded in the page; the script
 * then fetches `/status` every 2 s and re-renders. Without JavaScript the <noscript> text summary
 * (the same as `pairgate status`) still says what matters.
 */
import { formatStatusText, type StatusDocument } from "./status.js";

const escapeHtml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

/** JSON inside <script>: nothing in it may close the element. */
const scriptJson = (v: unknown) =>
  JSON.stringify(v)
    .replace(/</g, "\\u003c")
    .replace(/\u2028/g, "\\u2028")
    .replace(/\u2029/g, "\\u2029");

const CSS = `
:root { --bg:#f4f6f8; --card:#fff; --ink:#1d2733; --muted:#5b6876; --line:#dde3ea;
  --ok:#1f7a3f; --ok-bg:#e6f4ea; --warn:#8a5a00; --warn-bg:#fff4d6; --bad:#a8201a; --bad-bg:#fde7e6; }
* { box-sizing: border-box; }
body { margin:0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif;
  background: var(--bg); color: var(--ink); }
header { background:#1d2733; color:#fff; padding:14px 28px; display:flex; align-items:baseline; gap:16px; }
header h1 { font-size:18px; margin:0; font-weight:600; }
header .crumb { color:#aeb9c6; font-size:13px; }
main { max-width:1080px; margin:0 auto; padding:22px 28px 40px; }
.banner { border-radius:10px; padding:18px 22px; border:1px solid var(--line); background:var(--card); margin-bottom:18px; }
.banner.read_write { background:var(--ok-bg); border-color:#b7dfc3; }
.banner.read_only { background:var(--warn-bg); border-color:#f0d58c; }
.banner.down { background:var(--bad-bg); border-color:#f3b7b3; }
.banner .status { font-size:22px; font-weight:650; margin:0 0 4px; }
.banner.read_write .status { color:var(--ok); } .banner.read_only .status { color:var(--warn); } .banner.down .status { color:var(--bad); }
.banner ul { margin:8px 0 0; padding-left:20px; }
.banner li { margin:2px 0; }
.pill { display:inline-block; padding:1px 9px; border-radius:999px; font-size:12px; font-weight:600; letter-spacing:.02em;
  vertical-align:middle; border:1px solid transparent; }
.pill.up { background:var(--ok-bg); color:var(--ok); border-color:#b7dfc3; }
.pill.down { background:var(--bad-bg); color:var(--bad); border-color:#f3b7b3; }
.pill.mode { background:#fff; color:var(--ink); border-color:var(--line); }
.warnings { background:var(--warn-bg); border:1px solid #f0d58c; color:#5c3d00; border-radius:10px; padding:10px 18px; margin-bottom:18px; }
.warnings p { margin:4px 0; }
.grid { display:grid; grid-template-columns: repeat(2, minmax(0, 1fr)); gap:18px; }
@media (max-width: 760px) { .grid { grid-template-columns: minmax(0, 1fr); } }
.card { background:var(--card); border:1px solid var(--line); border-radius:10px; padding:16px 20px; }
h2 .muted { font-weight:400; font-size:13px; }
.card h2 { font-size:15px; margin:0 0 10px; display:flex; justify-content:space-between; align-items:center; }
dl { display:grid; grid-template-columns: max-content 1fr; gap:5px 16px; margin:0; }
dt { color:var(--muted); } dd { margin:0; font-variant-numeric: tabular-nums; word-break: break-word; }
#replication { grid-column: 1 / -1; }
#replication dl { grid-template-columns: max-content minmax(0, 1fr) max-content minmax(0, 1fr); }
@media (max-width: 760px) { #replication dl { grid-template-columns: max-content 1fr; } }
code { font: 13px/1.3 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
.err { color:var(--bad); }
footer { margin-top:22px; color:var(--muted); font-size:13px; display:flex; justify-content:space-between; flex-wrap:wrap; gap:8px; }
footer .stale { color:var(--bad); font-weight:600; }
`;

/** The renderer runs in the browser: plain ES2017, no framework. */
const SCRIPT = `
(function () {
  var el = document.getElementById("app");
  var foot = document.getElementById("updated");
  var lastOk = Date.now();
  function esc(s) { return String(s).replace(/[&<>"]/g, function (c) { return {"&":"&amp;","<":"&lt;",">":"&gt;","\\"":"&quot;"}[c]; }); }
  function ago(iso) {
    if (!iso) return "never";
    var s = Math.max(0, (Date.now() - Date.parse(iso)) / 1000);
    if (s < 1) return "just now";
    if (s < 120) return Math.round(s) + " s ago";
    if (s < 7200) return Math.round(s / 60) + " min ago";
    if (s < 172800) return Math.round(s / 3600) + " h ago";
    return Math.round(s / 86400) + " days ago";
  }
  function when(iso) { return iso ? esc(new Date(iso).toLocaleString()) + " <span class=muted>(" + ago(iso) + ")</span>" : "never"; }
  function onOff(b) { return b === null || b === undefined ? "?" : b ? "ON" : "OFF"; }
  function row(k, v) { return "<dt>" + esc(k) + "</dt><dd>" + v + "</dd>"; }
  function server(b, title) {
    var h = "<section class=card data-role=" + b.role + "><h2><span>" + title + "</span><span class='pill " + (b.up ? "up'>UP" : "down'>DOWN") + "</span></h2><dl>";
    h += row("Host", "<code>" + esc(b.host) + ":" + esc(b.port) + "</code>");
    h += row("State", b.up ? "answering" : "not answering");
    var stale = b.up ? "" : " <span class=muted>(last seen)</span>";
    h += row("read_only", onOff(b.readOnly) + (b.readOnly === null ? "" : stale));
    h += row("Version", b.version ? esc(b.version) + stale : "?");
    h += row("Server id", b.serverId === null ? "?" : esc(b.serverId));
    h += row("Last check", b.lastCheckAt ? ago(b.lastCheckAt) + (b.lastCheckMs !== null ? " (" + esc(b.lastCheckMs) + " ms)" : "") : "not yet");
    if (b.lastError) h += row("Last error", "<span class=err>" + esc(b.lastError) + "</span>");
    return h + "</dl></section>";
  }
  function replication(r, secondaryUp) {
    var h = "<section class=card id=replication><h2><span>Replication to the secondary</span>" +
      (secondaryUp ? "" : "<span class=muted>last seen while the secondary answered</span>") + "</h2>";
    if (!r) return h + "<p>The secondary reports no replication status.</p></section>";
    h += "<dl>";
    h += row("IO thread", esc(r.ioRunning) + (r.ioState ? " <span class=muted>(" + esc(r.ioState) + ")</span>" : ""));
    h += row("SQL thread", esc(r.sqlRunning));
    h += row("Seconds behind", r.secondsBehind === null ? "unknown" : esc(r.secondsBehind) + " s");
    h += row("TLS", r.sslAllowed ? "yes (encrypted channel)" : "<span class=err>no</span>");
    h += row("Last heard from primary", r.secondsSinceMasterContact === null ? "unknown" : esc(r.secondsSinceMasterContact) + " s ago");
    if (r.sourceHost) h += row("Follows", "<code>" + esc(r.sourceHost) + ":" + esc(r.sourcePort) + "</code>");
    h += row("GTID received", "<code>" + esc(r.gtidIoPos || "-") + "</code>");
    h += row("GTID executed", "<code>" + esc(r.gtidExecuted || "-") + "</code>");
    if (r.lastIoError) h += row("Last IO error", "<span class=err>" + esc(r.lastIoError) + "</span>");
    if (r.lastSqlError) h += row("Last SQL error", "<span class=err>" + esc(r.lastSqlError) + "</span>");
    return h + "</dl></section>";
  }
  function consistency(c) {
    if (!c) return "";
    var h = "<section class=card id=consistency><h2><span>Consistency</span></h2><dl>";
    h += row("Lossless now", (c.lossless === null ? "unknown" : c.lossless ? "<span class=ok>yes</span>" : "<span class=err>NO</span>") + "<br><span class=muted>" + esc(c.losslessReason) + "</span>");
    if (c.semiSync) h += row("Semi-sync", (c.semiSync.enabled ? "enabled" : "off") + ", " + (c.semiSync.active ? "active" : "inactive") + ", " + esc(c.semiSync.clients === null ? "?" : c.semiSync.clients) + " replica(s), timeout " + esc(c.semiSync.timeoutMs === null ? "?" : c.semiSync.timeoutMs) + " ms, " + esc(c.semiSync.waitPoint || "?"));
    var cu = c.catchUp;
    h += row("Last catch-up", cu.state === "idle" ? "no failover yet" : esc(cu.state.replace("_", " ")) + (cu.waitedMs === null ? "" : " after " + esc(cu.waitedMs) + " ms") + (cu.missing.length ? "<br><span class=err>secondary lacked " + esc(cu.missingCount) + " transaction(s): " + esc(cu.missing.join(", ")) + "</span>" : ""));
    h += row("Promotion epoch", esc(c.fence.epochSeen) + (c.fence.seenOn ? " <span class=muted>(seen on " + esc(c.fence.seenOn) + ")</span>" : "") + (c.fence.fenced ? "<br><span class=err>" + esc(c.fence.fenced) + "</span>" : ""));
    return h + "</dl></section>";
  }
  function transition(t) {
    if (!t) return "none";
    return when(t.at) + "<br>" + esc(t.cause) + "<br><span class=muted>detected in " + esc(t.detectionSeconds.toFixed(3)) + " s</span>";
  }
  function render(s) {
    var h = "<section class='banner " + s.mode + "' id=banner>";
    h += "<p class=status id=connection-status>Connection Status: " + esc(s.connectionStatus) + " — " + esc(s.headline) + "</p>";
    h += "<div>Mode <span class='pill mode' id=mode>" + esc(s.mode) + "</span>" + (s.maintenance ? " <span class='pill mode'>maintenance</span>" : "") + " since " + when(s.since) + "</div>";
    h += "<ul>" + s.details.map(function (d) { return "<li>" + esc(d) + "</li>"; }).join("") + "</ul></section>";
    if (s.warnings.length) h += "<section class=warnings id=warnings>" + s.warnings.map(function (w) { return "<p>⚠ " + esc(w) + "</p>"; }).join("") + "</section>";
    h += "<div class=grid>" + server(s.primary, "Primary") + server(s.secondary, "Secondary") + replication(s.replication, s.secondary.up);
    h += consistency(s.consistency);
    h += "<section class=card id=history><h2><span>Failover history</span></h2><dl>" + row("Last failover", transition(s.lastFailover)) + row("Last failback", transition(s.lastFailback)) + "</dl></section>";
    h += "<section class=card id=audit><h2><span>Audit</span></h2><dl>";
    if (s.audit) {
      h += row("Backlog", esc(s.audit.pending) + " event(s) " + (s.audit.pending ? (s.mode === "read_write" ? "waiting for delivery" : "kept on local disk until the primary is back") : "— all delivered"));
      h += row("Last delivery", when(s.audit.lastDeliveryAt));
    } else h += row("Audit", "not enabled");
    if (s.sessions !== null) h += row("Client sessions", esc(s.sessions));
    h += "</dl></section></div>";
    el.innerHTML = h;
    document.title = "pairgate — " + s.connectionStatus;
  }
  function tick() {
    fetch("status", { cache: "no-store" }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(function (s) {
      lastOk = Date.now();
      render(s);
      foot.className = "";
      foot.textContent = "Updated " + new Date().toLocaleTimeString() + " · refreshes every 2 s";
    }).catch(function (e) {
      foot.className = "stale";
      foot.textContent = "pairgate is not answering (" + e.message + "); last update " + Math.round((Date.now() - lastOk) / 1000) + " s ago";
    });
  }
  render(JSON.parse(document.getElementById("initial").textContent));
  setInterval(tick, 2000);
})();
`;

export function renderStatusPage(doc: StatusDocument): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pairgate — ${escapeHtml(doc.connectionStatus)}</title>
<style>${CSS}.muted{color:var(--muted)}</style>
</head>
<body>
<header><h1>pairgate</h1><span class="crumb">Admin » General » High Availability</span></header>
<main>
<div id="app"><noscript><pre>${escapeHtml(formatStatusText(doc))}</pre></noscript></div>
<footer><span id="updated">Updated ${escapeHtml(new Date(doc.generatedAt).toISOString())} · refreshes every 2 s</span><span><a href="status">status JSON</a> · <a href="metrics">metrics</a></span></footer>
</main>
<script id="initial" type="application/json">${scriptJson(doc)}</script>
<script>${SCRIPT}</script>
</body>
</html>
`;
}
