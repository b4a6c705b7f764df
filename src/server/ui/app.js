// llmrank's dashboard: reads the JSON API and the server's SVG charts with a read key, keeps
// the key in sessionStorage (/#key=KEY fills it in), and redraws when the server's event
// stream (GET /events) says the data changed, polling with ETags while the stream is down.
// No request leaves this origin.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const POLL_MS = 3000;
  const state = { view: "ranking", etag: null, version: null, timer: null, metrics: [], width: 0, lastRun: null, live: false, listening: false, seq: 0 };

  // A key in the fragment (scripts, tests) is taken and removed from the address bar.
  const m = location.hash.match(/key=([^&]+)/);
  if (m) {
    sessionStorage.setItem("llmrank-key", decodeURIComponent(m[1]));
    history.replaceState(null, "", location.pathname + location.search);
  }
  const key = () => sessionStorage.getItem("llmrank-key") || "";

  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  // A name or label from the data, isolated: its direction (or an override it leaves open)
  // cannot reorder the text beside it.
  const bdi = (s) => "<bdi>" + esc(s) + "</bdi>";
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
    const by = $("by").value, w = $("window").value, src = $("source").value, wl = $("workload").value;
    if (withBy && by !== "mean") p.set("by", by);
    if (w) p.set("window", w);
    if (src) p.set("source", src);
    for (const pair of wl.split(",").map((s) => s.trim()).filter(Boolean)) p.append("workload", pair);
    for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
    const s = p.toString();
    return s ? "?" + s : "";
  }

  // The SLO of the thresholds entered (ms), e.g. "TTFT<=200ms,TPOT<=40ms"; "" when none.
  const SLO_INPUTS = [["TTFT", "slo-ttft", "ttft"], ["TPOT", "slo-tpot", "tpot"], ["e2e_latency", "slo-e2e", "e2e"]];
  function sloText() {
    return SLO_INPUTS.map(([m, id]) => [m, $(id).value.trim()])
      .filter(([, v]) => v !== "")
      .map(([m, v]) => m + "<=" + v + "ms").join(",");
  }
  const withSlo = (extra) => { const slo = sloText(); return slo ? { slo, ...extra } : { ...extra }; };

  // The view and its thresholds live in the address, so a view can be shared.
  function saveAddress() {
    const p = new URLSearchParams();
    if (state.view !== "ranking") p.set("view", state.view);
    if (state.view === "slo" || state.view === "sweep") {
      for (const [, id, name] of SLO_INPUTS) p.set(name, $(id).value.trim()); // empty: unconstrained
      if (state.view === "sweep" && $("sweep-chart").value !== "sweep") p.set("chart", $("sweep-chart").value);
    }
    if (state.view === "compare") for (const id of ["base", "cand"]) p.set(id, $(id).value.trim());
    const s = p.toString();
    history.replaceState(null, "", location.pathname + (s ? "?" + s : ""));
  }
  function readAddress() {
    const p = new URLSearchParams(location.search);
    const view = p.get("view");
    if (view && document.querySelector(`nav button[data-view="${CSS.escape(view)}"]`)) state.view = view;
    for (const [, id, name] of SLO_INPUTS) if (p.has(name)) $(id).value = p.get(name);
    if (p.get("chart") === "interactivity") $("sweep-chart").value = "interactivity";
    for (const id of ["base", "cand"]) if (p.has(id)) $(id).value = p.get(id);
  }

  // A comparison's parameters: both sides, the metric and the statistic.
  function sides(extra) {
    const p = new URLSearchParams({ base: $("base").value.trim(), cand: $("cand").value.trim(), metric: $("metric").value, by: $("by").value });
    for (const [k, v] of Object.entries(extra || {})) p.set(k, v);
    return "?" + p.toString();
  }

  function dataPath() {
    const metric = encodeURIComponent($("metric").value);
    switch (state.view) {
      // Hours up to a week, days beyond; "all" is all time (the server finds its start).
      case "trend": return "/history/" + metric + query({ bucket: "auto" }, false);
      case "slo": return "/goodput" + query(withSlo(), false);
      case "sweep": return "/sweep/" + metric + query(withSlo(), false);
      case "runs": return "/runs?limit=50";
      case "compare": return "/compare" + sides();
      default: return "/ranking/" + metric + query();
    }
  }

  // Charts are drawn for the width they get (in steps of 20 px, so the cache stays warm).
  const chartWidth = () => Math.max(320, Math.min(1600, Math.floor($("chart").clientWidth / 20) * 20));

  function chartPath() {
    const metric = encodeURIComponent($("metric").value);
    const width = { width: state.width };
    switch (state.view) {
      case "trend": return "/plot/trend/" + metric + query(width);
      case "tradeoff": return "/plot/tradeoff/" + metric + query({ y: $("y").value, ...width });
      case "slo": return "/plot/ranking/goodput" + query(withSlo(width), false);
      case "sweep": {
        if ($("sweep-chart").value === "interactivity") return "/plot/interactivity/" + metric + query(width, false);
        const by = $("by").value === "p99" ? { by: "p99" } : {};
        return "/plot/sweep/" + metric + query(withSlo({ ...by, ...width }), false);
      }
      case "runs": return null;
      case "compare": return "/plot/compare" + sides(width);
      default: return "/plot/ranking/" + metric + query(width);
    }
  }

  // What the answer covers, and a warning when it mixes workloads (loads, hardware).
  function showCovered(j) {
    const el = $("covered");
    if (!j || !Array.isArray(j.sources)) { el.textContent = ""; el.className = ""; return; }
    const n = j.workloads;
    let text = "Covers " + (j.sources.join(", ") || "no") + " data, " + n + " workload" + (n === 1 ? "" : "s");
    if (n > 1) text += ": mixed loads or hardware; pick one under Workload to compare like with like";
    el.textContent = text;
    el.className = n > 1 ? "warn" : "";
  }

  // The workloads that hold runs, as the picker's options (values are key=value lists).
  async function loadWorkloads() {
    const r = await get("/workloads");
    if (!r.ok) return;
    const chosen = $("workload").value;
    const opts = ['<option value="">every</option>'];
    for (const w of (await r.json()).workloads) {
      const pairs = Object.entries(w.params).map(([k, v]) => k + "=" + v);
      if (!pairs.length) continue; // simulated data: one workload without parameters
      const value = pairs.join(",");
      opts.push(`<option value="${esc(value)}">${esc(w.source)}: ${esc(pairs.join(" "))} (${w.runs} run${w.runs === 1 ? "" : "s"})</option>`);
    }
    $("workload").innerHTML = opts.join("");
    if ([...$("workload").options].some((o) => o.value === chosen)) $("workload").value = chosen;
  }

  function rankingTable(r) {
    // The runs' column only when some LLM is judged over its runs (three runs or more of one workload).
    const overRuns = r.rankings.some((e) => e.run_ci95);
    const runs = (e) => overRuns ? `<td data-over="${e.interval_over}">${e.run_ci95 ? num(e.run_ci95[0]) + "–" + num(e.run_ci95[1]) + " (" + e.runs + ")" : "–"}</td>` : "";
    const rows = r.rankings.map((e) => `<tr data-llm="${esc(e.llm)}" data-rank="${e.rank}"><td>${e.rank}${e.tied ? "=" : ""}</td><td class="llm">${bdi(e.llm)}${e.reported ? " [reported]" : ""}</td><td>${e.n}</td><td>${num(e.mean)}</td><td>${e.ci95 ? num(e.ci95[0]) + "–" + num(e.ci95[1]) : "–"}</td><td>${num(e.p50)}</td><td>${num(e.p99)}</td>${runs(e)}</tr>`).join("");
    const note = overRuns ? `; ties judged over runs where the last column has an interval (the mean of each run's ${r.by}, runs in brackets)` : "";
    const head = overRuns ? `<th title="the 95% interval of the mean of each run's ${r.by}">over runs</th>` : "";
    return `<table><caption>${esc(r.metric)} (${esc(r.unit)}, ${r.direction} is better), by ${r.by}${note}</caption><thead><tr><th>rank</th><th class="llm">LLM</th><th>n</th><th>mean</th><th>95% CI</th><th>p50</th><th>p99</th>${head}</tr></thead><tbody>${rows}</tbody></table>`;
  }

  // The trade-off's numbers: both metrics per LLM, and whether the chart puts it on the frontier.
  function tradeoffTable(x, y) {
    const ys = new Map(y.rankings.filter((e) => !e.reported).map((e) => [e.llm, e]));
    const onFront = new Set([...document.querySelectorAll("#chart circle[data-pareto=true]")].map((c) => c.dataset.llm));
    const rows = x.rankings.filter((e) => !e.reported && ys.has(e.llm)).map((e) => {
      const f = ys.get(e.llm);
      return `<tr data-llm="${esc(e.llm)}"><td class="llm">${bdi(e.llm)}</td><td>${num(e[x.by])}</td><td>${num(f[y.by])}</td><td class="llm">${onFront.has(e.llm) ? "yes" : ""}</td></tr>`;
    }).join("");
    return `<table><caption>${esc(x.metric)} ${x.by} (${esc(x.unit)}, ${x.direction} is better) against ${esc(y.metric)} ${y.by} (${esc(y.unit)}, ${y.direction} is better)</caption><thead><tr><th class="llm">LLM</th><th>${esc(x.metric)}</th><th>${esc(y.metric)}</th><th class="llm">Pareto</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  function historyTable(h) {
    const rows = h.series.map((s) => {
      const last = s.points[s.points.length - 1];
      return `<tr data-llm="${esc(s.llm)}"><td class="llm">${bdi(s.llm)}</td><td>${s.points.length}</td><td>${last ? esc(last.time) : "–"}</td><td>${last ? num(last.mean) : "–"}</td><td>${last ? num(last.p99) : "–"}</td></tr>`;
    }).join("");
    return `<table><caption>${esc(h.metric)} (${esc(h.unit)}) per ${h.bucket}: last bucket</caption><thead><tr><th class="llm">LLM</th><th>buckets</th><th>last</th><th>mean</th><th>p99</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  const pct = (x) => (x === null || x === undefined) ? "–" : (100 * x).toFixed(2) + "%";

  function goodputTable(g) {
    const rows = g.rankings.map((e) => `<tr data-llm="${esc(e.llm)}" data-rank="${e.rank}"><td>${e.rank}${e.tied ? "=" : ""}</td><td class="llm">${bdi(e.llm)}</td><td>${pct(e.attainment)}</td><td>${pct(e.ci95[0])}–${pct(e.ci95[1])}</td><td>${e.good.toLocaleString("en")} / ${e.n.toLocaleString("en")}</td><td>${num(e.goodput_rps)}</td></tr>`).join("");
    return `<table><caption>Requests meeting ${esc(g.slo)}; failed requests count as missing it; thresholds resolved within ${(100 * g.threshold_relative_error).toFixed(1)}%</caption><thead><tr><th>rank</th><th class="llm">LLM</th><th>attainment</th><th>95% CI</th><th>good / n</th><th>good req/s</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  // Per LLM and sweep: its knee, capacity, and the most it served.
  function sweepTable(c) {
    const top = (pts, f) => pts.reduce((m, p) => (p[f] !== null && p[f] > m ? p[f] : m), -Infinity);
    const out = c.per_gpu ? "out tok/s/GPU" : "out tok/s";
    const rows = c.series.map((s) => {
      const y = top(s.points, c.per_gpu ? "output_throughput_per_gpu" : "output_throughput");
      const front = s.points.filter((p) => p.pareto).map((p) => p.load_text).join(" ");
      return `<tr data-llm="${esc(s.llm)}"><td class="llm">${bdi(s.llm)}</td><td class="llm">${bdi(s.workload || "–")}</td><td>${s.knee === null ? "–" : esc((s.points.find((p) => p.load === s.knee) || { load_text: s.knee }).load_text)}</td><td>${s.capacity === undefined ? "–" : esc(s.capacity)}</td><td>${num(top(s.points, "throughput"))}</td><td>${Number.isFinite(y) ? num(y) : "–"}</td><td class="llm">${esc(front) || "–"}</td></tr>`;
    }).join("");
    const slo = c.slo ? "; capacity: the highest load meeting " + esc(c.slo) + " for 99% of requests" : "; enter thresholds for the capacity";
    return `<table><caption>Sweeps of ${esc(c.metric)} by ${esc(c.series.length ? c.series[0].load_kind : "load")}: knee (90% of the top throughput)${slo}</caption><thead><tr><th class="llm">LLM</th><th class="llm">sweep</th><th>knee</th><th>capacity</th><th>top req/s</th><th>top ${out}</th><th class="llm">on the frontier at</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  // Each comparison: the verdict, both sides, the ratio and its interval (regressions first).
  function compareTable(c) {
    const rows = c.comparisons.map((x) => `<tr data-llm="${esc(x.llm)}" data-verdict="${esc(x.verdict)}"><td class="llm">${esc(x.verdict.replace("_", " "))}</td><td class="llm">${bdi(x.llm)}</td><td>${num(x.base)}</td><td>${num(x.cand)}</td><td>${x.ratio === null ? "–" : x.ratio.toFixed(3)}</td><td>${x.ci95 ? x.ci95[0].toFixed(3) + "–" + x.ci95[1].toFixed(3) : "–"}</td><td>${x.base_n.toLocaleString("en")} / ${x.cand_n.toLocaleString("en")}</td></tr>`).join("");
    const counts = Object.entries(c.verdicts).map(([v, n]) => n + " " + v.replace("_", " ")).join(", ");
    return `<table><caption>${esc(c.statistic)} of the candidate (${bdi(c.cand)}) ÷ the base (${bdi(c.base)}): ${esc(counts)}; regressed past ${c.thresholds.latency}× (latency) or ${c.thresholds.throughput}× (throughput) with an interval clear of 1</caption><thead><tr><th class="llm">verdict</th><th class="llm">LLM</th><th>base</th><th>cand</th><th>ratio</th><th>95% CI</th><th>n base / cand</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  function runsTable(j) {
    const rows = j.runs.map((r) => `<tr data-run="${r.id}"><td>${r.id}</td><td class="llm">${esc(r.source)}</td><td class="llm">${Object.entries(r.workload).map(([k, v]) => bdi(k + "=" + v)).join(" ") || (r.seed !== null ? "seed=" + r.seed : "–")}${r.model ? " model=" + bdi(r.model) : ""}</td><td>${r.rows.toLocaleString("en")}</td><td class="llm">${esc(r.status)}</td><td class="llm">${esc(r.started_at)}</td><td class="llm">${esc(r.finished_at || "–")}</td></tr>`).join("");
    return `<table><caption>Recent runs</caption><thead><tr><th>id</th><th class="llm">source</th><th class="llm">workload</th><th>rows</th><th class="llm">status</th><th class="llm">started (UTC)</th><th class="llm">finished (UTC)</th></tr></thead><tbody>${rows}</tbody></table>`;
  }

  // "Live": when the data last changed (the newest run's end, read again whenever the data
  // version moves) and when the page last asked.
  function showStatus() {
    const t = (d) => d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit", second: "2-digit" });
    const run = state.lastRun;
    const utc = (s) => new Date(s.replace(" ", "T") + "Z"); // runs' times are UTC
    const changed = run ? "data last changed " + t(utc(run.finished_at || run.started_at)) + " (run " + run.id + ", " + run.source + ")" : "no runs yet";
    $("status").textContent = (state.live ? "Live" : "Checking every " + POLL_MS / 1000 + " s") + " · " + changed + " · checked " + t(new Date());
  }

  async function versionSeen(version) {
    if (version === state.version) return;
    state.version = version;
    const r = await get("/runs?limit=1");
    if (r.ok) state.lastRun = (await r.json()).runs[0] || null;
  }

  // Fetches the view's data and chart, then draws them, unless a newer render started
  // meanwhile (a switched view, a changed selector, a new version): only the latest draws.
  async function render(force) {
    const seq = ++state.seq;
    const view = state.view;
    const r = await get(dataPath(), force ? null : state.etag);
    if (r.status === 304) { if (seq === state.seq) showStatus(); return; }
    const body = await r.json();
    if (seq !== state.seq) return;
    if (!r.ok) {
      $("chart").innerHTML = "";
      $("table").innerHTML = `<p class="empty">${esc(body.error || r.statusText)}</p>`;
      state.etag = null;
      return;
    }
    state.width = chartWidth();
    const chart = chartPath();
    const [c, y] = await Promise.all([
      chart ? get(chart) : null,
      view === "tradeoff" ? get("/ranking/" + encodeURIComponent($("y").value) + query()) : null,
    ]);
    const failed = async (resp) => `<p class="empty">${esc((await resp.json().catch(() => ({}))).error || resp.statusText)}</p>`;
    const svg = !c ? "" : c.ok ? await c.text() : await failed(c);
    const ys = y && y.ok ? await y.json() : null;
    const yError = y && !y.ok ? await failed(y) : "";
    if (seq !== state.seq) return;
    state.etag = r.headers.get("ETag");
    $("view").classList.toggle("wide", !chart); // no chart: the table takes the width
    $("controls").hidden = view === "runs";
    $("chart").innerHTML = svg;
    $("table").innerHTML = view === "runs" ? runsTable(body)
      : view === "trend" ? historyTable(body)
      : view === "tradeoff" ? (ys ? tradeoffTable(body, ys) : yError)
      : view === "slo" ? goodputTable(body)
      : view === "sweep" ? sweepTable(body)
      : view === "compare" ? compareTable(body)
      : rankingTable(body);
    showCovered(view === "runs" || view === "compare" ? null : body);
    $("view").dataset.shown = view; // chart and table of this view are in (tests read it)
    if (view === "runs") state.lastRun = body.runs[0] || null;
    else if (body.data_version !== state.version) {
      await versionSeen(body.data_version);
      await loadWorkloads(); // new runs may bring new workloads
    }
    showStatus();
  }

  // While the event stream is up, a slow poll only as a safety net.
  function schedule() {
    clearTimeout(state.timer);
    state.timer = setTimeout(async () => {
      try { await render(false); } catch (e) { /* shown already */ }
      schedule();
    }, state.live ? 10 * POLL_MS : POLL_MS);
  }

  // The server's event stream: one `data:` line with the data version per change. Read with
  // fetch (EventSource cannot send the key header); reconnects after a pause when it drops.
  // Leaving the page closes the stream: an open one would hold one of the browser's six
  // connections to this origin. Coming back (from the back-forward cache) opens it again.
  let leaving = new AbortController();
  addEventListener("pagehide", () => leaving.abort());
  addEventListener("pageshow", (e) => {
    if (!e.persisted || $("main").hidden) return;
    leaving = new AbortController();
    render(true).catch(() => {});
    listen();
  });

  async function listen() {
    if (state.listening) return;
    state.listening = true;
    while (!leaving.signal.aborted) {
      try {
        const r = await fetch("/events", { headers: { "X-API-KEY": key() }, cache: "no-store", signal: leaving.signal });
        if (r.status === 401) break; // the next request asks for a key
        if (!r.ok || !r.body) throw new Error("no event stream");
        state.live = true;
        showStatus();
        const reader = r.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          for (let i = buf.indexOf("\n\n"); i >= 0; i = buf.indexOf("\n\n")) {
            const data = buf.slice(0, i).split("\n").filter((l) => l.startsWith("data:")).map((l) => l.slice(5).trim()).join("");
            buf = buf.slice(i + 2);
            if (data && data !== state.version) render(false).catch(() => {});
          }
        }
      } catch (e) { /* reconnect below */ }
      state.live = false;
      await new Promise((res) => setTimeout(res, POLL_MS));
    }
    state.live = false;
    state.listening = false;
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
    await loadWorkloads();
    await render(true);
    schedule();
    listen();
  }

  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem("llmrank-key", $("key").value);
    start().catch(() => {});
  });
  // Each view's own controls.
  function showControls() {
    const v = state.view;
    for (const o of document.querySelectorAll("nav button")) o.setAttribute("aria-pressed", String(o.dataset.view === v));
    $("y-label").hidden = v !== "tradeoff";
    $("metric-label").hidden = v === "slo";
    $("slo-inputs").hidden = v !== "slo" && v !== "sweep";
    $("chart-label").hidden = v !== "sweep";
    $("by-label").hidden = v === "slo" || (v === "sweep" && $("sweep-chart").value === "interactivity");
    $("sides").hidden = v !== "compare";
    // A comparison's sides carry their own windows and filters.
    for (const id of ["window-label", "source-label", "workload-label"]) $(id).hidden = v === "compare";
  }
  for (const b of document.querySelectorAll("nav button")) {
    b.addEventListener("click", () => {
      state.view = b.dataset.view;
      // A comparison is of medians unless another statistic is chosen.
      if (state.view === "compare" && $("by").value === "mean") $("by").value = "p50";
      showControls();
      saveAddress();
      state.etag = null;
      render(true).catch(() => {});
    });
  }
  for (const id of ["metric", "y", "by", "window", "source", "workload", "sweep-chart", "slo-ttft", "slo-tpot", "slo-e2e", "base", "cand"]) {
    $(id).addEventListener("change", () => { showControls(); saveAddress(); state.etag = null; render(true).catch(() => {}); });
  }
  readAddress();
  showControls();
  // A chart is redrawn for a new width (a turned phone, a resized window).
  let resized = null;
  addEventListener("resize", () => {
    clearTimeout(resized);
    resized = setTimeout(() => {
      if (!$("main").hidden && chartWidth() !== state.width) render(true).catch(() => {});
    }, 200);
  });
  start().catch(() => {});
})();
