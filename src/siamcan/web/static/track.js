// siamcan track: draw boxes on a frame, track, watch the result. Talks to siamcan.web.track.
"use strict";
const canvas = $("canvas"), ctx = canvas.getContext("2d");
let info = null, image = null, frameIndex = 0, boxes = [], selected = -1, drag = null, running = false;
const HANDLE = 9; // screen pixels around a corner that grab it

function scale() { return canvas.width / (canvas.clientWidth || canvas.width); }
function toImage(ev) {  // page pixels -> frame pixels (the canvas is scaled by CSS; its border is not the frame)
  const r = canvas.getBoundingClientRect(), s = scale();
  return {x: (ev.clientX - r.left - canvas.clientLeft) * s, y: (ev.clientY - r.top - canvas.clientTop) * s};
}

function redraw() {
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  if (image) ctx.drawImage(image, 0, 0);
  const s = scale();
  boxes.forEach((b, i) => {
    const c = COLORS[i % COLORS.length];
    ctx.lineWidth = (i === selected ? 3 : 2) * s;
    ctx.strokeStyle = c;
    ctx.strokeRect(b.x, b.y, b.w, b.h);
    ctx.fillStyle = c;
    ctx.font = `${Math.round(13 * s)}px sans-serif`;
    ctx.fillText(String(i + 1), b.x + 3 * s, b.y - 4 * s);
    if (i === selected) for (const [hx, hy] of corners(b)) ctx.fillRect(hx - 4 * s, hy - 4 * s, 8 * s, 8 * s);
  });
}

function corners(b) { return [[b.x, b.y], [b.x + b.w, b.y], [b.x, b.y + b.h], [b.x + b.w, b.y + b.h]]; }

function normalize(b) {
  const x0 = Math.max(0, Math.min(b.x, b.x + b.w)), y0 = Math.max(0, Math.min(b.y, b.y + b.h));
  const x1 = Math.min(canvas.width, Math.max(b.x, b.x + b.w)), y1 = Math.min(canvas.height, Math.max(b.y, b.y + b.h));
  return {x: Math.round(x0), y: Math.round(y0), w: Math.round(x1 - x0), h: Math.round(y1 - y0)};
}

function hit(p) {
  const tol = HANDLE * scale();
  for (let i = boxes.length - 1; i >= 0; i--) {
    const b = boxes[i];
    const cs = corners(b);
    for (let k = 0; k < 4; k++) {
      if (Math.abs(p.x - cs[k][0]) <= tol && Math.abs(p.y - cs[k][1]) <= tol) {
        const opp = cs[3 - k];
        return {i, mode: "resize", ax: opp[0], ay: opp[1]};
      }
    }
  }
  for (let i = boxes.length - 1; i >= 0; i--) {
    const b = boxes[i];
    if (p.x >= b.x && p.x <= b.x + b.w && p.y >= b.y && p.y <= b.y + b.h) return {i, mode: "move"};
  }
  return null;
}

canvas.addEventListener("pointerdown", ev => {
  if (running || !image) return;
  canvas.setPointerCapture(ev.pointerId);
  const p = toImage(ev), h = hit(p);
  if (h && h.mode === "move") {
    selected = h.i; drag = {mode: "move", i: h.i, dx: p.x - boxes[h.i].x, dy: p.y - boxes[h.i].y};
  } else if (h) {
    selected = h.i; drag = {mode: "resize", i: h.i, ax: h.ax, ay: h.ay};
  } else {
    boxes.push({x: p.x, y: p.y, w: 0, h: 0});
    selected = boxes.length - 1; drag = {mode: "resize", i: selected, ax: p.x, ay: p.y, fresh: true};
  }
  render();
});
canvas.addEventListener("pointermove", ev => {
  if (!drag) {
    const h = image && !running ? hit(toImage(ev)) : null;
    canvas.style.cursor = !h ? "crosshair" : h.mode === "move" ? "move" : "nwse-resize";
    return;
  }
  const p = toImage(ev), b = boxes[drag.i];
  if (drag.mode === "move") {
    b.x = Math.max(-b.w / 2, Math.min(canvas.width - b.w / 2, p.x - drag.dx));
    b.y = Math.max(-b.h / 2, Math.min(canvas.height - b.h / 2, p.y - drag.dy));
  } else {
    b.x = drag.ax; b.y = drag.ay; b.w = p.x - drag.ax; b.h = p.y - drag.ay;
  }
  redraw();
});
function endDrag() {
  if (!drag) return;
  const b = normalize(boxes[drag.i]);
  if (drag.mode === "move") { const o = boxes[drag.i]; b.x = Math.round(o.x); b.y = Math.round(o.y); b.w = Math.round(o.w); b.h = Math.round(o.h); }
  if (b.w < 2 || b.h < 2) { boxes.splice(drag.i, 1); selected = -1; } else boxes[drag.i] = b;
  drag = null;
  render();
}
canvas.addEventListener("pointerup", endDrag);
canvas.addEventListener("pointercancel", endDrag);
document.addEventListener("keydown", ev => {
  if ((ev.key === "Delete" || ev.key === "Backspace") && selected >= 0 && !running && ev.target === document.body) {
    boxes.splice(selected, 1); selected = -1; render();
  }
});

