// The ward screen's tiles: one per bed, cloned once from <template id="tile-template"> and updated
// in place; the grid that sizes itself to the beds and the screen (every bed on one screen, no
// scrolling; a ward too big for one screen pages by itself); and each tile's sparkline.
import { api, bandInfo, bandLine, formatAgo, formatDuration, formatTemp, isoDuration } from "../common.js";
import { renderTileAlarms, tileAlarms } from "./alarms.js";
import { $, US, hooks, setText, settings, ward } from "./model.js";

/** Timers are carried forward between messages for at most this long: a silent server must not
 * make a session look like it is still running. */
const MAX_EXTRAPOLATE_S = 10;
/** The sparkline shows this many hours (the trend has 24 h of one-minute bins). */
const SPARK_HOURS = 4;
const SPARK_REFRESH_MS = 60_000;
const SPARK_MIN_C = 32;
const SPARK_MAX_C = 39;

/** A tile's design size in px: every size inside it scales with it (ward.css, --u). At this size
 *  the bed label's capitals and the temperature's digits are 14 mm tall on a 43" 1080p screen;
 *  24 such tiles fit a 1920 × 1080 screen (6 × 4). */
const TILE_W = 300;
const TILE_H = 232;
/** Below this scale a tile is no longer legible: the ward pages instead of shrinking further. */
const MIN_SCALE = 0.6;
/** Tiles never grow past this scale (a 4-bed ward need not shout). */
const MAX_SCALE = 1.9;
const PAGE_MS = 12_000;

const template = $("tile-template");
const grid = $("beds");
const trendTimers = new Map();

let onTileOpen = () => {};

/** Ask `open(bedId)` when a tile is opened (its link or the tile itself). */
export function onOpen(open) {
  onTileOpen = open;
}

function tileElement(bedId) {
  const el = template.content.firstElementChild.cloneNode(true);
  el.dataset.bedId = bedId;
  el.querySelector(".tile-link").href = `/bed/${encodeURIComponent(bedId)}`;
  el.addEventListener("click", (ev) => {
    if (ev.target.closest("button")) return; // its Ack button (alarms.js handles it)
    ev.preventDefault();
    onTileOpen(bedId);
  });
  return el;
}

function ordered() {
  return [...ward.beds.values()].sort(
    (a, b) => (a.tile.position ?? 0) - (b.tile.position ?? 0) || String(a.tile.bed_id).localeCompare(b.tile.bed_id),
  );
}

export function sortBeds() {
  const order = ordered();
  order.forEach((e, i) => {
    if (grid.children[i] !== e.el) grid.insertBefore(e.el, grid.children[i] || null);
  });
  while (grid.children.length > order.length) grid.lastElementChild.remove();
  grid.dataset.count = String(order.length);
  layout();
}

export function mergeTile(tile, asOfUs) {
  const prev = ward.beds.get(tile.bed_id);
  const el = prev ? prev.el : tileElement(tile.bed_id);
  const entry = { tile, asOfUs, el };
  ward.beds.set(tile.bed_id, entry);
  if (!prev) {
    sortBeds();
    loadTrend(tile.bed_id);
  } else if (prev.tile.position !== tile.position) {
    sortBeds();
  }
  if (prev && prev.tile.wrap_id !== tile.wrap_id) loadTrend(tile.bed_id);
  renderTile(entry);
}

export function removeBed(id) {
  const entry = ward.beds.get(id);
  if (!entry) return;
  entry.el.remove();
  ward.beds.delete(id);
  clearTimeout(trendTimers.get(id));
}

/** Seconds since the tile's values were computed, by the server's clock, capped. */
function elapsedS(entry) {
  const s = (ward.clock.nowUs() - entry.asOfUs) / US;
  return Math.min(MAX_EXTRAPOLATE_S, Math.max(0, s));
}

