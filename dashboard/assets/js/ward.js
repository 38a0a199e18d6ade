// The ward screen (/ward): a tile per bed, the alarm list, audio, and the stream's health.
//
// State comes from /ws/ward (snapshot, then updates merged by bed_id, and alarm events) and from
// the REST API (alarm details, the sparkline's trend, what this screen sounds). Rendering is plain
// DOM updates of elements cloned once from <template id="tile-template">; a one-second tick moves
// the timers and "heard N s ago" forward on the *server's* clock between messages.
import {
  ALARM_STATE_NAMES,
  PRIORITY_MARKS,
  PRIORITY_NAMES,
  PRIORITY_RANK,
  ServerClock,
  WardStream,
  alarmKindName,
  api,
  bandInfo,
  compareAlarms,
  formatAgo,
  formatDuration,
  formatHoursMinutes,
  formatSpan,
  formatTemp,
  isoDuration,
  showError,
} from "./common.js";

const US = 1e6;
/** Timers are carried forward between messages for at most this long: a silent server must not
 * make a session look like it is still running. */
const MAX_EXTRAPOLATE_S = 10;
/** The sparkline shows this many hours (the trend has 24 h of one-minute bins). */
const SPARK_HOURS = 4;
const SPARK_REFRESH_MS = 60_000;
/** Temperature axis of the sparkline (°C): the WHO bands that matter, clamped. */
const SPARK_MIN_C = 32;
const SPARK_MAX_C = 39;
/** How often the screen re-asks what it sounds even without events (pause end, escalation). */
const AUDIO_POLL_MS = 5000;

const $ = (id) => document.getElementById(id);

// --- state --------------------------------------------------------------------------------------
const clock = new ServerClock();
/** bed_id → {tile, asOfUs, el} */
const beds = new Map();
/** alarm_id → alarm_json: details (raised_us, bed_id, acknowledged_by) the tiles do not carry. */
const alarmDetails = new Map();
let alarmFetch = null;
let streamState = "connecting";
/** Whether the stream was ever lost: coming back then reloads the sparklines (minutes missed). */
let lostOnce = false;

function screenId() {
  // Stable per browser: the server keeps each screen's audio pause by this id. Not a secret.
  const key = "kmc.ward.screen_id";
  let id = null;
  try {
    id = localStorage.getItem(key);
    if (!id) {
      const bytes = crypto.getRandomValues(new Uint8Array(6));
      id = "ward-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      localStorage.setItem(key, id);
    }
  } catch {
    id = id || "ward-screen"; // storage disabled: one shared id is still a working screen
  }
  return id;
}
const SCREEN_ID = screenId();

// --- tiles --------------------------------------------------------------------------------------
const template = $("tile-template");
const grid = $("beds");

function tileElement(bedId) {
  const entry = beds.get(bedId);
  if (entry && entry.el) return entry.el;
  const el = template.content.firstElementChild.cloneNode(true);
  el.dataset.bedId = bedId;
  el.querySelector(".tile-link").href = `/bed/${encodeURIComponent(bedId)}`;
  el.addEventListener("click", onAckClick);
  return el;
}

function sortBeds() {
  const order = [...beds.values()].sort(
    (a, b) => (a.tile.position ?? 0) - (b.tile.position ?? 0) || String(a.tile.bed_id).localeCompare(b.tile.bed_id),
  );
  order.forEach((e, i) => {
    if (grid.children[i] !== e.el) grid.insertBefore(e.el, grid.children[i] || null);
  });
  while (grid.children.length > order.length) grid.lastElementChild.remove();
  grid.dataset.count = String(order.length);
}

function mergeTile(tile, asOfUs) {
  const prev = beds.get(tile.bed_id);
  const el = prev ? prev.el : tileElement(tile.bed_id);
  const entry = { tile, asOfUs, el };
  beds.set(tile.bed_id, entry);
  if (!prev) {
    sortBeds();
    loadTrend(tile.bed_id);
  } else if (prev.tile.position !== tile.position) {
    sortBeds();
  }
  if (prev && prev.tile.wrap_id !== tile.wrap_id) loadTrend(tile.bed_id);
  renderTile(entry);
}

