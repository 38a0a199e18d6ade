// Small SVG chart helpers shared by the bed page, the handover report (and any page that wants a
// sparkline). No chart library: the pages are served under a strict CSP from this origin only, and
// the charts are simple enough that a few hundred lines keep every pixel explainable.
//
// Everything is drawn in a fixed coordinate system (viewBox WIDTH x height) and scaled by CSS, so a
// chart prints at A4 width exactly as it looks on screen. Colours only ever repeat what a pattern or
// a text label already says: the temperature bands carry both a fill pattern and their name, so a
// black-and-white print or a colour-blind reader loses nothing.
//
// Times are microseconds since the epoch (the API's unit); wall-clock labels are in the ward's time
// zone (passed in), never the browser's.

import { BAND_NAMES, formatDuration, formatTimeOfDay, vocabulary } from "./common.js";

export const SVG_NS = "http://www.w3.org/2000/svg";
export const WIDTH = 1000;
const US_PER_MIN = 60e6;
const US_PER_H = 3600e6;

let chartSeq = 0;

/** An SVG element with attributes, appended to `parent` when given. */
export function el(tag, attrs = {}, parent = null) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v !== null && v !== undefined) node.setAttribute(k, String(v));
  }
  if (parent) parent.appendChild(node);
  return node;
}

/** An SVG text element. */
export function text(parent, x, y, content, attrs = {}) {
  const t = el("text", { x, y, ...attrs }, parent);
  t.textContent = content;
  return t;
}

function linear(d0, d1, r0, r1) {
  const k = d1 === d0 ? 0 : (r1 - r0) / (d1 - d0);
  return (v) => r0 + (v - d0) * k;
}

const clockFormats = new Map();