export function renderTile(entry) {
  const { tile, el } = entry;
  const alarms = tileAlarms(tile);
  const band = bandLine(tile, alarms);
  const noData = tile.judging === "no data";
  const noWrap = tile.judging === "no wrap";
  const dt = elapsedS(entry);
  const running = tile.session_state === "running" && tile.contact === true;

  setText(el.querySelector(".bed-label"), tile.label || tile.bed_id);
  // The whole name, always: the given name tells two babies apart (it wraps, never "…").
  const nameEl = el.querySelector(".baby-name");
  const name = tile.display_name || (tile.admission_id == null ? "No baby admitted" : "");
  if (nameEl.textContent !== name) {
    nameEl.textContent = name;
    fitName(nameEl);
  }

  // Temperature: the band's colour and shape only when judged; otherwise neutral grey and why.
  el.dataset.band = band.key;
  el.dataset.tempBand = bandInfo(tile).key;
  el.classList.toggle("is-rewarming", band.rewarming);
  const hasTemp = !noWrap && tile.temperature_c != null && Number.isFinite(tile.temperature_c);
  setText(el.querySelector(".temp-value"), hasTemp ? tile.temperature_c.toFixed(1) : "—");
  el.querySelector(".temp-unit").hidden = !hasTemp;
  setText(el.querySelector(".band-name"), band.name);
  el.classList.toggle("is-stale", noData);
  el.classList.toggle("is-nowrap", noWrap);
  const heardS = tile.last_heard_us == null ? null : (ward.clock.nowUs() - tile.last_heard_us) / US;
  setText(el.querySelector(".stale-ago"), heardS == null ? "never heard" : `heard ${formatAgo(heardS)}`);

  // Contact and the session timer ("paused" during a bridged break, per the clinical rules).
  let contactText;
  let contactKey;
  if (noData || noWrap || tile.contact == null) {
    contactText = "Unknown";
    contactKey = "unknown";
  } else if (tile.contact) {
    contactText = "In contact";
    contactKey = "on";
  } else if (tile.session_state === "paused") {
    contactText = "Break · paused";
    contactKey = "paused";
  } else {
    contactText = "No contact";
    contactKey = "off";
  }
  el.dataset.contact = contactKey;
  setText(el.querySelector(".contact-text"), contactText);
  const session = tile.session_state === "none" ? 0 : tile.session_s + (running ? dt : 0);
  const sessionEl = el.querySelector(".session-time");
  setText(sessionEl, tile.session_state === "none" ? "—" : formatDuration(session));
  sessionEl.setAttribute("datetime", isoDuration(session));
  const today = tile.contact_today_s + (tile.contact === true && !noData ? dt : 0);
  const todayEl = el.querySelector(".today-time");
  setText(todayEl, formatDuration(today));
  todayEl.setAttribute("datetime", isoDuration(today));
  const goal = tile.daily_goal_s;
  setText(el.querySelector(".goal"), goal ? `goal ${formatDuration(goal)}` : "no goal set");
  const pct = goal ? Math.min(100, (100 * today) / goal) : 0;
  el.querySelector(".goal-fill").style.width = `${pct.toFixed(1)}%`;

  // Battery and signal: shape and number, never colour alone; the threshold is the ward's.
  const batt = tile.battery_pct;
  const low = batt != null && batt < settings.clinical.low_battery_pct;
  el.querySelector(".battery-fill").style.width = batt == null ? "0%" : `${Math.max(0, Math.min(100, batt))}%`;
  el.querySelector(".battery").classList.toggle("is-low", low);
  setText(el.querySelector(".battery-text"), batt == null ? "—" : `${Math.round(batt)} %${low ? " low" : ""}`);
  const rssi = tile.rssi_dbm;
  const bars = rssi == null ? 0 : rssi >= -60 ? 4 : rssi >= -70 ? 3 : rssi >= -80 ? 2 : rssi >= -90 ? 1 : 0;
  el.querySelector(".bars").dataset.bars = String(bars);
  // A source without radio strength (a replay, the simulator) says nothing rather than "no signal".
  el.querySelector(".signal").hidden = rssi == null;
  setText(el.querySelector(".signal-text"), rssi == null ? "" : `${Math.round(rssi)} dBm`);

  renderTileAlarms(entry, alarms);
  el.setAttribute(
    "aria-label",
    `${tile.label || tile.bed_id}${tile.display_name ? " " + tile.display_name : ""}: ${formatTemp(tile.temperature_c)}, ${band.name}, ${contactText}`,
  );
}

