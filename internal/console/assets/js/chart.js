// A small live line chart in SVG: our own, no chart library.
import { h } from './lib.js';

const H = 180, PAD = { l: 48, r: 10, t: 10, b: 22 };

// chart returns {el, update(points)} where points are [{t, v}] in time order.
export function chart(label) {
  const svg = h('svg', { class: 'chart', viewBox: `0 0 600 ${H}`, role: 'img', 'aria-label': label });
  function update(points) {
    // One user unit per CSS pixel, so that text is not stretched.
    const W = Math.max(200, Math.round(svg.getBoundingClientRect().width) || 600);
    svg.setAttribute('viewBox', `0 0 ${W} ${H}`);
    svg.replaceChildren();
    svg.setAttribute('aria-label', points.length ? `${label}: latest ${points[points.length - 1].v}` : `${label}: no data yet`);
    const x0 = PAD.l, x1 = W - PAD.r, y0 = H - PAD.b, y1 = PAD.t;
    svg.append(h('line', { class: 'axis', x1: x0, y1: y0, x2: x1, y2: y0 }), h('line', { class: 'axis', x1: x0, y1: y0, x2: x0, y2: y1 }));
    if (!points.length) {
      svg.append(h('text', { x: x0 + 8, y: (y0 + y1) / 2 }, 'no numeric data yet'));
      return;
    }
    let lo = Math.min(...points.map(p => p.v)), hi = Math.max(...points.map(p => p.v));
    if (lo === hi) { lo -= 1; hi += 1; }
    const tMin = points[0].t, tMax = Math.max(points[points.length - 1].t, tMin + 1);
    const X = t => x0 + (t - tMin) / (tMax - tMin) * (x1 - x0);
    const Y = v => y0 - (v - lo) / (hi - lo) * (y0 - y1);
    const fmt = v => Math.abs(v) >= 1000 || Number.isInteger(v) ? String(Math.round(v)) : v.toFixed(2);
    svg.append(
      h('text', { x: 4, y: y1 + 10 }, fmt(hi)),
      h('text', { x: 4, y: y0 }, fmt(lo)),
      h('text', { x: x0, y: H - 6 }, new Date(tMin).toLocaleTimeString(undefined, { hour12: false })),
      h('text', { x: x1 - 60, y: H - 6 }, new Date(tMax).toLocaleTimeString(undefined, { hour12: false })),
      h('polyline', { class: 'line', points: points.map(p => `${X(p.t).toFixed(1)},${Y(p.v).toFixed(1)}`).join(' ') }));
    for (const p of points.slice(-1)) svg.append(h('circle', { cx: X(p.t), cy: Y(p.v), r: 3, fill: '#0b5394' }));
  }
  update([]);
  return { el: svg, update };
}

// numericFields returns the dotted paths of the numbers in a JSON value.
export function numericFields(value, prefix = '', out = new Map()) {
  if (typeof value === 'number' && Number.isFinite(value)) out.set(prefix, value);
  else if (value && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) numericFields(v, prefix ? `${prefix}.${k}` : k, out);
  }
  return out;
}