/** Seconds since the tile's values were computed, by the server's clock, capped. */
function elapsedS(entry) {
  const s = (clock.nowUs() - entry.asOfUs) / US;
  return Math.min(MAX_EXTRAPOLATE_S, Math.max(0, s));
}

function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

function renderTile(entry) {
  const { tile, el } = entry;
  const band = bandInfo(tile);
  const noData = tile.judging === "no data";
  const noWrap = tile.judging === "no wrap";
  const dt = elapsedS(entry);
  const running = tile.session_state === "running" && tile.contact === true;

  setText(el.querySelector(".bed-label"), tile.label || tile.bed_id);
  setText(el.querySelector(".baby-name"), tile.display_name || (tile.admission_id == null ? "No baby admitted" : ""));

  // Temperature: the band's colour only when judged; otherwise neutral grey and the reason in words.
  el.dataset.band = band.key;
  const hasTemp = !noWrap && tile.temperature_c != null && Number.isFinite(tile.temperature_c);
  setText(el.querySelector(".temp-value"), hasTemp ? tile.temperature_c.toFixed(1) : "—");
  el.querySelector(".temp-unit").hidden = !hasTemp;
  setText(el.querySelector(".band-name"), band.name);
  el.classList.toggle("is-stale", noData);
  el.classList.toggle("is-nowrap", noWrap);
  const heardS = tile.last_heard_us == null ? null : (clock.nowUs() - tile.last_heard_us) / US;
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
  setText(todayEl, formatHoursMinutes(today));
  todayEl.setAttribute("datetime", isoDuration(today));
  const goal = tile.daily_goal_s;
  setText(el.querySelector(".goal"), goal ? `of ${formatSpan(goal).replace(" 00 min", "")} goal` : "no goal set");
  const pct = goal ? Math.min(100, (100 * today) / goal) : 0;
  el.querySelector(".goal-fill").style.width = `${pct.toFixed(1)}%`;

  // Battery and signal: shape and number, never colour alone.
  const batt = tile.battery_pct;
  el.querySelector(".battery-fill").style.width = batt == null ? "0%" : `${Math.max(0, Math.min(100, batt))}%`;
  el.querySelector(".battery").classList.toggle("is-low", batt != null && batt < 20);
  setText(el.querySelector(".battery-text"), batt == null ? "—" : `${Math.round(batt)} %${batt < 20 ? " low" : ""}`);
  const rssi = tile.rssi_dbm;
  const bars = rssi == null ? 0 : rssi >= -60 ? 4 : rssi >= -70 ? 3 : rssi >= -80 ? 2 : rssi >= -90 ? 1 : 0;
  el.querySelector(".bars").dataset.bars = String(bars);
  // A source without radio strength (a replay, the simulator) says nothing rather than "no signal".
  el.querySelector(".signal").hidden = rssi == null;
  setText(el.querySelector(".signal-text"), rssi == null ? "" : `${Math.round(rssi)} dBm`);

  renderTileAlarms(entry);
  el.setAttribute(
    "aria-label",
    `${tile.label || tile.bed_id}: ${formatTemp(tile.temperature_c)}, ${band.name}, ${contactText}`,
  );
}

function alarmAgeS(a) {
  return a.raised_us == null ? null : (clock.nowUs() - a.raised_us) / US;
}

/** "HIGH · Severe hypothermia · 2 min" (the age left out where it goes on a second line). */
function alarmText(a, withAge = true) {
  const parts = [PRIORITY_NAMES[a.priority] || String(a.priority).toUpperCase(), alarmKindName(a.kind)];
  const age = alarmAgeS(a);
  if (withAge && age != null) parts.push(formatSpan(age));
  return parts.join(" · ");
}

function alarmStateText(a) {
  const bits = [];
  if (a.escalated_us != null) bits.push("escalated");
  if (a.state === "acknowledged") {
    bits.push(a.acknowledged_by ? `acknowledged by ${a.acknowledged_by}` : "acknowledged");
  } else if (a.state === "latched") {
    bits.push("ended · acknowledge to clear");
  } else if (a.state !== "active") {
    bits.push(ALARM_STATE_NAMES[a.state] || a.state);
  }
  return bits.join(" · ");
}

function isAudible(a) {
  return a.state === "active" || a.state === "latched";
}