/** Shrink a name that does not fit in two lines (down to 60 %), never cut it. */
function fitName(el) {
  el.style.removeProperty("--name-k");
  if (!el.isConnected || !el.textContent) return;
  const lineH = () => parseFloat(getComputedStyle(el).lineHeight) || parseFloat(getComputedStyle(el).fontSize) * 1.1;
  for (let k = 0.9; k >= 0.6 && (el.scrollHeight > 2 * lineH() + 1 || el.scrollWidth > el.clientWidth + 1); k -= 0.1) {
    el.style.setProperty("--name-k", k.toFixed(2));
  }
}

function fitNames() {
  for (const el of grid.querySelectorAll(".baby-name")) fitName(el);
}

// --- the grid ---------------------------------------------------------------------------------
let page = 0;
let pages = 1;
let perPage = Infinity;
let pageTimer = null;

/** The best grid for `n` tiles in a `w` × `h` box: the columns and rows whose tiles are largest
 *  at the tiles' own proportions (scale 1 is TILE_W × TILE_H). */
function bestGrid(n, w, h, gap) {
  let best = { cols: 1, rows: n, scale: 0 };
  for (let cols = 1; cols <= Math.max(1, n); cols += 1) {
    const rows = Math.ceil(n / cols);
    const tw = (w - gap * (cols - 1)) / cols;
    const th = (h - gap * (rows - 1)) / rows;
    const scale = Math.min(tw / TILE_W, th / TILE_H);
    if (scale > best.scale) best = { cols, rows, scale, tw, th };
  }
  return best;
}

/** Size the grid to the beds and the screen; page when one screen cannot hold them legibly. */
export function layout() {
  const n = grid.children.length;
  if (!n) return;
  const style = getComputedStyle(grid);
  const gap = parseFloat(style.columnGap) || 0;
  const w = grid.clientWidth - parseFloat(style.paddingLeft) - parseFloat(style.paddingRight);
  const h = grid.clientHeight - parseFloat(style.paddingTop) - parseFloat(style.paddingBottom);
  if (w <= 0 || h <= 0) return;
  let fit = bestGrid(n, w, h, gap);
  perPage = n;
  if (fit.scale < MIN_SCALE) {
    // The most tiles one screen shows legibly: pages of that many.
    perPage = 1;
    for (let k = n - 1; k >= 1; k -= 1) {
      if (bestGrid(k, w, h, gap).scale >= MIN_SCALE) {
        perPage = k;
        break;
      }
    }
    fit = bestGrid(perPage, w, h, gap);
  }
  pages = Math.ceil(n / perPage);
  if (page >= pages) page = 0;
  if (pages > 1 && pageTimer === null) {
    pageTimer = setInterval(() => {
      page = (page + 1) % pages;
      showPage();
    }, PAGE_MS);
  } else if (pages <= 1 && pageTimer !== null) {
    clearInterval(pageTimer);
    pageTimer = null;
  }
  grid.style.setProperty("--cols", String(fit.cols));
  grid.style.setProperty("--rows", String(fit.rows));
  grid.style.setProperty("--u", Math.min(MAX_SCALE, fit.scale).toFixed(4));
  grid.dataset.cols = String(fit.cols);
  grid.dataset.rows = String(fit.rows);
  // Below this scale a 44 px alarm line no longer fits beside everything else (ward.css).
  grid.toggleAttribute("data-compact", fit.scale < 0.9);
  showPage();
  fitNames();
}

function showPage() {
  [...grid.children].forEach((el, i) => {
    el.hidden = pages > 1 && Math.floor(i / perPage) !== page;
  });
  renderPager();
}

/** The pager: one button per page, marked with the most urgent alarm it holds. */
export function renderPager() {
  const nav = $("pager");
  nav.hidden = pages <= 1;
  if (pages <= 1) {
    nav.replaceChildren();
    return;
  }
  const rank = { high: 3, medium: 2, low: 1, none: 0 };
  const buttons = [];
  const children = [...grid.children];
  for (let p = 0; p < pages; p += 1) {
    const tiles = children.slice(p * perPage, (p + 1) * perPage);
    const worst = tiles.map((t) => t.dataset.alarm || "none").sort((a, b) => rank[b] - rank[a])[0] || "none";
    const b = document.createElement("button");
    b.type = "button";
    b.className = "page-button";
    b.dataset.page = String(p);
    b.dataset.alarm = worst;
    b.setAttribute("aria-current", String(p === page));
    b.textContent = `Page ${p + 1}${worst !== "none" ? " " + { high: "!!!", medium: "!!", low: "!" }[worst] : ""}`;
    b.addEventListener("click", () => {
      page = p;
      showPage();
    });
    buttons.push(b);
  }
  nav.replaceChildren(...buttons);
}