/** "HH:MM" (24-hour) of an instant in the ward's time zone: what the hour ticks are found by. */
function clock24(us, tz) {
  let f = clockFormats.get(tz);
  if (!f) {
    f = new Intl.DateTimeFormat("en-GB", { timeZone: tz, hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    clockFormats.set(tz, f);
  }
  return f.format(new Date(us / 1000));
}

/** A time of day as the ward's clock prints it (24-hour unless the settings say 12-hour). */
export function clock(us, tz) {
  return formatTimeOfDay(us, tz);
}

/** Durations the one way every page prints them ("2 h 21 min"): common.js's formatDuration. */
export const duration = formatDuration;

/** Instants in [startUs, endUs] where the ward-local clock shows a whole hour divisible by `everyH`. */
export function hourTicks(startUs, endUs, tz, everyH) {
  // Step in quarter hours of UTC, so zones at :30 or :45 offsets still land on their whole hours.
  const out = [];
  const q = 15 * US_PER_MIN;
  for (let t = Math.ceil(startUs / q) * q; t <= endUs; t += q) {
    const [h, m] = clock24(t, tz).split(":").map(Number);
    if (m === 0 && h % everyH === 0) out.push(t);
  }
  return out;
}

function frame(container, height, label, margin) {
  const id = `kmc-chart-${++chartSeq}`;
  const svg = el("svg", {
    viewBox: `0 0 ${WIDTH} ${height}`,
    role: "img",
    "aria-labelledby": `${id}-title`,
    class: "chart",
    id,
  });
  el("title", { id: `${id}-title` }, svg).textContent = label;
  const plot = {
    left: margin.left,
    right: WIDTH - margin.right,
    top: margin.top,
    bottom: height - margin.bottom,
  };
  container.replaceChildren(svg);
  return { svg, id, plot, defs: el("defs", {}, svg) };
}

function timeAxis(svg, plot, x, startUs, endUs, tz) {
  const spanH = (endUs - startUs) / US_PER_H;
  const every = spanH > 12 ? 3 : 1;
  const g = el("g", { class: "axis x-axis" }, svg);
  for (const t of hourTicks(startUs, endUs, tz, every)) {
    const px = x(t);
    el("line", { x1: px, x2: px, y1: plot.top, y2: plot.bottom, class: "grid" }, g);
    // Labels at the plot's ends are kept inside its width, clear of the y axis's numbers.
    const anchor = px - plot.left < 20 ? "start" : plot.right - px < 20 ? "end" : "middle";
    text(g, px, plot.bottom + 16, clock(t, tz), { "text-anchor": anchor, class: "tick-label" });
  }
  el("rect", {
    x: plot.left,
    y: plot.top,
    width: plot.right - plot.left,
    height: plot.bottom - plot.top,
    class: "plot-frame",
    fill: "none",
  }, svg);
}

/** Fill patterns that tell the bands apart without colour (stroke colours set by CSS classes). */
function bandPatterns(defs, id) {
  const pattern = (name, draw) => {
    const p = el("pattern", {
      id: `${id}-${name}`,
      width: 8,
      height: 8,
      patternUnits: "userSpaceOnUse",
      class: `pattern-${name}`,
    }, defs);
    draw(p);
    return `url(#${id}-${name})`;
  };
  return {
    hyperthermia: pattern("hyperthermia", (p) => {
      el("rect", { width: 8, height: 8, class: "band-bg band-hyperthermia" }, p);
      el("path", { d: "M0 8 L8 0", class: "hatch" }, p);
    }),
    normal: pattern("normal", (p) => {
      el("rect", { width: 8, height: 8, class: "band-bg band-normal" }, p);
    }),
    cold_stress: pattern("cold-stress", (p) => {
      el("rect", { width: 8, height: 8, class: "band-bg band-cold-stress" }, p);
      el("circle", { cx: 4, cy: 4, r: 1, class: "dot" }, p);
    }),
    moderate: pattern("moderate", (p) => {
      el("rect", { width: 8, height: 8, class: "band-bg band-moderate" }, p);
      el("path", { d: "M0 0 L8 8", class: "hatch" }, p);
    }),
    severe: pattern("severe", (p) => {
      el("rect", { width: 8, height: 8, class: "band-bg band-severe" }, p);
      el("path", { d: "M0 0 L8 8 M0 8 L8 0", class: "hatch" }, p);
    }),
    unjudged: pattern("unjudged", (p) => {
      el("rect", { width: 8, height: 8, class: "unjudged-bg" }, p);
      el("path", { d: "M0 8 L8 0 M0 0 L8 8", class: "hatch-strong" }, p);
    }),
    short: pattern("short", (p) => {
      el("rect", { width: 8, height: 8, class: "session-short-bg" }, p);
      el("path", { d: "M0 8 L8 0", class: "hatch-strong" }, p);
    }),
  };
}

/** The WHO bands for the thresholds the service uses (°C), highest first, named in the service's
 *  words (GET /api/vocabulary); none without thresholds. */
export function whoBands(b) {
  if (!b) return [];
  const name = (band) => BAND_NAMES[band] || band.replace(/_/g, " ");
  return [
    { key: "hyperthermia", name: name("hyperthermia"), range: `> ${b.hyperthermia_above_c}`, lo: b.hyperthermia_above_c, hi: Infinity },
    { key: "normal", name: name("normal"), range: `${b.cold_stress_below_c}–${b.hyperthermia_above_c}`, lo: b.cold_stress_below_c, hi: b.hyperthermia_above_c },
    { key: "cold_stress", name: name("cold_stress"), range: `${b.moderate_below_c}–${b.cold_stress_below_c}`, lo: b.moderate_below_c, hi: b.cold_stress_below_c },
    { key: "moderate", name: name("hypothermia_moderate"), range: `${b.severe_below_c}–${b.moderate_below_c}`, lo: b.severe_below_c, hi: b.moderate_below_c },
    { key: "severe", name: name("hypothermia_severe"), range: `< ${b.severe_below_c}`, lo: -Infinity, hi: b.severe_below_c },
  ];
}

/**
 * Temperature over time: WHO bands shaded (pattern + name), each bin's lowest-to-highest reading as
 * a thin bar (class `temp-bin`, one per bin with a temperature) and the median as a line, broken
 * where readings stop for more than two bins.
 *
 * opts: { startUs, endUs, binUs, bins: [{start_us, temp_min_c, temp_median_c, temp_max_c}],
 *         bands, tz, label, height, nowUs }
 */
export function temperatureChart(container, opts) {
  const height = opts.height ?? 300;
  const { svg, id, plot, defs } = frame(container, height, opts.label ?? "Temperature", {
    left: 48, right: 205, top: 20, bottom: 26,
  });
  // Minutes read while the sensor was off the skin or settling are not the baby's temperature:
  // they are drawn as a hatched gap, never as a line through the hypothermia bands.
  const unjudged = opts.bins.filter((b) => (b.unjudged_fraction || 0) > 0);
  const bins = opts.bins.filter(
    (b) => b.temp_median_c !== null && b.temp_median_c !== undefined && !((b.unjudged_fraction || 0) > 0),
  );
  const temps = bins.flatMap((b) => [b.temp_min_c, b.temp_max_c]);
  const bands = opts.bands ?? vocabulary.thresholds;
  let lo = Math.min(34, Math.floor(Math.min(...temps, 99) - 0.5));
  let hi = Math.max(38.5, Math.ceil(Math.max(...temps, -99) + 0.5));
  lo = Math.max(20, lo);
  hi = Math.min(45, hi);
  const x = linear(opts.startUs, opts.endUs, plot.left, plot.right);
  const y = linear(lo, hi, plot.bottom, plot.top);
  const fills = bandPatterns(defs, id);

  const gBands = el("g", { class: "bands" }, svg);
  for (const band of whoBands(bands)) {
    const top = y(Math.min(hi, band.hi));
    const bottom = y(Math.max(lo, band.lo));
    if (bottom - top <= 0) continue;
    el("rect", {
      x: plot.left, y: top, width: plot.right - plot.left, height: bottom - top,
      fill: fills[band.key], class: `band band-${band.key.replace("_", "-")}`, "data-band": band.key,
    }, gBands);
    // The band's name beside the plot (centred on what is visible of it), its range under it.
    const mid = (top + bottom) / 2;
    const lab = el("g", { class: "band-label" }, gBands);
    el("rect", { x: plot.right + 4, y: top, width: 10, height: bottom - top, fill: fills[band.key], class: "band-key" }, lab);
    if (bottom - top >= 11) {
      text(lab, plot.right + 20, mid + (bottom - top >= 26 ? -2 : 4), band.name, { class: "band-name" });
      if (bottom - top >= 26) text(lab, plot.right + 20, mid + 12, `${band.range} °C`, { class: "band-range" });
    }
  }

  const gy = el("g", { class: "axis y-axis" }, svg);
  const step = hi - lo > 8 ? 2 : 1;
  for (let v = Math.ceil(lo); v <= hi; v += step) {
    el("line", { x1: plot.left, x2: plot.right, y1: y(v), y2: y(v), class: "grid" }, gy);
    text(gy, plot.left - 6, y(v) + 4, `${v}`, { "text-anchor": "end", class: "tick-label" });
  }
  text(gy, plot.left - 6, plot.top - 6, "°C", { "text-anchor": "end", class: "unit-label" });
  timeAxis(svg, plot, x, opts.startUs, opts.endUs, opts.tz);

  const binUs = opts.binUs ?? US_PER_MIN;
  const w = Math.max(1.2, x(opts.startUs + binUs) - x(opts.startUs));
  const gGaps = el("g", { class: "temp-unjudged", "data-count": unjudged.length }, svg);
  for (const b of unjudged) {
    if (b.start_us < opts.startUs || b.start_us >= opts.endUs) continue;
    const r = el("rect", {
      x: x(b.start_us), y: plot.top, width: w, height: plot.bottom - plot.top,
      fill: fills.unjudged, class: "unjudged-bin", "data-start-us": b.start_us,
    }, gGaps);
    el("title", {}, r).textContent = `${clock(b.start_us, opts.tz)}: sensor off the skin or settling — not judged`;
  }
  if (unjudged.length) {
    // Named beside the bands, like them: the hatching is not a band but "not judged".
    const lab = el("g", { class: "band-label unjudged-label" }, svg);
    el("rect", { x: plot.right + 4, y: plot.bottom + 6, width: 10, height: 10, fill: fills.unjudged, class: "band-key" }, lab);
    text(lab, plot.right + 20, plot.bottom + 15, "Sensor off skin / settling", { class: "band-range" });
  }
  const gBins = el("g", { class: "temp-bins", "data-count": bins.length }, svg);
  let d = "";
  let prev = null;
  for (const b of bins) {
    if (b.start_us < opts.startUs || b.start_us >= opts.endUs) continue;
    const px = x(b.start_us + binUs / 2);
    const top = y(Math.min(hi, b.temp_max_c));
    const bottom = y(Math.max(lo, b.temp_min_c));
    el("rect", {
      x: px - w / 2, y: top - 0.75, width: w, height: Math.max(1.5, bottom - top + 1.5),
      class: "temp-bin", "data-start-us": b.start_us,
    }, gBins);
    const py = y(Math.min(hi, Math.max(lo, b.temp_median_c)));
    const gapBetween = prev !== null && unjudged.some((u) => u.start_us > prev && u.start_us < b.start_us);
    if (prev === null || gapBetween || b.start_us - prev > 2 * binUs) {
      d += `M${(px - 1.5).toFixed(1)} ${py.toFixed(1)} L${(px + 0.5).toFixed(1)} ${py.toFixed(1)} `;
    } else {
      d += `L${px.toFixed(1)} ${py.toFixed(1)} `;
    }
    prev = b.start_us;
  }
  if (d) el("path", { d, class: "temp-median", fill: "none" }, svg);
  if (opts.nowUs) nowLine(svg, plot, x, opts.nowUs, opts.startUs, opts.endUs);
  return svg;
}

function nowLine(svg, plot, x, nowUs, startUs, endUs) {
  if (nowUs < startUs || nowUs > endUs) return;
  const px = x(nowUs);
  el("line", { x1: px, x2: px, y1: plot.top, y2: plot.bottom, class: "now-line" }, svg);
}

/**
 * Contact over time: the share of each bin's readings in contact as bars (class `contact-bin`), and
 * above them the sessions as horizontal bars (class `session`; short sessions hatched and named).
 *
 * opts: { startUs, endUs, binUs, bins: [{start_us, contact_fraction}],
 *         sessions: [{start_us, end_us, duration_s, short}], tz, label, height, nowUs }
 */
export function contactChart(container, opts) {
  const height = opts.height ?? 170;
  const { svg, id, plot, defs } = frame(container, height, opts.label ?? "Skin-to-skin contact", {
    left: 48, right: 205, top: 10, bottom: 26,
  });
  const fills = bandPatterns(defs, id);
  const x = linear(opts.startUs, opts.endUs, plot.left, plot.right);
  const laneTop = plot.top + 6;
  const laneH = 34;
  const barsTop = laneTop + laneH + 12;
  const yBar = linear(0, 1, plot.bottom, barsTop);

  const gy = el("g", { class: "axis y-axis" }, svg);
  for (const v of [0, 0.5, 1]) {
    el("line", { x1: plot.left, x2: plot.right, y1: yBar(v), y2: yBar(v), class: "grid" }, gy);
    text(gy, plot.left - 6, yBar(v) + 4, `${v * 100}%`, { "text-anchor": "end", class: "tick-label" });
  }
  timeAxis(svg, plot, x, opts.startUs, opts.endUs, opts.tz);

  const binUs = opts.binUs ?? US_PER_MIN;
  const w = Math.max(1, x(opts.startUs + binUs) - x(opts.startUs));
  const gBins = el("g", { class: "contact-bins" }, svg);
  for (const b of opts.bins) {
    if (b.contact_fraction === null || b.contact_fraction === undefined) continue;
    if (b.start_us < opts.startUs || b.start_us >= opts.endUs) continue;
    const top = yBar(b.contact_fraction);
    el("rect", {
      x: x(b.start_us), y: top, width: w, height: Math.max(b.contact_fraction > 0 ? 1 : 0, yBar(0) - top),
      class: "contact-bin",
    }, gBins);
  }

  const gS = el("g", { class: "sessions" }, svg);
  for (const s of opts.sessions ?? []) {
    const a = Math.max(opts.startUs, s.start_us);
    const b = Math.min(opts.endUs, s.end_us);
    if (b <= a) continue;
    const x0 = x(a);
    const sw = Math.max(2, x(b) - x0);
    const r = el("rect", {
      x: x0, y: laneTop, width: sw, height: laneH,
      class: s.short ? "session session-short" : "session session-long",
      fill: s.short ? fills.short : null,
      "data-start-us": s.start_us,
    }, gS);
    const tip = el("title", {}, r);
    tip.textContent = `${clock(s.start_us, opts.tz)}–${clock(s.end_us, opts.tz)}, ${duration(s.duration_s)}${s.short ? " (short)" : ""}`;
    const label = duration(s.duration_s);
    if (sw >= label.length * 7 + 8) {
      text(gS, x0 + sw / 2, laneTop + laneH / 2 + 5, label, {
        "text-anchor": "middle", class: s.short ? "session-label session-label-short" : "session-label",
      });
    }
  }
  // Legend beside the plot: the same shapes as the marks, named.
  const lg = el("g", { class: "legend" }, svg);
  const lx = plot.right + 4;
  el("rect", { x: lx, y: laneTop, width: 14, height: 12, class: "session session-long" }, lg);
  text(lg, lx + 20, laneTop + 10, "Session", { class: "band-name" });
  el("rect", { x: lx, y: laneTop + 18, width: 14, height: 12, class: "session session-short", fill: fills.short }, lg);
  text(lg, lx + 20, laneTop + 28, "Short (< 60 min)", { class: "band-name" });
  el("rect", { x: lx, y: barsTop + 8, width: 14, height: 12, class: "contact-bin" }, lg);
  text(lg, lx + 20, barsTop + 18, "Share of the", { class: "band-name" });
  text(lg, lx + 20, barsTop + 32, "minute in contact", { class: "band-name" });
  if (opts.nowUs) nowLine(svg, plot, x, opts.nowUs, opts.startUs, opts.endUs);
  return svg;
}

/**
 * A sparkline: values over time as one line, no axes (for ward tiles).
 * points: [{t, v}] in time order; opts: { startUs, endUs, lo, hi, width, height, label }.
 */
export function sparkline(container, points, opts) {
  const width = opts.width ?? 120;
  const height = opts.height ?? 32;
  const svg = el("svg", { viewBox: `0 0 ${width} ${height}`, class: "sparkline", role: "img", "aria-label": opts.label ?? "trend" });
  const x = linear(opts.startUs, opts.endUs, 1, width - 1);
  const y = linear(opts.lo, opts.hi, height - 1, 1);
  const d = points
    .filter((p) => p.v !== null && p.v !== undefined)
    .map((p, i) => `${i ? "L" : "M"}${x(p.t).toFixed(1)} ${y(Math.min(opts.hi, Math.max(opts.lo, p.v))).toFixed(1)}`)
    .join(" ");
  if (d) el("path", { d, fill: "none", class: "sparkline-line" }, svg);
  container.replaceChildren(svg);
  return svg;
}
