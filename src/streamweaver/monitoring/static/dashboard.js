// The StreamWeaver dashboard: polls the status API and redraws. No dependencies.
"use strict";

const POLL_MS = 1500;
const HISTORY = 80;

const history = { rate: [], lag: [], streams: new Map() };
const expanded = new Set();
const detailsShown = new Map();
let lastCollected = null;

const $ = (id) => document.getElementById(id);

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (key === "class") node.className = value;
    else node.setAttribute(key, value);
  }
  for (const child of children) {
    if (child != null) node.append(child instanceof Node ? child : String(child));
  }
  return node;
}

function fmtBytes(n) {
  if (n == null) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i++; }
  return i === 0 ? `${n} B` : `${n.toFixed(1)} ${units[i]}`;
}

function fmtDuration(s) {
  if (s == null) return "–";
  if (s < 1) return `${Math.round(s * 1000)} ms`;
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  const parts = [];
  for (const [unit, size] of [["d", 86400], ["h", 3600], ["m", 60], ["s", 1]]) {
    if (s >= size) { parts.push(`${Math.floor(s / size)}${unit}`); s %= size; }
    if (parts.length === 2) break;
  }
  return parts.join(" ");
}

function fmtCount(n) {
  if (n == null) return "–";
  return n.toLocaleString("en-US");
}

function fmtRate(r) {
  if (r == null) return "–";
  if (r >= 100) return Math.round(r).toLocaleString("en-US");
  return r.toFixed(r >= 10 ? 1 : 2);
}

function level(value, warnAt, badAt) {
  if (value == null) return "";
  return value >= badAt ? "bad" : value >= warnAt ? "warn" : "";
}

function push(list, value) {
  list.push(value ?? 0);
  if (list.length > HISTORY) list.shift();
}

// Draw values as a line with a soft area under it, scaled to the SVG's viewBox.
function drawChart(svg, values) {
  const [, , width, height] = svg.getAttribute("viewBox").split(" ").map(Number);
  svg.replaceChildren();
  if (values.length < 2) return;
  const max = Math.max(...values, 1e-9);
  const step = width / (HISTORY - 1);
  const x0 = width - step * (values.length - 1);
  const pts = values.map((v, i) => [x0 + i * step, height - 1 - (v / max) * (height - 3)]);
  const line = pts.map(([x, y], i) => `${i ? "L" : "M"}${x.toFixed(1)},${y.toFixed(1)}`).join("");
  const ns = "http://www.w3.org/2000/svg";
  const area = document.createElementNS(ns, "path");
  area.setAttribute("class", "area");
  area.setAttribute("d", `${line}L${width},${height}L${x0.toFixed(1)},${height}Z`);
  const path = document.createElementNS(ns, "path");
  path.setAttribute("class", "line");
  path.setAttribute("d", line);
  svg.append(area, path);
}

function spark(values) {
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "spark");
  svg.setAttribute("viewBox", "0 0 100 22");
  svg.setAttribute("preserveAspectRatio", "none");
  drawChart(svg, values);
  return svg;
}

function setPill(id, ok) {
  $(id).dataset.ok = String(ok);
}

function renderOverview(data) {
  setPill("redis-status", data.redis_up);
  setPill("store-status", data.store_up);
  $("instance").textContent = `broker ${data.instance_id} · v${data.version}`;
  const age = data.collected_at_s ? Date.now() / 1000 - data.collected_at_s : null;
  $("updated").textContent = data.collect_error
    ? `collection failing: ${data.collect_error}`
    : age == null ? "waiting for the first collection" : `updated ${fmtDuration(Math.max(age, 0))} ago`;

  const fresh = data.collected_at_s !== lastCollected;
  lastCollected = data.collected_at_s;
  const streams = data.streams;
  const totalRate = streams.reduce((sum, s) => sum + (s.rate_per_s ?? 0), 0);
  const maxLag = streams.reduce((max, s) => Math.max(max, s.max_lag ?? 0), 0);
  if (fresh) {
    push(history.rate, totalRate);
    push(history.lag, maxLag);
    for (const s of streams) {
      if (!history.streams.has(s.name)) history.streams.set(s.name, []);
      push(history.streams.get(s.name), s.rate_per_s);
    }
  }

  $("total-rate").textContent = `${fmtRate(totalRate)} msg/s`;
  $("total-lag").textContent = `${fmtCount(maxLag)} msgs`;
  drawChart($("rate-chart"), history.rate);
  drawChart($("lag-chart"), history.lag);
  $("redis-bytes").textContent = fmtBytes(streams.reduce((t, s) => t + (s.memory_bytes ?? 0), 0));
  $("redis-entries").textContent = `${fmtCount(streams.reduce((t, s) => t + s.length, 0))} entries`;
  $("archive-bytes").textContent = fmtBytes(streams.reduce((t, s) => t + s.archive.bytes, 0));
  const segments = streams.reduce((t, s) => t + s.archive.segments, 0);
  $("archive-volume").textContent = data.volume
    ? `${fmtCount(segments)} segments · ${fmtBytes(data.volume.free_bytes)} free of ${fmtBytes(data.volume.total_bytes)}`
    : `${fmtCount(segments)} segments`;

  $("stream-count").textContent = streams.length ? streams.length : "";
  $("no-streams").hidden = streams.length > 0;
  $("streams").hidden = streams.length === 0;
  const body = $("streams").tBodies[0];
  body.replaceChildren(...streams.flatMap(streamRows));
}