// --- sparkline --------------------------------------------------------------------------------
const SVG = "http://www.w3.org/2000/svg";

function svg(name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function drawSpark(bedId, bins) {
  const entry = ward.beds.get(bedId);
  if (!entry) return;
  const box = entry.el.querySelector(".spark");
  const W = 400;
  const H = 60;
  const c = settings.clinical;
  const endUs = ward.clock.nowUs();
  const startUs = endUs - SPARK_HOURS * 3600 * US;
  const x = (us) => ((us - startUs) / (endUs - startUs)) * W;
  const y = (t) => H - ((Math.min(SPARK_MAX_C, Math.max(SPARK_MIN_C, t)) - SPARK_MIN_C) / (SPARK_MAX_C - SPARK_MIN_C)) * H;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", class: "spark-svg" });
  const recent = bins.filter((b) => b.start_us + 60 * US >= startUs);
  const binW = Math.max(1, (60 * US * W) / (endUs - startUs));
  for (const b of recent) {
    if (b.contact_fraction != null && b.contact_fraction >= c.contact_first) {
      s.append(svg("rect", { x: x(b.start_us).toFixed(1), y: 0, width: binW.toFixed(1), height: H, class: "spark-contact" }));
    }
  }
  // The normal band, as the ward's settings set it, as a faint reference strip.
  const top = y(c.hyperthermia_above_c);
  s.append(svg("rect", { x: 0, y: top.toFixed(1), width: W, height: (y(c.cold_stress_below_c) - top).toFixed(1), class: "spark-normal" }));
  let d = "";
  let pen = false;
  let prevEnd = null;
  let gaps = 0;
  for (const b of recent) {
    // A detached or settling minute is not the baby's temperature: a hatched gap, no line.
    const unjudged = (b.unjudged_fraction || 0) > 0;
    if (unjudged) {
      gaps += 1;
      s.append(svg("rect", { x: x(b.start_us).toFixed(1), y: 0, width: binW.toFixed(1), height: H, class: "spark-unjudged" }));
    }
    if (unjudged || b.temp_median_c == null || (prevEnd != null && b.start_us - prevEnd > 2 * 60 * US)) pen = false;
    if (unjudged || b.temp_median_c == null) continue;
    d += `${pen ? "L" : "M"}${x(b.start_us + 30 * US).toFixed(1)},${y(b.temp_median_c).toFixed(1)} `;
    pen = true;
    prevEnd = b.start_us + 60 * US;
  }
  if (d) s.append(svg("path", { d, class: "spark-line", "vector-effect": "non-scaling-stroke" }));
  box.replaceChildren(s);
  box.dataset.bins = String(recent.length);
  box.dataset.gaps = String(gaps);
}

export async function loadTrend(bedId) {
  clearTimeout(trendTimers.get(bedId));
  try {
    const t = await api(`/api/beds/${encodeURIComponent(bedId)}/trend`);
    drawSpark(bedId, t.bins || []);
  } catch (err) {
    // A missing chart is not worth an alarm-like banner on a wall screen; the tile says it.
    const entry = ward.beds.get(bedId);
    if (entry) entry.el.querySelector(".spark").dataset.error = err.message;
    if (err.signedOut) hooks.onApiError(err);
  }
  // Spread the beds' refreshes over the minute rather than all at once.
  trendTimers.set(bedId, setTimeout(() => loadTrend(bedId), SPARK_REFRESH_MS + Math.random() * 5000));
}

export function reloadTrends() {
  for (const id of ward.beds.keys()) loadTrend(id);
}

// The grid's box changes with the window and with the bars above it (a lead alarm on two lines, a
// banner appearing): every change re-fits the tiles, so none is ever cut off.
new ResizeObserver(() => layout()).observe(grid);