/**
 * One alarm as a list item (tile and top list share it): mark, words, acknowledge button. Items are
 * updated in place, never rebuilt each second: a nurse's click must not land on a replaced button,
 * and an alarm's colour must not blink off between two renders.
 */
function alarmItem(li, a, { where = "", compact = false } = {}) {
  if (!li) {
    li = document.createElement("li");
    const mark = document.createElement("span");
    mark.className = "alarm-mark";
    mark.setAttribute("aria-hidden", "true");
    const text = document.createElement("span");
    text.className = "alarm-text";
    const sub = document.createElement("span");
    sub.className = "alarm-sub";
    li.append(mark, text, sub);
  }
  const cls = `alarm prio-${a.priority} state-${a.state}`;
  if (li.className !== cls) li.className = cls;
  li.dataset.alarmId = String(a.alarm_id);
  li.dataset.priority = a.priority;
  li.dataset.state = a.state;
  setText(li.querySelector(".alarm-mark"), PRIORITY_MARKS[a.priority] || "!");
  // The top list says it all: priority and condition, then where, how long, who acknowledged it.
  // A tile, narrower, shows the condition beside the priority's colour and mark (!!!, !!, !).
  setText(li.querySelector(".alarm-text"), compact ? alarmKindName(a.kind) : alarmText(a, false));
  const state = alarmStateText(a);
  const age = alarmAgeS(a);
  const subText = compact
    ? ""
    : [where, age == null ? "" : formatSpan(age), state, a.detail].filter(Boolean).join(" · ");
  const sub = li.querySelector(".alarm-sub");
  setText(sub, subText);
  sub.hidden = !subText;
  if (compact) li.title = [alarmText(a), state].filter(Boolean).join(" · ");
  const audible = isAudible(a);
  let action = li.querySelector(".ack, .acked");
  if (!action || action.classList.contains("ack") !== audible) {
    let fresh;
    if (audible) {
      fresh = document.createElement("button");
      fresh.type = "button";
      fresh.className = "ack";
      fresh.textContent = "Ack"; // the nurses' word; the full name is its accessible label
    } else {
      fresh = document.createElement("span");
      fresh.className = "acked";
      fresh.textContent = "✓ Ack'd";
    }
    if (action) action.replaceWith(fresh);
    else li.append(fresh);
    action = fresh;
  }
  if (audible) {
    action.dataset.ack = String(a.alarm_id);
    action.setAttribute("aria-label", `Acknowledge ${alarmText(a)}${where ? " at " + where : ""}`);
  }
  return li;
}

/** Make `container`'s children the items of `list` (in order), reusing those with the same id. */
function syncAlarmItems(container, list, opts, extra = []) {
  const old = new Map();
  for (const child of container.children) if (child.dataset.alarmId) old.set(child.dataset.alarmId, child);
  const items = list.map((a) => alarmItem(old.get(String(a.alarm_id)), a, opts(a)));
  const all = [...items, ...extra];
  all.forEach((item, i) => {
    if (container.children[i] !== item) container.insertBefore(item, container.children[i] || null);
  });
  while (container.children.length > all.length) container.lastElementChild.remove();
}

/** A tile's alarms: its own list (state, priority) with the details the alarm map knows. */
function tileAlarms(tile) {
  const list = (tile.alarms || []).map((a) => ({ ...(alarmDetails.get(a.alarm_id) || {}), ...a }));
  if (list.some((a) => !alarmDetails.has(a.alarm_id))) fetchAlarms();
  return list.sort(compareAlarms);
}

function renderTileAlarms(entry) {
  const { tile, el } = entry;
  const list = tileAlarms(tile);
  const ul = el.querySelector(".tile-alarms");
  // One alarm per tile (the most urgent), and how many more: the list across the top has them all.
  let more = ul.querySelector(".alarm-more-tile");
  if (list.length > 1) {
    if (!more) {
      more = document.createElement("li");
      more.className = "alarm-more-tile";
    }
    setText(more, `+${list.length - 1}`);
    more.title = list.slice(1).map(alarmText).join("; ");
  }
  syncAlarmItems(ul, list.slice(0, 1), () => ({ compact: true }), list.length > 1 ? [more] : []);
  el.classList.toggle("has-alarms", list.length > 0);
  const top = list[0];
  el.dataset.alarm = top ? top.priority : "none";
  // Flash only while someone must act: an unacknowledged (active or latched) alarm.
  el.classList.toggle("alarm-unacked", list.some(isAudible));
  const topAudible = list.filter(isAudible).sort(compareAlarms)[0];
  el.dataset.alarmAudible = topAudible ? topAudible.priority : "none";
}

