#include "mmfuse/serve/web_page.h"

namespace mmfuse::serve {

namespace {

// One self-contained page: no external script, style or font (the machine may be offline).
// What the page does follows the chosen model's task: supervised runs -> :predict (bars per head
// and each modality left out), retrieval runs -> :search (nearest neighbours with thumbnails),
// translation runs -> :translate (the generated image, and the sound of a spectrogram).
// Prefill for scripted use: /#model=NAME&image=<base64>&audio=<base64>&text=...&k=5&run=1
constexpr const char* kPage = R"HTML(<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mmfuse serve</title>
<style>
body{font:15px system-ui,sans-serif;margin:2em auto;max-width:880px;color:#222}
fieldset{border:1px solid #ccc;margin:.8em 0;padding:.6em 1em}
#drop{border:2px dashed #999;padding:1em;text-align:center;cursor:pointer}
.bar{background:#1f77b4;height:14px;display:inline-block;vertical-align:middle}
table{border-collapse:collapse}td{padding:2px 8px}.err{color:#b00}
.thumb{height:48px;image-rendering:pixelated}#generated{height:224px;image-rendering:pixelated}
</style></head>
<body>
<h1>mmfuse serve</h1>
<fieldset><legend>Model</legend>
<select id="model"></select> <span id="signature"></span>
<label style="float:right">API key <input id="key" type="password" size="14"></label></fieldset>
<fieldset><legend>Inputs (any subset)</legend>
<div id="drop">Drop an image here or click to choose <input id="image" type="file" accept="image/*" hidden>
<img id="preview" alt="" style="max-height:64px;vertical-align:middle"></div>
<p>Audio: <input id="audio" type="file" accept=".wav,.flac,audio/wav">
<button id="record" type="button">Record 2 s</button> <span id="audio-state"></span></p>
<p>Text: <input id="text" size="50"></p>
<p id="k-row" hidden>Neighbours: <input id="k" type="number" min="1" max="100" value="8" size="4"></p>
<button id="predict" type="button">Predict</button></fieldset>
<div id="error" class="err"></div>
<div id="result" data-state="idle"></div>
<h3>API</h3>
<p><code>POST /v1/models/{name}:predict</code> with <code>{"image": base64, "audio": base64,
"text": "..."}</code> (or the same fields as multipart/form-data); retrieval runs:
<code>:search</code> (one query, <code>"k"</code>); translation runs: <code>:translate</code>;
KServe v2 under <code>/v2</code>; metrics at <code>/metrics</code>.</p>
<script>
"use strict";
const $ = (id) => document.getElementById(id);
const inputs = {image: null, audio: null};
const b64 = (buf) => { let s = ""; const b = new Uint8Array(buf);
  for (let i = 0; i < b.length; i += 0x8000) s += String.fromCharCode.apply(null, b.subarray(i, i + 0x8000));
  return btoa(s); };
const headers = () => { const h = {"Content-Type": "application/json"};
  if ($("key").value) h["Authorization"] = "Bearer " + $("key").value; return h; };
async function call(path, body) {
  const r = await fetch(path, {method: body ? "POST" : "GET", headers: headers(),
                               body: body ? JSON.stringify(body) : undefined});
  const j = await r.json();
  if (!r.ok) throw new Error(r.status + ": " + (j.error || "error"));
  return j;
}
async function loadModels() {
  const j = await call("/v1/models");
  $("model").innerHTML = "";
  for (const m of j.models) {
    const o = document.createElement("option"); o.value = m.name;
    o.textContent = m.name + " (" + m.task + ")"; o.dataset.inputs = m.signature.inputs.map(i => i.name).join(", ");
    o.dataset.task = m.task;
    $("model").appendChild(o);
  }
  showSignature();
}
const task = () => { const o = $("model").selectedOptions[0]; return o ? o.dataset.task : ""; };
function showSignature() {
  const o = $("model").selectedOptions[0]; $("signature").textContent = o ? "inputs: " + o.dataset.inputs : "";
  $("k-row").hidden = task() !== "retrieval";
  $("predict").textContent = {retrieval: "Search", translate: "Translate"}[task()] || "Predict";
}
const esc = (v) => String(v).replace(/[&<>"]/g, (c) => ({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"}[c]));
async function readFile(kind, file) { inputs[kind] = b64(await file.arrayBuffer());
  if (kind === "image") $("preview").src = "data:image/png;base64," + inputs.image;
  else $("audio-state").textContent = file.name || "recorded"; }
function body(without) {
  const b = {};
  if (inputs.image && without !== "image") b.image = inputs.image;
  if (inputs.audio && without !== "audio") b.audio = inputs.audio;
  if ($("text").value && without !== "text") b.text = $("text").value;
  return b;
}
function bars(target, p) {
  const rows = Object.entries(p.probabilities || {}).sort((a, b) => b[1] - a[1]).slice(0, 10)
    .map(([c, v]) => `<tr><td>${c}</td><td><span class="bar" style="width:${Math.round(v * 300)}px"></span> ${v.toFixed(4)}</td></tr>`).join("");
  const head = p.kind === "classification"
    ? `<b data-target="${target}" class="prediction">${p["class"]}</b>` : `<b data-target="${target}">${JSON.stringify(p.value)}</b>`;
  return `<h3>${target}: ${head}</h3><table>${rows}</table>`;
}
async function search(name) {
  const b = body(null); b.k = Number($("k").value) || 8; b.thumbnails = true;
  const j = await call("/v1/models/" + encodeURIComponent(name) + ":search", b);
  const rows = j.results.map((r) => {
    const shown = r.thumbnail ? `<img class="thumb" alt="" src="${r.thumbnail}">`
      : esc(typeof r.text === "string" ? r.text : "");
    return `<tr class="hit" data-id="${esc(r.id)}"><td>${r.rank}</td><td>${shown}</td><td>${esc(r.id)}</td>` +
      `<td><span class="bar" style="width:${Math.round(Math.max(0, r.score) * 200)}px"></span> ${r.score.toFixed(4)}</td></tr>`;
  }).join("");
  return `<h3>Nearest ${j.results.length} (${j.query.modality} query)</h3>` +
    `<table><tr><th>rank</th><th></th><th>id</th><th>cosine</th></tr>${rows}</table>`;
}
async function translate(name) {
  const j = await call("/v1/models/" + encodeURIComponent(name) + ":translate", body(null));
  let html = `<h3>Generated ${esc(j.target)} from ${esc(j.source)}</h3>` +
    `<img id="generated" alt="generated" src="data:image/png;base64,${j.png}">`;
  if (j.wav) html += `<p><audio id="generated-sound" controls src="data:audio/wav;base64,${j.wav}"></audio></p>`;
  return html;
}
async function predict() {
  $("error").textContent = ""; $("result").dataset.state = "running";
  try {
    const name = $("model").value, path = "/v1/models/" + encodeURIComponent(name) + ":predict";
    if (task() === "retrieval" || task() === "translate") {
      $("result").innerHTML = await (task() === "retrieval" ? search(name) : translate(name));
      $("result").dataset.state = "done";
      return;
    }
    const full = await call(path, body(null));
    let html = `<p>modalities: ${full.modalities.join(", ")}</p>`;
    for (const [t, p] of Object.entries(full.targets)) html += bars(t, p);
    if (full.modalities.length > 1) {
      html += "<h3>Each modality left out</h3><table>";
      for (const m of full.modalities) {
        const w = await call(path, body(m));
        const parts = Object.entries(w.targets).map(([t, p]) => p.kind === "classification"
          ? `${t}: ${p["class"]} (${(p.probabilities[p["class"]] || 0).toFixed(3)})` : `${t}: ${JSON.stringify(p.value)}`);
        html += `<tr><td>without ${m}</td><td>${parts.join("; ")}</td></tr>`;
      }
      html += "</table>";
    }
    $("result").innerHTML = html; $("result").dataset.state = "done";
  } catch (e) { $("error").textContent = e.message; $("result").dataset.state = "error"; }
}
async function record() {
  const stream = await navigator.mediaDevices.getUserMedia({audio: true});
  const ctx = new AudioContext(), src = ctx.createMediaStreamSource(stream);
  const proc = ctx.createScriptProcessor(4096, 1, 1), chunks = [];
  proc.onaudioprocess = (e) => chunks.push(new Float32Array(e.inputBuffer.getChannelData(0)));
  src.connect(proc); proc.connect(ctx.destination); $("audio-state").textContent = "recording...";
  await new Promise(r => setTimeout(r, 2000));
  proc.disconnect(); src.disconnect(); stream.getTracks().forEach(t => t.stop());
  const n = chunks.reduce((a, c) => a + c.length, 0), view = new DataView(new ArrayBuffer(44 + 2 * n));
  const str = (o, s) => { for (let i = 0; i < s.length; ++i) view.setUint8(o + i, s.charCodeAt(i)); };
  str(0, "RIFF"); view.setUint32(4, 36 + 2 * n, true); str(8, "WAVEfmt "); view.setUint32(16, 16, true);
  view.setUint16(20, 1, true); view.setUint16(22, 1, true); view.setUint32(24, ctx.sampleRate, true);
  view.setUint32(28, 2 * ctx.sampleRate, true); view.setUint16(32, 2, true); view.setUint16(34, 16, true);
  str(36, "data"); view.setUint32(40, 2 * n, true);
  let o = 44; for (const c of chunks) for (const v of c) { view.setInt16(o, Math.max(-1, Math.min(1, v)) * 32767, true); o += 2; }
  inputs.audio = b64(view.buffer); $("audio-state").textContent = "recorded " + (n / ctx.sampleRate).toFixed(1) + " s";
}
$("drop").onclick = () => $("image").click();
$("drop").ondragover = (e) => e.preventDefault();
$("drop").ondrop = (e) => { e.preventDefault(); if (e.dataTransfer.files[0]) readFile("image", e.dataTransfer.files[0]); };
$("image").onchange = (e) => readFile("image", e.target.files[0]);
$("audio").onchange = (e) => readFile("audio", e.target.files[0]);
$("record").onclick = () => record().catch(e => $("error").textContent = "recording: " + e.message);
$("predict").onclick = predict;
$("model").onchange = showSignature;
(async () => {
  const pre = new URLSearchParams(location.hash.slice(1));
  if (pre.get("key")) $("key").value = pre.get("key");
  try { await loadModels(); } catch (e) { $("error").textContent = e.message; }
  if (pre.get("model")) { $("model").value = pre.get("model"); showSignature(); }
  if (pre.get("k")) $("k").value = pre.get("k");
  if (pre.get("image")) { inputs.image = pre.get("image"); $("preview").src = "data:image/png;base64," + inputs.image; }
  if (pre.get("audio")) { inputs.audio = pre.get("audio"); $("audio-state").textContent = "given"; }
  if (pre.get("text")) $("text").value = pre.get("text");
  if (pre.get("run") === "1") await predict();
})();
</script></body></html>
)HTML";

}  // namespace

Reply web_page() {
  return {200, "text/html; charset=utf-8", kPage};
}

}  // namespace mmfuse::serve
