// siamcan view: frames with the tracker's box and the ground truth, per-frame IoU and confidence, per-sequence table.
"use strict";
const canvas = $("canvas"), ctx = canvas.getContext("2d");
let rows = [], current = null, seqIndex = -1, frame = 0, playing = false, plots = [], sortKey = "auc", sortDesc = true;
let loadToken = 0;

function drawBox(b, color, label) {
  if (!b) return;
  const s = canvas.width / (canvas.clientWidth || canvas.width);
  ctx.lineWidth = 2 * s; ctx.strokeStyle = color;
  ctx.strokeRect(b[0], b[1], b[2], b[3]);
  if (label) { ctx.fillStyle = color; ctx.font = `${Math.round(12 * s)}px sans-serif`; ctx.fillText(label, b[0] + 2 * s, b[1] - 4 * s); }
}

function showFrame(i) {
  const token = ++loadToken;
  return new Promise(resolve => {
    const img = new Image();
    img.onload = () => {
      if (token !== loadToken) return resolve(false);
      ctx.drawImage(img, 0, 0);
      const q = current;
      if (q.gt && q.gt[i]) drawBox(q.gt[i], "#f28c0d");
      const lost = q.lost && q.lost[i];
      const c = q.confidence ? q.confidence[i] : null;
      drawBox(q.boxes[i], lost ? "#d6336c" : "#19c24a", c === null || c === undefined ? null : fmt(c, 2));
      frame = i;
      $("slider").value = String(i);
      $("frame-label").textContent = `${i + 1} / ${q.frames}` + (q.iou && q.iou[i] !== null ? ` · IoU ${fmt(q.iou[i], 2)}` : "");
      for (const p of plots) p.setFrame(i + 1);
      resolve(true);
    };
    img.onerror = () => { $("error").textContent = `frame ${i + 1} cannot be read`; resolve(false); };
    img.src = withToken(`/api/sequence/${seqIndex}/frame/${i}`);
  });
}

async function play() {
  playing = !playing;
  $("play").textContent = playing ? "Pause" : "Play";
  while (playing) {
    const t0 = performance.now();
    const next = frame + 1 >= current.boxes.length ? 0 : frame + 1;
    await showFrame(next);
    const wait = 1000 / (current.fps || 30) - (performance.now() - t0);
    if (wait > 0) await new Promise(r => setTimeout(r, wait));
  }
}

async function openSequence(k) {
  playing = false; $("play").textContent = "Play";
  seqIndex = k;
  try { current = await api(`/api/sequence/${k}`); } catch (e) { $("error").textContent = e.message; return; }
  $("seq-name").textContent = current.name + (current.scores && current.scores.auc !== undefined && current.scores.auc !== null
    ? ` — success AUC ${fmt(current.scores.auc, 3)}, precision@20 ${fmt(current.scores.precision, 3)}` : "");
  canvas.width = current.width; canvas.height = current.height;
  $("slider").max = String(current.boxes.length - 1);
  for (const tr of document.querySelectorAll("#seqs tbody tr")) tr.classList.toggle("selected", Number(tr.dataset.index) === k);
  for (const p of plots) p.destroy();
  plots = [];
  $("iou-plot").innerHTML = ""; $("conf-plot").innerHTML = "";
  const frames = current.boxes.map((_, i) => i + 1);
  const seek = f => showFrame(Math.max(0, Math.min(current.boxes.length - 1, f - 1)));
  const missing = [];
  if (current.iou) plots.push(linePlot($("iou-plot"), "IoU with the ground truth", frames,
                                       [{label: "IoU", color: "#2f7cf6", values: current.iou}], {ylabel: "IoU", onClick: seek}));
  else missing.push("no ground truth: no IoU plot");
  if (current.confidence) {
    const series = [{label: "confidence", color: "#19c24a", values: current.confidence}];
    if (current.lost) series.push({label: "lost", color: "#d6336c", points: true,
                                   values: current.lost.map((l, i) => l ? (current.confidence[i] ?? 0) : null)});
    plots.push(linePlot($("conf-plot"), "confidence per frame", frames, series, {ylabel: "confidence", onClick: seek}));
  } else missing.push("no confidence file: no confidence plot");
  $("no-plots").textContent = missing.join("; ");
  await showFrame(0);
  document.body.dataset.ready = "1";
}

function renderTable() {
  const sorted = rows.slice().sort((a, b) => {
    const x = a[sortKey], y = b[sortKey];
    const c = (x === null) - (y === null) || (typeof x === "string" ? x.localeCompare(y) : x - y);
    return sortDesc ? -c : c;
  });
  const tbody = document.querySelector("#seqs tbody");
  tbody.innerHTML = "";
  for (const r of sorted) {
    const tr = document.createElement("tr");
    tr.dataset.index = String(r.index);
    if (r.index === seqIndex) tr.className = "selected";
    for (const v of [r.name, fmt(r.auc, 3), fmt(r.precision, 3), String(r.frames)]) {
      const td = document.createElement("td"); td.textContent = v; tr.appendChild(td);
    }
    tr.addEventListener("click", () => openSequence(r.index));
    tbody.appendChild(tr);
  }
  for (const th of document.querySelectorAll("#seqs th")) {
    const k = th.dataset.key;
    th.textContent = th.textContent.replace(/ [▲▼]$/, "") + (k === sortKey ? (sortDesc ? " ▼" : " ▲") : "");
  }
}

for (const th of document.querySelectorAll("#seqs th")) th.addEventListener("click", () => {
  const k = th.dataset.key;
  if (k === sortKey) sortDesc = !sortDesc; else { sortKey = k; sortDesc = k !== "name"; }
  renderTable();
});
$("play").addEventListener("click", play);
$("slider").addEventListener("input", ev => { playing = false; $("play").textContent = "Play"; showFrame(Number(ev.target.value)); });

(async function main() {
  let info;
  try { info = await api("/api/info"); } catch (e) { $("error").textContent = e.message; return; }
  $("title").textContent = info.title;
  document.title = "siamcan view – " + info.title;
  rows = info.sequences;
  $("table-title").textContent = info.kind === "eval" ? `Sequences (${rows.length}), by success AUC` : "Sequence";
  renderTable();
  const first = document.querySelector("#seqs tbody tr");
  if (first) await openSequence(Number(first.dataset.index));
})();