// --- the alarm list -----------------------------------------------------------------------------
function visibleAlarms() {
  // The tiles carry each bed's visible alarms with their current state; the map adds details and
  // alarms without a bed (a wrap on no bed). Cleared alarms are gone from both.
  const seen = new Map();
  for (const { tile } of beds.values()) {
    for (const a of tile.alarms || []) {
      seen.set(a.alarm_id, { ...(alarmDetails.get(a.alarm_id) || { bed_id: tile.bed_id }), ...a });
    }
  }
  for (const a of alarmDetails.values()) {
    if (!seen.has(a.alarm_id) && a.bed_id == null && a.state !== "cleared") seen.set(a.alarm_id, a);
  }
  return [...seen.values()].sort(compareAlarms);
}

function whereText(a) {
  // No bed and no wrap: an alarm about the whole ward (the database refusing to save).
  if (a.bed_id == null) return a.wrap_id ? `Wrap ${a.wrap_id} (no bed)` : "Ward";
  const entry = beds.get(a.bed_id);
  if (!entry) return a.bed_id;
  const t = entry.tile;
  return [t.label || t.bed_id, t.display_name].filter(Boolean).join(" · ");
}

function renderAlarmList() {
  const list = visibleAlarms();
  const ol = $("alarm-list");
  // As many as fit in one row of the bar (its columns), the last slot saying how many more.
  const cols = Math.max(1, getComputedStyle(ol).gridTemplateColumns.split(" ").filter(Boolean).length);
  const shown = list.length > cols ? list.slice(0, cols - 1) : list;
  syncAlarmItems(ol, shown, (a) => ({ where: whereText(a) }));
  $("alarm-none").hidden = list.length > 0;
  const more = $("alarm-more");
  more.hidden = list.length <= shown.length;
  const rest = list.slice(shown.length);
  if (rest.length) {
    const counts = ["high", "medium", "low"]
      .map((p) => [p, rest.filter((a) => a.priority === p).length])
      .filter(([, n]) => n)
      .map(([p, n]) => `${n} ${PRIORITY_NAMES[p]}`);
    setText(more, `+${rest.length} more (${counts.join(", ")})`);
    more.dataset.priority = rest[0].priority;
  }
  document.body.dataset.alarm = list.length ? list[0].priority : "none";
}

function fetchAlarms() {
  if (alarmFetch) return alarmFetch;
  alarmFetch = api("/api/alarms")
    .then((list) => {
      for (const a of list) alarmDetails.set(a.alarm_id, a);
      renderAll();
    })
    .catch(onApiError)
    .finally(() => {
      // At most one request at a time, and not more than every 2 s when ids keep being unknown.
      setTimeout(() => (alarmFetch = null), 2000);
    });
  return alarmFetch;
}

async function acknowledge(alarmId, button) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = "…";
  try {
    const a = await api(`/api/alarms/${encodeURIComponent(alarmId)}/ack`, { method: "POST" });
    alarmDetails.set(a.alarm_id, a);
    // Reflect it at once; the stream's next tile update confirms it.
    for (const entry of beds.values()) {
      const t = entry.tile.alarms && entry.tile.alarms.find((x) => x.alarm_id === a.alarm_id);
      if (t) {
        t.state = a.state;
        t.priority = a.priority;
      }
    }
    renderAll();
    refreshAudio();
  } catch (err) {
    button.disabled = false;
    button.textContent = label;
    onApiError(err);
  }
}

function onAckClick(ev) {
  const button = ev.target.closest("button[data-ack]");
  if (!button) return;
  ev.preventDefault();
  acknowledge(Number(button.dataset.ack), button);
}
$("alarm-list").addEventListener("click", onAckClick);

// --- sparkline ------------------------------------------------------------------------------------
const SVG = "http://www.w3.org/2000/svg";
const trendTimers = new Map();

