// llmrank's dashboard: reads the JSON API and the server's SVG charts with a read key, keeps
// the key in sessionStorage (/#key=KEY fills it in), and polls with ETags so new data show up
// within seconds without a reload. No request leaves this origin.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 3000;
  const state = { view: "ranking", etag: null, changed: null, timer: null, metrics: [] };

  // A key in the fragment (scripts, tests) is taken and removed from the address bar.
  const m = location.hash.match(/key=([^&]+)/);
  if (m) {
    sessionStorage.setItem("llmrank-key", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  const key = () => sessionStorage.getItem("llmrank-key") || "";

  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  const num = (x) => (x === null || x === undefined || Number.isNaN(x)) ? "–" : Math.abs(x) >= 100 ? x.toFixed(0) : Math.abs(x) >= 10 ? x.toFixed(1) : x.toFixed(2);

  function askKey(message) {
    $("main").hidden = true;
    $("key-form").hidden = false;
    $("key-error").textContent = message || "";
    $("key").focus();
  }

  async function get(path, etag) {
    const headers = { "X-API-KEY": key() };
    if (etag) headers["If-None-Match"] = etag;
    const r = await fetch(path, { headers, cache: "no-store" });
    if (r.status === 401) {
      sessionStorage.removeItem("llmrank-key");
      const body = await r.json().catch(() => ({}));
      askKey("The key was refused (" + (body.error || "401") + "): enter a read key.");
      throw new Error("unauthorized");
    }
    return r;
  }

  function query(extra, withBy = true) {
    const p = new URLSearchParams();
    const by = $("by").value, w = $("window").value, src = $("source").value, wl = $("workload").value.trim();
    if (withBy && by !== "mean") p.set("by", by);
    if (w) p.set("window", w);
    if (src) p.set("source", src);
    for (const pair of wl.split(",").map((s) => s.trim()).filter(Boolean)) p.append("workload", pair);
    for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
    const s = p.toString();
    return s ? "?" + s : "";
  }

  function dataPath() {
    const metric = encodeURIComponent($("metric").value);
    switch (state.view) {
      case "trend": return "/history/" + metric + query({ bucket: $("window").value ? "1h" : "1d", window: $("window").value || "30d" }, false);
      case "runs": return "/runs?limit=50";
      default: return "/ranking/" + metric + query();
    }
  }

  function chartPath() {
    const metric = encodeURIComponent($("metric").value);
    switch (state.view) {
      case "trend": return "/plot/trend/" + metric + query({ window: $("window").value || "30d" });
      case "tradeoff": return "/plot/tradeoff/" + metric + query({ y: $("y").value });
      case "runs": return null;
      default: return "/plot/ranking/" + metric + query();
    }
  }

  function rankingTable(r) {
    const rows = r.rankings.map((e) => `<tr data-llm="${esc(e.llm)}" data-rank="${e.rank}"><td>${e.rank}${e.tied ? "=" : ""}</td><td class="llm">${esc(e.llm)}${e.reported ? " [reported]" : ""}</td><td>${e.n}</td><td>${num(e.mean)}</td><td>${e.ci95 ? num(e.ci95[0]) + "–" + num(e.ci95[1]) : "–"}</td><td>${num(e.p50)}</td><td>${num(e.p99)}</td></tr>`).join("");
    return `<table><caption>${esc(r.metric)} (${esc(r.unit)}, ${r.direction} is better), by ${r.by}</caption><thead><tr><th>rank</th><th class="llm">LLM</th><th>n</th><th>mean</th><th>95% CI</th><th>p50</th><th>p99</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  function historyTable(h) {
    const rows = h.series.map((s) => {
      const last = s.points[s.points.length - 1];
      return `<tr data-llm="${esc(s.llm)}"><td class="llm">${esc(s.llm)}</td><td>${s.points.length}</td><td>${last ? esc(last.time) : "–"}</td><td>${last ? num(last.mean) : "–"}</td><td>${last ? num(last.p99) : "–"}</td></tr>`;
    }).join("");
    return `<table><caption>${esc(h.metric)} (${esc(h.unit)}) per ${h.bucket}: last bucket</caption><thead><tr><th class="llm">LLM</th><th>buckets</th><th>last</th><th>mean</th><th>p99</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  function runsTable(j) {
    const rows = j.runs.map((r) => `<tr><td>${r.id}</td><td class="llm">${esc(r.source)}</td><td class="llm">${esc(Object.entries(r.workload).map(([k, v]) => k + "=" + v).join(" "))}${r.model ? " model=" + esc(r.model) : ""}</td><td>${r.rows}</td><td class="llm">${esc(r.status)}</td><td class="llm">${esc(r.started_at)}</td></tr>`).join("");
    return `<table><caption>Recent runs</caption><thead><tr><th>id</th><th class="llm">source</th><th class="llm">workload</th><th>rows</th><th class="llm">status</th><th class="llm">started (UTC)</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  async function render(force) {
    const path = dataPath();
    const r = await get(path, force ? null : state.etag);
    if (r.status === 304) return;
    const body = await r.json();
    if (!r.ok) {
      $("chart").innerHTML = "";
      $("table").innerHTML = `<p class="empty">${esc(body.error || r.statusText)}</p>`;
      state.etag = null;
      return;
    }
    state.etag = r.headers.get("ETag");
    state.changed = body.data_version;
    const chart = chartPath();
    if (chart) {
      const c = await get(chart);
      $("chart").innerHTML = c.ok ? await c.text() : `<p class="empty">${esc((await c.json().catch(() => ({}))).error || c.statusText)}</p>`;
    } else {
      $("chart").innerHTML = "";
    }
    $("table").innerHTML = state.view === "runs" ? runsTable(body) : state.view === "trend" ? historyTable(body) : rankingTable(body);
    $("status").textContent = "updated " + new Date().toLocaleTimeString() + (body.generated_at ? " · data as of " + body.generated_at : "");
  }

  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(async () => {
      try { await render(false); } catch (e) { /* shown already */ }
      schedule();
    }, POLL_MS);
  }

  async function start() {
    if (!key()) { askKey(); return; }
    const r = await get("/metric-types");
    if (!r.ok) { askKey("The API answered " + r.status + "."); return; }
    state.metrics = (await r.json()).metrics;
    const opts = state.metrics.map((m) => `<option value="${esc(m.name)}">${esc(m.name)} (${esc(m.unit)})</option>`).join("");
    $("metric").innerHTML = opts;
    $("y").innerHTML = opts;
    const tps = state.metrics.find((m) => m.name === "TPS");
    if (tps) $("y").value = "TPS";
    $("key-form").hidden = true;
    $("main").hidden = false;
    await render(true);
    schedule();
  }

  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("llmrank-key", $("key").value);
    start().catch(() => {});
  });
  for (const b of document.querySelectorAll("nav button")) {
    b.addEventListener("click", () => {
      state.view = b.dataset.view;
      for (const o of document.querySelectorAll("nav button")) o.setAttribute("aria-pressed", String(o === b));
      $("y-label").hidden = state.view !== "tradeoff";
      state.etag = null;
      render(true).catch(() => {});
    });
  }
  for (const id of ["metric", "y", "by", "window", "source", "workload"]) {
    $(id).addEventListener("change", () => { state.etag = null; render(true).catch(() => {}); });
  }
  start().catch(() => {});
})();
