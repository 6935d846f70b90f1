// siamcan's local page: shared helpers. Every request carries the token this page was opened with.
"use strict";
const TOKEN = new URLSearchParams(location.search).get("token") || "";

function withToken(path, extra) {
  const q = new URLSearchParams(extra || {});
  q.set("token", TOKEN);
  return path + (path.includes("?") ? "&" : "?") + q.toString();
}

async function api(path, options) {
  const r = await fetch(withToken(path), Object.assign({cache: "no-store"}, options || {}));
  let data = null;
  try { data = await r.json(); } catch (e) { data = {error: r.status + " " + r.statusText}; }
  if (!r.ok) throw new Error((data && data.error) || (r.status + " " + r.statusText));
  return data;
}

function postJSON(path, body) {
  return api(path, {method: "POST", headers: {"Content-Type": "application/json"}, body: JSON.stringify(body)});
}

function $(id) { return document.getElementById(id); }

const COLORS = ["#19c24a", "#2f7cf6", "#f2a20d", "#d6336c", "#12b5c4", "#8e5cf7", "#e8590c", "#5c940d"];

function fmt(v, d) { return v === null || v === undefined || Number.isNaN(v) ? "–" : Number(v).toFixed(d); }

// A uPlot line chart of per-frame values; `marks` (optional) are frame numbers drawn as red dots on the x axis
// (lost frames). Returns the chart; chart.setFrame(f) moves a vertical marker to frame f.
function linePlot(el, title, frames, series, opts) {
  opts = opts || {};
  const data = [frames];
  const s = [{label: "frame"}];
  for (const one of series) {
    data.push(one.values);
    s.push({label: one.label, stroke: one.color, width: 1.5, spanGaps: false,
            points: {show: one.points || false, size: 5, fill: one.color}});
  }
  let marker = null;
  const chart = new uPlot({
    title: title, width: Math.max(320, el.clientWidth || 600), height: opts.height || 190,
    scales: {x: {time: false}, y: {range: opts.range || [0, 1]}},
    axes: [{label: "frame"}, {label: opts.ylabel || ""}],
    series: s,
    cursor: {drag: {x: false, y: false}},
    hooks: {draw: [u => {
      if (marker === null) return;
      const x = u.valToPos(marker, "x", true);
      const ctx = u.ctx;
      ctx.save(); ctx.strokeStyle = "#1d2330"; ctx.lineWidth = 1.5 * devicePixelRatio;
      ctx.beginPath(); ctx.moveTo(x, u.bbox.top); ctx.lineTo(x, u.bbox.top + u.bbox.height); ctx.stroke(); ctx.restore();
    }]},
  }, data, el);
  chart.setFrame = f => { marker = f; chart.redraw(false, false); };
  if (opts.onClick) {
    chart.over.addEventListener("click", () => {
      const left = chart.cursor.left;
      if (left === null || left < 0) return;
      opts.onClick(Math.round(chart.posToVal(left, "x")));
    });
  }
  return chart;
}