function svg(name, attrs) {
  const el = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function drawSpark(bedId, bins) {
  const entry = beds.get(bedId);
  if (!entry) return;
  const box = entry.el.querySelector(".spark");
  const W = 400;
  const H = 60;
  const endUs = clock.nowUs();
  const startUs = endUs - SPARK_HOURS * 3600 * US;
  const x = (us) => ((us - startUs) / (endUs - startUs)) * W;
  const y = (c) => H - ((Math.min(SPARK_MAX_C, Math.max(SPARK_MIN_C, c)) - SPARK_MIN_C) / (SPARK_MAX_C - SPARK_MIN_C)) * H;
  const s = svg("svg", { viewBox: `0 0 ${W} ${H}`, preserveAspectRatio: "none", class: "spark-svg" });
  const recent = bins.filter((b) => b.start_us + 60 * US >= startUs);
  const binW = Math.max(1, (60 * US * W) / (endUs - startUs));
  // Contact shaded first, under everything.
  for (const b of recent) {
    if (b.contact_fraction != null && b.contact_fraction >= 0.5) {
      s.append(svg("rect", { x: x(b.start_us).toFixed(1), y: 0, width: binW.toFixed(1), height: H, class: "spark-contact" }));
    }
  }
  // The normal band (36.5–37.5 °C) as a faint reference strip.
  s.append(svg("rect", { x: 0, y: y(37.5).toFixed(1), width: W, height: (y(36.5) - y(37.5)).toFixed(1), class: "spark-normal" }));
  let d = "";
  let pen = false;
  let prevEnd = null;
  for (const b of recent) {
    if (b.temp_median_c == null || (prevEnd != null && b.start_us - prevEnd > 2 * 60 * US)) pen = false;
    if (b.temp_median_c == null) continue;
    d += `${pen ? "L" : "M"}${x(b.start_us + 30 * US).toFixed(1)},${y(b.temp_median_c).toFixed(1)} `;
    pen = true;
    prevEnd = b.start_us + 60 * US;
  }
  if (d) s.append(svg("path", { d, class: "spark-line", "vector-effect": "non-scaling-stroke" }));
  box.replaceChildren(s);
  box.dataset.bins = String(recent.length);
}

async function loadTrend(bedId) {
  clearTimeout(trendTimers.get(bedId));
  try {
    const t = await api(`/api/beds/${encodeURIComponent(bedId)}/trend`);
    drawSpark(bedId, t.bins || []);
  } catch (err) {
    // A missing chart is not worth an alarm-like banner on a wall screen; the tile says it.
    const entry = beds.get(bedId);
    if (entry) entry.el.querySelector(".spark").dataset.error = err.message;
    if (err.signedOut) onApiError(err);
  }
  // Spread the beds' refreshes over the minute rather than twelve requests at once.
  trendTimers.set(bedId, setTimeout(() => loadTrend(bedId), SPARK_REFRESH_MS + Math.random() * 5000));
}

// --- sound ----------------------------------------------------------------------------------------
// IEC 60601-1-8-like burst patterns, made with Web Audio (no audio files): high two bursts of five
// tones, medium three, low one. A browser only plays sound after a click, so the screen says when
// sound is off.
const PATTERNS = {
  high: { hz: 880, tone: 0.12, gap: 0.08, bursts: [5, 5], burstGap: 0.45, repeatS: 8 },
  medium: { hz: 660, tone: 0.18, gap: 0.12, bursts: [3], burstGap: 0, repeatS: 15 },
  low: { hz: 520, tone: 0.25, gap: 0, bursts: [1], burstGap: 0, repeatS: 0 }, // once per alarm
};

class AlarmSound {
  constructor() {
    this.ctx = null;
    this.sounding = null;
    this.nextAt = 0;
    this.played = new Set();
    setInterval(() => this._due(), 250);
  }
  get enabled() {
    return this.ctx !== null && this.ctx.state === "running";
  }
  async enable() {
    if (!this.ctx) this.ctx = new AudioContext();
    if (this.ctx.state !== "running") await this.ctx.resume();
  }
  /** What the server says this screen sounds now (alarm_json or null). */
  set(alarm) {
    const before = this.sounding;
    this.sounding = alarm;
    if (alarm && (!before || before.alarm_id !== alarm.alarm_id || before.priority !== alarm.priority)) {
      this.nextAt = 0; // a new or escalated alarm sounds at once
    }
  }
  _due() {
    const a = this.sounding;
    if (!a || !this.enabled || performance.now() < this.nextAt) return;
    const p = PATTERNS[a.priority];
    if (!p) return;
    const key = `${a.alarm_id}:${a.priority}`;
    if (p.repeatS === 0 && this.played.has(key)) return;
    this.played.add(key);
    this.play(a.priority);
    this.nextAt = performance.now() + (p.repeatS || 3600) * 1000;
  }
  play(priority) {
    const p = PATTERNS[priority];
    if (!p || !this.ctx) return;
    const ctx = this.ctx;
    let t = ctx.currentTime + 0.05;
    for (const n of p.bursts) {
      for (let i = 0; i < n; i += 1) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = "triangle";
        osc.frequency.value = p.hz;
        // Short ramps: a click-free tone edge.
        gain.gain.setValueAtTime(0, t);
        gain.gain.linearRampToValueAtTime(0.35, t + 0.015);
        gain.gain.setValueAtTime(0.35, t + p.tone - 0.02);
        gain.gain.linearRampToValueAtTime(0, t + p.tone);
        osc.connect(gain).connect(ctx.destination);
        osc.start(t);
        osc.stop(t + p.tone + 0.01);
        t += p.tone + p.gap;
      }
      t += p.burstGap;
    }
  }
}
const sound = new AlarmSound();

