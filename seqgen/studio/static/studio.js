// seqgen studio's page: plain JavaScript over the HTTP API (docs/studio.md), no build step.
// What to show comes from the run's summary (renders, measures, prints_text), never its domain.
"use strict";
const $ = (id) => document.getElementById(id);
const COLORS = ["#23395d", "#c0392b", "#27ae60", "#8e44ad", "#d35400", "#16a085", "#7f8c8d"];
let RUNS = [], LIMITS = {}, JOB = null, SOURCE = null, SORT = { key: "bits_per_unit", up: true };

function el(tag, attrs = {}, text = "") {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}
function svg(tag, attrs = {}, text = "") {
  const e = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  if (text) e.textContent = text;
  return e;
}
const fmt = (x, d = 3) => (typeof x === "number" ? x.toFixed(d) : "-");
const count = (n) => (n >= 1e6 ? (n / 1e6).toFixed(2) + " M" : n >= 1e3 ? (n / 1e3).toFixed(1) + " K" : String(n));

function drawCurves(chart, series, label) {
  chart.innerHTML = "";
  const box = chart.viewBox.baseVal, pad = 34, W = box.width, H = box.height;
  const pts = series.flatMap((s) => s.points);
  if (!pts.length) { chart.appendChild(svg("text", { x: 10, y: 20 }, "no validation figures yet")); return; }
  const xs = pts.map((p) => p[0]), ys = pts.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs) || 1, y0 = Math.min(...ys), y1 = Math.max(...ys);
  const sx = (x) => pad + ((x - x0) / (x1 - x0 || 1)) * (W - pad - 8);
  const sy = (y) => H - pad + 10 - ((y - y0) / (y1 - y0 || 1)) * (H - pad - 10);
  chart.appendChild(svg("text", { x: 4, y: 12, "font-size": 11 }, label));
  chart.appendChild(svg("text", { x: 4, y: H - 6, "font-size": 10 }, `${fmt(y0, 2)} .. ${fmt(y1, 2)}; steps ${x0} .. ${x1}`));
  series.forEach((s, k) => {
    const d = s.points.map((p, i) => `${i ? "L" : "M"}${sx(p[0]).toFixed(1)},${sy(p[1]).toFixed(1)}`).join("");
    chart.appendChild(svg("path", { d, fill: "none", stroke: COLORS[k % COLORS.length], "stroke-width": 1.6 }));
    if (series.length > 1) chart.appendChild(svg("text", { x: W - 120, y: 14 + 13 * k, "font-size": 11, fill: COLORS[k % COLORS.length] }, s.name));
  });
}

async function api(path, options) {
  const r = await fetch(path, options);
  let body = {};
  try { body = await r.json(); } catch (e) { body = { error: `the server answered ${r.status}` }; }
  if (!r.ok) throw new Error(body.error || `the server answered ${r.status}`);
  return body;
}

function showError(message) {
  $("error").textContent = message;
  $("error").hidden = !message;
}

async function loadRuns() {
  const body = await api("/api/runs");
  RUNS = body.runs; LIMITS = body.limits;
  const select = $("run"), kept = select.value;
  select.innerHTML = "";
  for (const r of RUNS) select.appendChild(el("option", { value: r.id }, r.error ? `${r.id} (unreadable)` : `${r.id} (${r.domain})`));
  if (kept && RUNS.some((r) => r.id === kept)) select.value = kept;
  $("length").max = LIMITS.max_length;
  showRun();
  showTable();
}

function currentRun() { return RUNS.find((r) => r.id === $("run").value); }

function showRun() {
  const r = currentRun(), info = $("run-info");
  if (!r) { info.textContent = "no runs found"; return; }
  if (r.error) { info.textContent = r.error; return; }
  const b = r.best || {};
  info.textContent = `${r.domain} · ${r.arch} · ${count(r.parameters)} parameters · ${r.step} steps · ` +
    `best validation (step ${b.best_step ?? "-"}) ${fmt(b.nats_per_unit)} nats, ${fmt(b.bits_per_unit)} bits per ${r.unit}`;
  drawCurves($("run-curve"), [{ name: r.id, points: r.curves.val_bits_per_unit }], `validation bits per ${r.unit}`);
  const measures = $("measures");
  measures.innerHTML = "";
  for (const m of r.measures) {
    const label = el("label", {}, `${m} `);
    label.appendChild(el("input", { id: m, name: m, type: "number", min: "0", step: "any", placeholder: "-" }));
    measures.appendChild(label);
  }
  $("controls-none").hidden = r.controls.length > 0;
  $("guidance-box").hidden = r.controls.length === 0;
  if (!r.controls.length) $("guidance").value = "";
  const box = $("controls");
  box.querySelectorAll("label.control").forEach((n) => n.remove());
  for (const c of r.controls) {  // one choice per label key; "any": the model's own mix
    const label = el("label", { class: "control" }, `${c.key} `);
    const pick = el("select", { id: `control-${c.key}`, name: `control.${c.key}` });
    pick.appendChild(el("option", { value: "" }, "any"));
    for (const v of c.values) pick.appendChild(el("option", { value: v }, v));
    label.appendChild(pick);
    box.appendChild(label);
  }
}

