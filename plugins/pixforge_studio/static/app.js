// pixforge studio: the page's few behaviours, over the JSON API (no build step, no framework).
"use strict";

const params = new URLSearchParams(location.search);
if (params.get("token")) sessionStorage.setItem("pixforge-token", params.get("token"));
const token = sessionStorage.getItem("pixforge-token");
const $ = (id) => document.getElementById(id);

// A URL the browser fetches by itself (img src, EventSource) carries the token as ?token=.
function withToken(url) {
  if (!token) return url;
  return url + (url.includes("?") ? "&" : "?") + "token=" + encodeURIComponent(token);
}

async function api(path, options = {}) {
  const headers = Object.assign({}, options.headers || {});
  if (token) headers["Authorization"] = "Bearer " + token;
  const response = await fetch(path, Object.assign({}, options, { headers }));
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new Error(body.error || response.status + " " + response.statusText);
  return body;
}

function say(element, text, isError = false) {
  element.textContent = text;
  element.classList.toggle("error", isError);
}

// -- render -------------------------------------------------------------------------------------

let current = null;   // the job being watched
let events = null;

async function loadPresets() {
  const select = $("preset");
  for (const preset of await api("/api/presets")) {
    const option = document.createElement("option");
    option.value = preset.name;
    option.textContent = preset.name;
    option.title = preset.description;
    if (preset.name === "default") option.selected = true;
    select.appendChild(option);
  }
}

async function startRender(event) {
  event.preventDefault();
  const body = { prompt: $("prompt").value.trim(), preset: $("preset").value };
  if ($("seed").value.trim()) body.seed = /^-?\d+$/.test($("seed").value.trim()) ? Number($("seed").value) : $("seed").value;
  if ($("steps").value) body.steps = Number($("steps").value);
  if ($("size").value.trim()) body.size = $("size").value.trim();
  if (Number($("candidates").value) > 1) body.candidates = Number($("candidates").value);
  if ($("video").checked) body.video = true;
  if (Number($("frames").value) > 0) {
    body.animation = { frames: Number($("frames").value) };
    if ($("zoom").value.trim()) body.animation.zoom = isNaN(Number($("zoom").value)) ? $("zoom").value : Number($("zoom").value);
  }
  body.overrides = $("overrides").value.split("\n").map((s) => s.trim()).filter(Boolean);
  try {
    const file = $("init-image").files[0];
    if (file) {
      const form = new FormData();
      form.append("file", file);
      body.init_image = (await api("/api/uploads", { method: "POST", body: form })).path;
    }
    const job = await api("/api/renders", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    follow(job);
  } catch (error) {
    say($("status"), error.message, true);
  }
}

function showProgress(p) {
  const bar = $("progress");
  bar.max = p.total || 1;
  bar.value = p.step || 0;
  let text = p.status;
  if (p.total) text += ` · step ${p.step}/${p.total}`;
  if (p.loss !== null && p.loss !== undefined) text += ` · loss ${Number(p.loss).toFixed(4)}`;
  if (p.rate) text += ` · ${Number(p.rate).toFixed(1)} steps/s`;
  say($("status"), text);
  $("status").dataset.step = p.step || 0;
  $("status").dataset.state = p.status;
}

function showImage(url) {
  const img = $("live");
  img.src = withToken(url);
  img.hidden = false;
}

function follow(job) {
  if (events) events.close();
  current = job.id;
  $("cancel").disabled = false;
  $("live").dataset.final = "";
  showProgress(job);
  events = new EventSource(withToken(`/api/renders/${job.id}/events`));
  events.addEventListener("progress", (e) => showProgress(JSON.parse(e.data)));
  events.addEventListener("preview", (e) => showImage(JSON.parse(e.data).url));
  events.addEventListener("end", (e) => {
    const done = JSON.parse(e.data);
    events.close();
    events = null;
    $("cancel").disabled = true;
    showProgress(done);
    if (done.error) say($("status"), `${done.status}: ${done.error}`, done.status === "failed");
    if (done.status !== "queued") {
      showImage(`/api/renders/${done.id}/image?final=${Date.now()}`);
      $("live").dataset.final = done.status;
    }
    loadGallery();
  });
  events.onerror = () => { if (events && events.readyState === EventSource.CLOSED) say($("status"), "lost the event stream", true); };
}

async function cancelRender() {
  if (!current) return;
  try { await api(`/api/renders/${current}`, { method: "DELETE" }); } catch (error) { say($("status"), error.message, true); }
}

// -- gallery ------------------------------------------------------------------------------------

function card(imageUrl, caption, title, onClick) {
  const div = document.createElement("div");
  div.className = "card";
  div.title = title;
  const img = document.createElement("img");
  if (imageUrl) img.src = withToken(imageUrl);
  img.alt = caption;
  const text = document.createElement("div");
  text.className = "caption";
  text.textContent = caption;
  div.append(img, text);
  if (onClick) div.addEventListener("click", onClick);
  return div;
}

async function loadGallery() {
  const runs = await api("/api/runs");
  const grid = $("runs");
  grid.replaceChildren(...runs.map((run) =>
    card(run.thumbnail, `${run.prompt ?? run.name} · ${run.status}`, `${run.name}\nseed ${run.seed}`, () => openRun(run.name))));
  grid.dataset.count = runs.length;
}

async function openRun(name) {
  const run = await api(`/api/runs/${encodeURI(name)}`);
  $("detail").hidden = false;
  $("detail").dataset.name = name;
  $("detail-title").textContent = `${run.prompt ?? name} (seed ${run.seed}, ${run.status})`;
  $("detail-image").src = run.image ? withToken(run.image) : "";
  $("download-png").href = run.image ? withToken(run.image + "?download=1") : "#";
  $("download-mp4").hidden = !run.video;
  if (run.video) $("download-mp4").href = withToken(run.video + "?download=1");
  $("detail-settings").textContent = run.settings_yaml || "(no settings.yaml)";
}

async function replayRun() {
  const name = $("detail").dataset.name;
  try {
    follow(await api(`/api/runs/${encodeURI(name)}/replay`, { method: "POST" }));
    location.hash = "#render";
  } catch (error) {
    say($("status"), error.message, true);
  }
}

// -- search -------------------------------------------------------------------------------------

async function runSearch(event) {
  event.preventDefault();
  const query = new URLSearchParams({ q: $("search-q").value, index: $("search-index").value || ".", k: "12" });
  say($("search-status"), "searching…");
  try {
    const found = await api(`/api/search?${query}`);
    $("results").replaceChildren(...found.results.map((hit) =>
      card(hit.thumbnail, `${hit.rank}. ${hit.score.toFixed(3)} ${hit.name}`, hit.name, null)));
    say($("search-status"), `${found.results.length} results for “${found.query}”`);
  } catch (error) {
    $("results").replaceChildren();
    say($("search-status"), error.message, true);
  }
}

$("render-form").addEventListener("submit", startRender);
$("cancel").addEventListener("click", cancelRender);
$("refresh").addEventListener("click", loadGallery);
$("replay").addEventListener("click", replayRun);
$("close-detail").addEventListener("click", () => { $("detail").hidden = true; });
$("search-form").addEventListener("submit", runSearch);
loadPresets().then(loadGallery).catch((error) => say($("status"), error.message, true));