function renderSoundButton() {
  const b = $("sound-enable");
  const on = sound.enabled;
  b.setAttribute("aria-pressed", String(on));
  b.classList.toggle("is-on", on);
  setText($("sound-text"), on ? "Sound on" : "Sound off: click to enable");
  b.disabled = on;
}

$("sound-enable").addEventListener("click", async () => {
  try {
    await sound.enable();
  } catch (err) {
    showError(`Sound could not be enabled: ${err.message}`);
  }
  renderSoundButton();
  refreshAudio();
});

// --- audio pause ----------------------------------------------------------------------------------
let pauseDeadline = null; // performance.now() ms when this screen's pause ends, or null
let audioRequest = null;
let audioAgain = false;

function applyAudio(state) {
  if (!state) return;
  if (state.paused_until_us == null) {
    pauseDeadline = null;
  } else {
    // The server says how much is left; counting down on the monotonic clock avoids clock skew.
    const remaining = typeof state.remaining_s === "number" ? state.remaining_s * 1000 : (state.paused_until_us - clock.nowUs()) / 1000;
    pauseDeadline = performance.now() + Math.max(0, remaining);
  }
  sound.set(state.sounding || null);
  document.body.dataset.sounding = state.sounding ? state.sounding.priority : "none";
  renderPause();
}

/** Ask the server what this screen sounds (after every alarm event, pause, ack; and every 5 s). */
function refreshAudio() {
  if (audioRequest) {
    audioAgain = true; // one more after the one in flight: it may predate the event
    return;
  }
  audioRequest = api(`/api/screens/${encodeURIComponent(SCREEN_ID)}/audio`)
    .then(applyAudio)
    .catch(onApiError)
    .finally(() => {
      audioRequest = null;
      if (audioAgain) {
        audioAgain = false;
        refreshAudio();
      }
    });
}

function renderPause() {
  const b = $("audio-pause");
  const left = pauseDeadline == null ? 0 : (pauseDeadline - performance.now()) / 1000;
  if (pauseDeadline != null && left <= 0) {
    pauseDeadline = null;
    refreshAudio(); // the pause ran out: what sounds now is the server's to say
  }
  const paused = pauseDeadline != null;
  b.classList.toggle("is-paused", paused);
  b.setAttribute("aria-pressed", String(paused));
  setText($("audio-pause-text"), paused ? `Audio paused ${formatDuration(Math.ceil(left))}` : "Pause audio 2 min");
}

$("audio-pause").addEventListener("click", async () => {
  const b = $("audio-pause");
  b.disabled = true;
  try {
    applyAudio(await api(`/api/screens/${encodeURIComponent(SCREEN_ID)}/pause`, { method: "POST" }));
  } catch (err) {
    onApiError(err);
  } finally {
    b.disabled = false;
  }
});