function render() {
  redraw();
  const ul = $("boxes");
  ul.innerHTML = "";
  boxes.forEach((b, i) => {
    const li = document.createElement("li");
    if (i === selected) li.className = "selected";
    const label = document.createElement("span");
    const sw = document.createElement("span");
    sw.className = "swatch"; sw.style.background = COLORS[i % COLORS.length];
    label.appendChild(sw);
    label.appendChild(document.createTextNode(`${i + 1}: ${b.x},${b.y},${b.w},${b.h}`));
    label.addEventListener("click", () => { selected = i; render(); });
    const del = document.createElement("button");
    del.textContent = "×"; del.title = "delete this box"; del.disabled = running;
    del.addEventListener("click", () => { boxes.splice(i, 1); selected = -1; render(); });
    li.appendChild(label); li.appendChild(del);
    ul.appendChild(li);
  });
  $("nobox").classList.toggle("hidden", boxes.length > 0);
  $("track").disabled = running || boxes.length === 0;
  if (info && boxes.length > info.max_targets)
    $("error").textContent = `One run tracks at most ${info.max_targets} objects: delete ${boxes.length - info.max_targets} box(es).`;
  else if ($("error").dataset.kind === "limit" || $("error").textContent.startsWith("This version")) $("error").textContent = "";
}

function loadFrame(i) {
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => { image = img; frameIndex = i; redraw(); resolve(); };
    img.onerror = () => reject(new Error(`frame ${i + 1} cannot be read`));
    img.src = withToken(`/api/frame/${i}`);
  });
}

async function startTracking() {
  $("error").textContent = "";
  try {
    await postJSON("/api/track", {boxes: boxes.map(b => [b.x, b.y, b.w, b.h]), start: frameIndex});
  } catch (e) { $("error").textContent = e.message; return; }
  running = true; selected = -1; render();
  $("slider").disabled = true;
  $("progress-panel").classList.remove("hidden");
  $("stop").classList.remove("hidden");
  $("result-panel").classList.add("hidden");
  $("files-panel").classList.add("hidden");
  poll();
}

async function poll() {
  let p;
  try { p = await api("/api/progress"); } catch (e) { $("error").textContent = e.message; setTimeout(poll, 1000); return; }
  $("done").textContent = p.done + (p.total ? " / " + p.total : "");
  $("fps").textContent = fmt(p.fps, 1);
  $("bar").max = p.total || 1; $("bar").value = p.total ? p.done : 0;
  $("state").textContent = p.state === "running" ? "tracking…" : p.message || p.state;
  document.body.dataset.state = p.state;
  if (p.state === "running") { setTimeout(poll, 300); return; }
  running = false;
  $("stop").classList.add("hidden");
  $("slider").disabled = false;
  if (p.state === "done") showResult(await api("/api/result"));
  else { $("error").textContent = p.message; render(); }
}

function showResult(r) {
  $("draw-panel").classList.add("hidden");
  $("outputs-panel").classList.add("hidden");
  $("result-panel").classList.remove("hidden");
  $("files-panel").classList.remove("hidden");
  $("again").classList.remove("hidden");
  $("track").classList.add("hidden");
  $("state").textContent = `done: ${r.frames} frames` + (r.tracking_fps ? `, ${fmt(r.tracking_fps, 1)} frames/s (network + post-processing)` : "")
    + (r.carried.length ? `; ${r.carried.length} undecodable frame(s) carried` : "");
  const video = $("video");
  video.src = withToken("/files/video");
  for (const k of ["boxes", "mot", "video", "scores"]) $("dl-" + k).href = withToken("/files/" + k, {download: "1"});
  const ul = $("written"); ul.innerHTML = "";
  for (const [k, v] of Object.entries(r.files)) { const li = document.createElement("li"); li.textContent = `${k}: ${v}`; ul.appendChild(li); }
  $("cmd-block").classList.toggle("hidden", !r.command);
  $("cmd").textContent = r.command || "";
  const t = r.targets[0];
  const frames = t.confidence.map((_, i) => r.start + i + 1);
  const series = [];
  r.targets.forEach((tg, k) => {
    series.push({label: `confidence ${tg.id}`, color: COLORS[k % COLORS.length], values: tg.confidence});
    series.push({label: `lost ${tg.id}`, color: "#d6336c", points: true,
                 values: tg.lost.map((l, i) => l ? (tg.confidence[i] ?? 0) : null)});
  });
  $("plot").innerHTML = "";
  const chart = linePlot($("plot"), "confidence per frame", frames, series, {
    ylabel: "confidence",
    onClick: f => { video.currentTime = (f - r.start - 1 + 0.5) / r.fps; },
  });
  video.addEventListener("timeupdate", () => chart.setFrame(r.start + 1 + Math.floor(video.currentTime * r.fps)));
  document.body.dataset.result = "1";
}

$("track").addEventListener("click", startTracking);
$("stop").addEventListener("click", () => postJSON("/api/stop", {}).catch(e => { $("error").textContent = e.message; }));
$("again").addEventListener("click", () => {
  $("draw-panel").classList.remove("hidden");
  $("result-panel").classList.add("hidden");
  $("again").classList.add("hidden");
  $("track").classList.remove("hidden");
  $("outputs-panel").classList.remove("hidden");
  $("video").removeAttribute("src");
  document.body.dataset.result = "";
  render();
});
$("slider").addEventListener("input", ev => {
  const i = Number(ev.target.value);
  $("frame-label").textContent = String(i + 1);
  loadFrame(i).catch(e => { $("error").textContent = e.message; });
});

(async function main() {
  try {
    info = await api("/api/info");
  } catch (e) { $("error").textContent = e.message; return; }
  $("source").textContent = info.source;
  document.title = "siamcan track – " + info.source;
  canvas.width = info.width; canvas.height = info.height;
  if (info.stream || !info.frames || info.frames < 2) $("slider-row").classList.add("hidden");
  else { $("slider").max = String(info.frames - 1); }
  for (const [k, v] of Object.entries(info.outputs)) {
    const li = document.createElement("li"); li.textContent = `${k}: ${v}`; $("outputs").appendChild(li);
  }
  try { await loadFrame(0); } catch (e) { $("error").textContent = e.message; }
  render();
  document.body.dataset.ready = "1";
})();