function streamRows(s) {
  const archiveLag = s.archive.lag_s;
  const row = el("tr", { class: "stream", "data-stream": s.name },
    el("td", { class: "name" }, s.name),
    el("td", { class: "num rate" }, fmtRate(s.rate_per_s)),
    el("td", {}, spark(history.streams.get(s.name) ?? [])),
    el("td", { class: "num length" }, fmtCount(s.length)),
    el("td", { class: "num" }, fmtBytes(s.memory_bytes)),
    el("td", { class: "num" }, fmtBytes(s.archive.bytes),
      el("span", { class: "sub" }, `${fmtCount(s.archive.segments)} segments`)),
    el("td", { class: `num ${level(archiveLag, 300, 3600)}` }, fmtDuration(archiveLag)),
    el("td", { class: `num ${level(s.max_lag_s, 60, 900)}` },
      s.groups ? `${fmtCount(s.max_lag)} msgs` : "no groups",
      s.groups ? el("span", { class: "sub" }, fmtDuration(s.max_lag_s)) : null),
    el("td", { class: `num ${s.trim_eta_s == null ? "" : s.trim_eta_s < 3600 ? "bad" : s.trim_eta_s < 86400 ? "warn" : ""}` },
      s.trim_eta_s == null ? "never" : `in ${fmtDuration(s.trim_eta_s)}`),
    el("td", { class: `num ${s.dead_letters ? "warn" : ""}` }, fmtCount(s.dead_letters)),
  );
  row.addEventListener("click", () => toggle(s.name));
  if (!expanded.has(s.name)) return [row];
  const cell = el("td", { colspan: "10" }, detailsShown.get(s.name) ?? "Loading…");
  loadDetails(s.name, cell);
  return [row, el("tr", { class: "details" }, cell)];
}

function toggle(name) {
  if (expanded.has(name)) {
    expanded.delete(name);
    detailsShown.delete(name);
  } else {
    expanded.add(name);
  }
  poll();
}

async function loadDetails(name, cell) {
  const response = await fetch(`/api/v1/streams/${encodeURIComponent(name)}`);
  if (!response.ok) { cell.textContent = `Could not load ${name}.`; return; }
  const s = await response.json();
  const rows = s.group_details.map((g) => el("tr", {},
    el("td", { class: "name" }, g.name),
    el("td", { class: "num" }, fmtCount(g.lag)),
    el("td", { class: "num" }, fmtDuration(g.lag_s)),
    el("td", { class: "num" }, fmtCount(g.pending)),
    el("td", { class: "num" }, fmtDuration(g.oldest_pending_age_s)),
    el("td", {}, g.consumers.map((c) => `${c.name} (idle ${fmtDuration(c.idle_s)})`).join(", ") || "none"),
  ));
  const retention = s.retention.policy === "time"
    ? `time, ${fmtDuration(s.retention.max_age_s)}`
    : s.retention.policy === "size" ? `size, ${fmtBytes(s.retention.max_size_bytes)}`
    : `count, ${fmtCount(s.retention.max_length)}`;
  const content = el("div", {},
    el("div", { class: "muted small" },
      `Redis: ${s.first_id ?? "–"} … ${s.last_id ?? "–"} · archived until ${s.archive.archived_until ?? "nothing yet"} · retention ${retention}`),
    rows.length ? el("table", {},
      el("thead", {}, el("tr", {}, ...["Group", "Lag", "Waiting", "Pending", "Oldest pending", "Consumers"]
        .map((h, i) => el("th", { class: i && i < 5 ? "num" : "" }, h)))),
      el("tbody", {}, ...rows)) : el("div", { class: "muted" }, "No consumer groups."),
  );
  detailsShown.set(name, content);
  cell.replaceChildren(content);
}

function renderReplays(data) {
  const jobs = data.jobs;
  $("replay-count").textContent = jobs.length ? jobs.length : "";
  $("no-replays").hidden = jobs.length > 0;
  $("replays").hidden = jobs.length === 0;
  $("replays").tBodies[0].replaceChildren(...jobs.map((job) => {
    const f = job.fields;
    const done = f.replayed ?? f.written ?? f.progress;
    const total = f.total ?? f.expected;
    return el("tr", {},
      el("td", { class: "name" }, job.id),
      el("td", { class: "name" }, job.stream ?? "–"),
      el("td", { class: job.state === "failed" ? "bad" : "" }, job.state),
      el("td", { class: "name" }, f.target ?? "–"),
      el("td", { class: "num" }, done == null ? "–" : total ? `${fmtCount(+done)} / ${fmtCount(+total)}` : fmtCount(+done)),
    );
  }));
}

let timer = null;
async function poll() {
  clearTimeout(timer);
  try {
    const [overview, replays] = await Promise.all([
      fetch("/api/v1/streams").then((r) => r.json()),
      fetch("/api/v1/replays").then((r) => (r.ok ? r.json() : { jobs: [] })),
    ]);
    renderOverview(overview);
    renderReplays(replays);
  } catch (err) {
    $("updated").textContent = "cannot reach the broker";
    setPill("redis-status", "unknown");
    setPill("store-status", "unknown");
  }
  timer = setTimeout(poll, POLL_MS);
}

poll();