// --- the stream -----------------------------------------------------------------------------------
function onSnapshot(msg) {
  clock.sync(msg.now_us);
  if (msg.ward_name) {
    setText($("ward-name"), msg.ward_name);
    document.title = `${msg.ward_name} · kmc-monitor`;
  }
  const ids = new Set((msg.beds || []).map((t) => t.bed_id));
  for (const [id, entry] of beds) {
    if (!ids.has(id)) {
      entry.el.remove();
      beds.delete(id);
      clearTimeout(trendTimers.get(id));
    }
  }
  for (const tile of msg.beds || []) mergeTile(tile, msg.now_us);
  sortBeds();
  renderUnassigned(msg.unassigned_wraps);
  // A snapshot replaces everything, alarm details included (what happened while away is unknown).
  alarmDetails.clear();
  alarmFetch = null;
  fetchAlarms();
  refreshAudio();
  renderAll();
}

function onMessage(msg) {
  if (msg.type === "update") {
    clock.sync(msg.now_us);
    for (const tile of msg.beds || []) mergeTile(tile, msg.now_us);
    if (Array.isArray(msg.unassigned_wraps)) renderUnassigned(msg.unassigned_wraps);
    renderAlarmList();
  } else if (msg.type === "alarm") {
    onAlarmEvent(msg);
  }
}

function onAlarmEvent(msg) {
  const a = msg.alarm;
  if (a) {
    if (msg.action === "cleared" || a.state === "cleared") alarmDetails.delete(a.alarm_id);
    else alarmDetails.set(a.alarm_id, a);
    // The event is newer than the tile that carried the alarm: bring the tile's copy up to date so
    // the screen shows it now, not at the bed's next update.
    const entry = a.bed_id != null ? beds.get(a.bed_id) : null;
    if (entry) {
      const list = (entry.tile.alarms || []).filter((x) => x.alarm_id !== a.alarm_id);
      if (a.state !== "cleared") list.push({ alarm_id: a.alarm_id, kind: a.kind, priority: a.priority, state: a.state });
      entry.tile = { ...entry.tile, alarms: list };
      renderTile(entry);
    }
    renderAlarmList();
  }
  // Whatever happened, what this screen sounds is the server's AlarmBoard's decision.
  if (msg.screen_id == null || msg.screen_id === SCREEN_ID || a) refreshAudio();
}

function renderUnassigned(list) {
  const el = $("unassigned");
  if (!Array.isArray(list)) return;
  el.hidden = list.length === 0;
  setText(el, list.length === 1 ? "1 wrap heard on no bed" : `${list.length} wraps heard on no bed`);
}

function onStatus(state, info) {
  streamState = state;
  const box = $("connection");
  box.dataset.state = state;
  document.body.dataset.stream = state;
  const text = {
    connecting: "Connecting…",
    live: "Live",
    lost: "Connection lost: reconnecting…",
    "signed-out": "Signed out",
  }[state];
  setText($("connection-text"), text || state);
  $("signed-out").hidden = state !== "signed-out";
  if (state === "live") {
    // Back after a loss: the sparklines missed minutes too.
    if (info && info.attempt === 0 && lostOnce) for (const id of beds.keys()) loadTrend(id);
  } else if (state === "lost") {
    lostOnce = true;
  }
  renderLost();
}

function renderLost() {
  if (streamState !== "lost") return;
  const since = stream._lostAt;
  if (since) setText($("connection-text"), `Connection lost ${formatSpan((Date.now() - since) / 1000)}: reconnecting…`);
}

function onApiError(err) {
  if (err && err.signedOut) {
    onStatus("signed-out", {});
    return;
  }
  showError(err);
}

// --- the clock tick -------------------------------------------------------------------------------
function renderClock() {
  const d = new Date(clock.nowUs() / 1000);
  setText($("clock"), d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }));
}

function renderAll() {
  for (const entry of beds.values()) renderTile(entry);
  renderAlarmList();
  renderClock();
  renderPause();
  renderSoundButton();
  renderLost();
}

const stream = new WardStream("/ws/ward", { onSnapshot, onMessage, onStatus });
stream.start();
setInterval(renderAll, 1000);
setInterval(refreshAudio, AUDIO_POLL_MS);
window.addEventListener("resize", renderAlarmList);
renderAll();
