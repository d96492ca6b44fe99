/**
 * The HA status page (`GET /`): one self-contained HTML document, inline CSS and a small inline
 * script, no external assets. The first paint uses the status embedded in the page; the script
 * then fetches `/status` every 2 s and re-renders. Without JavaScript the <noscript> text summary
 * (the same as `pairgate status`) still says what matters.
 */
import type { HistoryDocument } from "./history.js";
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
#charts { margin-bottom:18px; }
#charts h3 { font-size:13px; font-weight:600; margin:10px 0 2px; color:var(--muted); display:flex; gap:14px; align-items:center; }
#charts h3 .key { font-weight:400; display:inline-flex; align-items:center; gap:5px; }
#charts h3 .sw { display:inline-block; width:14px; height:4px; border-radius:2px; }
#charts svg { display:block; width:100%; height:auto; overflow:visible; }
#charts svg text { font: 11px system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif; fill:#5b6876; }
#charts svg .mk text { font-weight:600; }
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

  var history = null;
  var MODE_COLOR = { read_write: "#2f9e5a", read_only: "#e0a526", down: "#d0443c" };
  var W = 1000, L = 58, R = 12;
  function fmt(n) { return n >= 100 ? String(Math.round(n)) : n >= 10 ? n.toFixed(0) : n >= 1 ? n.toFixed(1) : n === 0 ? "0" : n.toFixed(2); }
  function niceMax(v) {
    if (!(v > 0)) return 1;
    var p = Math.pow(10, Math.floor(Math.log(v) / Math.LN10));
    var m = [1, 2, 2.5, 5, 10];
    for (var i = 0; i < m.length; i++) if (m[i] * p >= v) return m[i] * p;
    return 10 * p;
  }
  function clock(t, secs) {
    var d = new Date(t);
    var p = function (n) { return (n < 10 ? "0" : "") + n; };
    return p(d.getHours()) + ":" + p(d.getMinutes()) + (secs ? ":" + p(d.getSeconds()) : "");
  }
  function scaleX(h) {
    var t0 = h.now - h.windowMs;
    return function (t) { return L + (Math.max(t0, Math.min(h.now, t)) - t0) / h.windowMs * (W - L - R); };
  }
  function ticks(h) {
    var steps = [10e3, 30e3, 60e3, 120e3, 300e3, 600e3, 900e3, 1800e3, 3600e3, 7200e3];
    var step = steps[steps.length - 1];
    for (var i = 0; i < steps.length; i++) if (h.windowMs / steps[i] <= 7) { step = steps[i]; break; }
    var out = [];
    for (var t = Math.ceil((h.now - h.windowMs) / step) * step; t <= h.now; t += step) out.push(t);
    return { list: out, secs: step < 60e3 };
  }
  function markers(h, x, top, bottom, labels) {
    var shown = h.transitions.filter(function (tr) { return tr.at >= h.now - h.windowMs; });
    // Labels go in the first of three rows where they do not run into another: failovers and
    // failbacks first, the other mode changes where room is left.
    var placed = {};
    if (labels) {
      var rows = [[], [], []];
      var order = shown.map(function (tr, i) { return i; });
      order.sort(function (i, j) { return (shown[i].kind === "other" ? 1 : 0) - (shown[j].kind === "other" ? 1 : 0) || i - j; });
      order.forEach(function (i) {
        var tr = shown[i];
        var label = (tr.kind === "failover" ? "▼ failover " : tr.kind === "failback" ? "▲ failback " : "→ " + tr.to + " ") + clock(tr.at, true);
        var px = x(tr.at), w = label.length * 6.6 + 8;
        var right = px + w > W - R;
        var a = right ? px - w : px, b = right ? px : px + w;
        for (var r = 0; r < rows.length; r++) {
          var free = rows[r].every(function (iv) { return b < iv[0] || a > iv[1]; });
          if (free) { rows[r].push([a, b]); placed[i] = { row: r, right: right, label: label }; break; }
        }
      });
    }
    var s = "";
    shown.forEach(function (tr, i) {
      var c = tr.kind === "failover" ? "#c0392b" : tr.kind === "failback" ? "#1f7a3f" : "#8a5a00";
      var px = x(tr.at);
      var xx = px.toFixed(1);
      s += "<g class=mk data-kind=" + tr.kind + "><title>" + esc(tr.from + " → " + tr.to + " at " + new Date(tr.at).toLocaleTimeString() + ": " + tr.cause) + "</title>";
      s += "<line x1=" + xx + " x2=" + xx + " y1=" + top + " y2=" + bottom + " stroke='" + c + "' stroke-width='1.5' stroke-dasharray='4 3'/>";
      var p = placed[i];
      if (p) s += "<text x=" + (p.right ? px - 4 : px + 4).toFixed(1) + " y=" + (10 + 12 * p.row) + " text-anchor=" + (p.right ? "end" : "start") + " style='fill:" + c + "'>" + esc(p.label) + "</text>";
      s += "</g>";
    });
    return s;
  }
  function modeChart(h, x) {
    var H = 66, y0 = 38, y1 = 60;
    var s = "<svg id=chart-mode viewBox='0 0 " + W + " " + H + "' role=img aria-label='mode over the last hour'>";
    s += "<rect x=" + L + " y=" + y0 + " width=" + (W - L - R) + " height=" + (y1 - y0) + " fill='#eef1f4' rx='3'/>";
    var segs = [];
    var mode = h.initialMode, from = h.since;
    h.transitions.forEach(function (tr) { if (tr.at > from) { segs.push([from, tr.at, mode]); } mode = tr.to; from = Math.max(from, tr.at); });
    segs.push([from, h.now, mode]);
    segs.forEach(function (g) {
      if (g[1] < h.now - h.windowMs) return;
      var a = x(g[0]), b = x(g[1]);
      s += "<rect class=seg data-mode=" + g[2] + " x=" + a.toFixed(1) + " y=" + y0 + " width=" + Math.max(1.5, b - a).toFixed(1) + " height=" + (y1 - y0) + " fill='" + MODE_COLOR[g[2]] + "'/>";
    });
    s += "<text x=" + (L - 6) + " y=" + (y1 - 7) + " text-anchor=end>mode</text>";
    s += markers(h, x, 2, y1 + 4, true);
    return s + "</svg>";
  }
  function path(h, x, ys, top, height, max) {
    var d = "", pen = false;
    for (var i = 0; i < h.t.length; i++) {
      var v = ys[i];
      if (v === null || v === undefined) { pen = false; continue; }
      var px = x(h.t[i]).toFixed(1), py = (top + height - Math.min(v, max) / max * height).toFixed(1);
      d += (pen ? "L" : "M") + px + " " + py + " ";
      pen = true;
    }
    return d;
  }
  function lineChart(h, x, id, label, series, unit) {
    var H = 96, top = 8, height = 70;
    var max = 0;
    series.forEach(function (se) { se.v.forEach(function (v) { if (v !== null && v > max) max = v; }); });
    max = niceMax(Math.max(max, unit === "s" ? 1 : 1));
    var s = "<svg id=" + id + " viewBox='0 0 " + W + " " + H + "' role=img aria-label='" + esc(label) + "'>";
    [0, 0.5, 1].forEach(function (f) {
      var y = (top + height - f * height).toFixed(1);
      s += "<line x1=" + L + " x2=" + (W - R) + " y1=" + y + " y2=" + y + " stroke='#e3e8ee'/>";
      s += "<text x=" + (L - 6) + " y=" + (Number(y) + 4) + " text-anchor=end>" + fmt(max * f) + (f === 1 && unit ? " " + unit : "") + "</text>";
    });
    series.forEach(function (se) {
      var d = path(h, x, se.v, top, height, max);
      if (!d) return;
      if (se.fill) s += "<path d='" + d + "' fill=none stroke='" + se.fill + "' stroke-width=6 stroke-linejoin=round opacity='.25'/>";
      s += "<path class=series data-series=" + se.name + " d='" + d + "' fill=none stroke='" + se.color + "' stroke-width=1.8 stroke-linejoin='round'/>";
    });
    s += markers(h, x, top, top + height, false);
    var tk = ticks(h);
    tk.list.forEach(function (t) {
      var xx = x(t).toFixed(1);
      s += "<line x1=" + xx + " x2=" + xx + " y1=" + (top + height) + " y2=" + (top + height + 4) + " stroke='#aab4bf'/>";
      s += "<text x=" + xx + " y=" + (top + height + 16) + " text-anchor=middle>" + clock(t, tk.secs) + "</text>";
    });
    return s + "</svg>";
  }
  function charts(h) {
    var secs = Math.round(h.windowMs / 1000);
    var span = secs === 3600 ? "hour" : secs % 3600 === 0 ? secs / 3600 + " hours" : secs >= 120 ? Math.round(secs / 60) + " minutes" : secs + " seconds";
    var head = "<section class=card id=charts><h2><span>Last " + span + "</span><span class=muted>sampled every " + fmt(h.sampleMs / 1000) + " s, kept in pairgate's memory</span></h2>";
    var x = scaleX(h);
    var key = function (c, t) { return "<span class=key><span class=sw style='background:" + c + "'></span>" + t + "</span>"; };
    var s = head;
    s += "<h3>Mode " + key(MODE_COLOR.read_write, "read_write") + key(MODE_COLOR.read_only, "read_only") + key(MODE_COLOR.down, "down") + key("#c0392b", "failover") + key("#1f7a3f", "failback") + "</h3>" + modeChart(h, x);
    s += "<h3>Replication lag (seconds behind the primary)</h3>" + lineChart(h, x, "chart-lag", "replication lag", [{ name: "lag", v: h.lag, color: "#6a4fb3" }], "s");
    s += "<h3>Statements per second " + key("#2b6cb0", "primary") + key("#dd7a1f", "secondary") + "</h3>" + lineChart(h, x, "chart-qps", "statements per second per backend", [{ name: "primary", v: h.primaryPerSecond, color: "#2b6cb0" }, { name: "secondary", v: h.secondaryPerSecond, color: "#dd7a1f" }], "/s");
    return s + "</section>";
  }
  function render(s) {
    var h = "<section class='banner " + s.mode + "' id=banner>";
    h += "<p class=status id=connection-status>Connection Status: " + esc(s.connectionStatus) + " — " + esc(s.headline) + "</p>";
    h += "<div>Mode <span class='pill mode' id=mode>" + esc(s.mode) + "</span>" + (s.maintenance ? " <span class='pill mode'>maintenance</span>" : "") + " since " + when(s.since) + "</div>";
    h += "<ul>" + s.details.map(function (d) { return "<li>" + esc(d) + "</li>"; }).join("") + "</ul></section>";
    if (s.warnings.length) h += "<section class=warnings id=warnings>" + s.warnings.map(function (w) { return "<p>⚠ " + esc(w) + "</p>"; }).join("") + "</section>";
    if (history) h += charts(history);
    h += "<div class=grid>" + server(s.primary, "Primary") + server(s.secondary, "Secondary") + replication(s.replication, s.secondary.up);
    h += consistency(s.consistency);
    h += "<section class=card id=history><h2><span>Failover history</span></h2><dl>" + row("Last failover", transition(s.lastFailover)) + row("Last failback", transition(s.lastFailback)) + "</dl></section>";
    h += "<section class=card id=audit><h2><span>Audit</span></h2><dl>";
    if (s.audit) {
      h += row("Backlog", esc(s.audit.pending) + " event(s) " + (s.audit.pending ? (s.mode === "read_write" ? "waiting for delivery" : "kept on local disk until the primary is back") : "— all delivered"));
      h += row("Last delivery", when(s.audit.lastDeliveryAt));
      var ch = s.audit.chain;
      h += row("Chain head", ch ? "<code id=chain-head>" + esc(ch.chainId.slice(0, 12)) + "… seq " + esc(ch.seq) + " " + esc(ch.hash.slice(0, 16)) + "…</code> (" + esc(ch.alg) + ")" : "no event yet");
      var v = s.audit.verification;
      h += row("Last verification", v ? "<span id=chain-verification>" + (v.ok ? "OK" : "<b>FAILED</b>: " + esc(v.problemCount) + " problem(s) — " + esc(v.problems[0] || "")) + "</span> " + when(v.at) + ", " + esc(v.events) + " event(s)" + (v.error ? " (last attempt: " + esc(v.error) + ")" : "") : "not yet");
      var cat = s.audit.catalog;
      if (cat) {
        h += row("Catalog", "<span id=audit-catalog>" + esc(cat.derivedNames) + " name(s) audited by derivation from " + esc(cat.objects) + " object(s)</span>, read " + when(cat.lastReadAt) + (cat.failures ? ", " + esc(cat.failures) + " of " + esc(cat.reads) + " read(s) failed" : "") + (cat.lastError ? " — <b>cannot read</b>: " + esc(cat.lastError) : ""));
        h += row("Copies", "<span id=audit-copies>" + esc(cat.copies) + "</span> table(s) audited as copies" + (cat.copiesNotRemembered ? ", <b>" + esc(cat.copiesNotRemembered) + " not remembered</b> (limit reached)" : ""));
      }
      if (v) v.chains.forEach(function (c) { h += row("Chain " + c.chainId.slice(0, 12) + "…", esc((c.sites || []).join(",")) + " head seq " + esc(c.seq) + " " + esc(c.hash.slice(0, 16)) + "…"); });
    } else h += row("Audit", "not enabled");
    if (s.sessions !== null) h += row("Client sessions", esc(s.sessions));
    h += "</dl></section>" + accounts(s.accounts) + "</div>";
    el.innerHTML = h;
    document.title = "pairgate — " + s.connectionStatus;
  }
  function accounts(a) {
    if (!a) return "";
    var h = "<section class=card id=accounts><h2><span>Accounts</span></h2><dl>";
    h += row("Config users", esc(a.configUsers));
    var f = a.fromServers;
    if (!f) h += row("From the servers", "off (accounts.fromServers)");
    else {
      h += row("From the servers", esc(f.accounts) + " account(s)" + (f.source ? " read from the " + esc(f.source) : ""));
      h += row("Read", when(f.loadedAt));
      h += row("Refreshes", esc(f.refreshes) + " ok, " + esc(f.failures) + " failed");
      if (f.lastError) h += row("Last error", esc(f.lastError));
    }
    return h + "</dl></section>";
  }
  var ticks_ = 0;
  function tick() {
    if (ticks_++ % 3 === 2) fetch("history", { cache: "no-store" }).then(function (r) { return r.ok ? r.json() : null; }).then(function (h) { if (h) history = h; }).catch(function () {});
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
  var initialHistory = document.getElementById("history");
  if (initialHistory) history = JSON.parse(initialHistory.textContent);
  render(JSON.parse(document.getElementById("initial").textContent));
  setInterval(tick, 2000);
})();
`;

export function renderStatusPage(doc: StatusDocument, history?: HistoryDocument): string {
  // Two sites' pages open side by side (the two-site lab) must say which is which.
  const siteName = (doc.config as { site?: string } | null)?.site;
  const site = siteName && siteName !== "default" ? ` · ${escapeHtml(siteName)}` : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>pairgate${site} — ${escapeHtml(doc.connectionStatus)}</title>
<style>${CSS}.muted{color:var(--muted)}</style>
</head>
<body>
<header><h1>pairgate${site}</h1><span class="crumb">Admin » General » High Availability</span></header>
<main>
<div id="app"><noscript><pre>${escapeHtml(formatStatusText(doc))}</pre></noscript></div>
<footer><span id="updated">Updated ${escapeHtml(new Date(doc.generatedAt).toISOString())} · refreshes every 2 s</span><span><a href="status">status JSON</a> · <a href="metrics">metrics</a></span></footer>
</main>
<script id="initial" type="application/json">${scriptJson(doc)}</script>
${history ? `<script id="history" type="application/json">${scriptJson(history)}</script>\n` : ""}
<script>${SCRIPT}</script>
</body>
</html>
`;
}