function showTable() {
  const rows = RUNS.filter((r) => !r.error).map((r) => ({ ...r, ...(r.best || {}) }));
  rows.sort((a, b) => {
    const x = a[SORT.key], y = b[SORT.key];
    const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
    return SORT.up ? c : -c;
  });
  const body = document.querySelector("#runs-table tbody");
  body.innerHTML = "";
  for (const r of rows) {
    const tr = el("tr");
    for (const v of [r.id, r.domain, r.unit, count(r.parameters), r.step, fmt(r.nats_per_unit), fmt(r.bits_per_unit), fmt(r.nats_per_token)])
      tr.appendChild(el("td", {}, String(v)));
    body.appendChild(tr);
  }
  drawCurves($("compare-curve"), rows.map((r) => ({ name: r.id, points: r.curves.val_bits_per_unit })), "validation bits per unit");
}

function formData() {
  const data = new FormData($("gen-form"));
  for (const [k, v] of [...data.entries()]) {
    if (v === "" || (v instanceof File && !v.name)) data.delete(k);
  }
  if (data.has("length") && [...currentRun().measures].some((m) => data.has(m))) data.delete("length");
  return data;
}

function clearResult() {
  $("output").textContent = ""; $("media").innerHTML = ""; $("downloads").innerHTML = ""; $("report").textContent = "";
}

async function generate(event) {
  event.preventDefault();
  showError(""); clearResult();
  $("status").textContent = "sending…";
  const run = currentRun();
  $("output").hidden = !run.prints_text;
  let job;
  try {
    job = await api("/api/generate", { method: "POST", body: formData() });
  } catch (e) { showError(e.message); $("status").textContent = "refused"; return; }
  JOB = job.id;
  $("status").textContent = "generating…";
  $("generate").disabled = true; $("cancel").disabled = false;
  SOURCE = new EventSource(`/api/jobs/${job.id}/events`);
  SOURCE.addEventListener("text", (e) => {
    const d = JSON.parse(e.data);
    $("output").textContent += d.text;
    $("status").textContent = `generating… ${d.tokens} tokens`;
  });
  SOURCE.addEventListener("done", (e) => { SOURCE.close(); finished(JSON.parse(e.data)); });
  SOURCE.onerror = () => { SOURCE.close(); finished({ state: "failed", error: "lost the connection to the studio" }); };
}

function finished(d) {
  $("generate").disabled = false; $("cancel").disabled = true;
  $("status").textContent = `${d.state}: ${d.tokens ?? 0} tokens` + (d.seconds ? ` in ${d.seconds.toFixed(1)} s` : "");
  if (d.error) showError(d.error);
  if (d.text !== undefined) $("output").textContent = d.text;
  const facts = Object.entries(d.report || {}).map(([k, v]) => `${k}: ${v}`);
  $("report").textContent = [d.length, ...facts].filter(Boolean).join(" · ");
  const probe = el("audio");
  for (const f of d.files || []) {
    const url = `/api/jobs/${d.id}/files/${encodeURIComponent(f.name)}`;
    if (f.error) { $("downloads").appendChild(el("span", { class: "error" }, `${f.name}: ${f.error}`)); continue; }
    if (f.type.startsWith("image/")) $("media").appendChild(el("img", { src: url, alt: `${f.kind} of the sample`, class: "render", "data-kind": f.kind }));
    else if (f.type.startsWith("audio/") && probe.canPlayType(f.type)) $("media").appendChild(el("audio", { src: url, controls: "", preload: "auto", "data-kind": f.kind }));
    $("downloads").appendChild(el("a", { href: url, download: f.name }, `${f.name}`));
  }
}

async function cancel() {
  if (!JOB) return;
  try { await api(`/api/jobs/${JOB}/cancel`, { method: "POST" }); } catch (e) { showError(e.message); }
}

function switchView(name) {
  for (const b of document.querySelectorAll(".tab")) b.classList.toggle("active", b.dataset.view === name);
  for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== `view-${name}`;
  if (name === "compare") loadRuns().catch((e) => showError(e.message));
}

window.addEventListener("DOMContentLoaded", () => {
  $("gen-form").addEventListener("submit", generate);
  $("cancel").addEventListener("click", cancel);
  $("run").addEventListener("change", showRun);
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => switchView(b.dataset.view));
  for (const th of document.querySelectorAll("#runs-table th")) th.addEventListener("click", () => {
    SORT = { key: th.dataset.key, up: SORT.key === th.dataset.key ? !SORT.up : true };
    showTable();
  });
  loadRuns().catch((e) => showError(e.message));
});
