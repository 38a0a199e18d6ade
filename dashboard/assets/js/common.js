// Shared code of the staff pages (ward screen, bed detail, report): an ES module, no build step.
//
//   import { api, ApiError, showError, WardStream, ServerClock, formatDuration, bandInfo } from
//     "/assets/js/common.js";
//
// The one copy of the clinical names, the ranking of alarms, the formatters (durations, ward
// time) and the API helpers: every page imports them from here.
//
// Everything here is page-agnostic: it knows the service's HTTP/WebSocket API and the clinical
// vocabulary (band and alarm names), never a page's DOM beyond the error region it is handed.
// Strict CSP: no inline script or style anywhere; styles are set through classes or `el.style.x`.
"use strict";

// ---------------------------------------------------------------------------------------------
// Clinical vocabulary: always print the band's name in words (colour alone tells nothing to a
// colour-blind nurse or on a washed-out screen). The words and the band limits are the service's
// (GET /api/vocabulary, from the rule parameters in effect): a page calls `loadVocabulary()` once
// before it renders, which fills the tables below in place. If the service does not answer, the
// page says so on screen and prints the states as the API spells them ("cold_stress").

/** WHO temperature bands, in the API's spelling, with the words a screen prints. */
export const BAND_NAMES = {};
/** Why a tile's temperature is not judged (`judging` when `band` is null). */
export const JUDGING_NAMES = {};
/** IEC 60601-1-8 priorities: rank (larger is more urgent), word, and the mark beside the colour
 *  (the priority is never told by colour alone). */
export const PRIORITY_RANK = {};
export const PRIORITY_NAMES = {};
export const PRIORITY_MARKS = {};
/** The alarm catalogue of clinical-rules.md, in words. */
export const ALARM_KIND_NAMES = {};
export const ALARM_STATE_NAMES = {};
/** The session timer's states in words. */
export const SESSION_STATE_NAMES = {};
/** Technical alarms (IEC 60601-1-8): about the equipment, kept apart from the patient's. */
export const TECHNICAL_KINDS = new Set();
/** What was loaded: `thresholds` (the chart's band limits, °C) and `bands` (name, label, limits). */
export const vocabulary = { loaded: false, error: null, thresholds: null, bands: [] };

/** The priorities' order if the vocabulary could not be loaded: the alarm ranking must still put
 *  a high-priority alarm first (IEC 60601-1-8 fixes this order; the words come from the service). */
const FALLBACK_RANK = Object.freeze({ high: 3, medium: 2, low: 1 });

function fillVocabulary(v) {
  for (const b of v.bands) BAND_NAMES[b.name] = b.label;
  for (const j of v.judging) JUDGING_NAMES[j.name] = j.label;
  for (const p of v.priorities) {
    PRIORITY_RANK[p.name] = p.rank;
    PRIORITY_NAMES[p.name] = p.word;
    PRIORITY_MARKS[p.name] = p.mark;
  }
  for (const k of v.alarm_kinds) {
    ALARM_KIND_NAMES[k.name] = k.label;
    if (k.category === "technical") TECHNICAL_KINDS.add(k.name);
  }
  for (const s of v.alarm_states) ALARM_STATE_NAMES[s.name] = s.label;
  for (const s of v.session_states) SESSION_STATE_NAMES[s.name] = s.label;
  vocabulary.thresholds = v.thresholds;
  vocabulary.bands = v.bands;
  vocabulary.loaded = true;
}

/** Say on screen, for as long as the page is open, that the names are not the service's words. */
function vocabularyMissing(err) {
  const box = document.createElement("div");
  box.id = "vocabulary-missing";
  box.className = "errors vocabulary-missing";
  box.setAttribute("role", "alert");
  const p = document.createElement("p");
  p.className = "error";
  p.textContent =
    `The names of bands and alarms could not be loaded from the service (${err.message}): ` +
    "this page prints them as the service spells them (e.g. cold_stress). Reload the page to try again.";
  box.append(p);
  document.body.prepend(box);
}

/**
 * Fetch the ward's vocabulary (once per page) and fill the tables above. Never throws: a page
 * without it still works and says so; a signed-out page is left to its own sign-in handling.
 */
export async function loadVocabulary() {
  if (vocabulary.loaded) return vocabulary;
  try {
    fillVocabulary(await api("/api/vocabulary", { timeoutMs: 5000 }));
  } catch (err) {
    vocabulary.error = err;
    if (!err.signedOut) vocabularyMissing(err);
  }
  return vocabulary;
}

/** A state as the API spells it, readable when the service's words are missing. */
const spelled = (key) => String(key).replace(/_/g, " ");

/**
 * What a tile's temperature means: `{key, name, judged}`. `key` is a band (`normal`, ...) or, when
 * the band is null, `unjudged` — which a page must render in a neutral, never reassuring, colour.
 */
export function bandInfo(tile) {
  if (tile && tile.band) {
    return { key: tile.band, name: BAND_NAMES[tile.band] || spelled(tile.band), judged: true };
  }
  const why = tile && tile.judging;
  return { key: "unjudged", name: JUDGING_NAMES[why] || (why ? spelled(why) : "Not judged"), judged: false };
}

/** The rank of a priority (larger is more urgent); 0 for none. */
export function priorityRank(priority) {
  return PRIORITY_RANK[priority] || FALLBACK_RANK[priority] || 0;
}

/** A priority as tables print it: "High !!!", "Medium !!", "Low !". */
export function priorityLabel(priority) {
  const word = PRIORITY_NAMES[priority];
  if (!word) return priority || "–";
  return `${word[0]}${word.slice(1).toLowerCase()} ${PRIORITY_MARKS[priority]}`;
}

export function alarmKindName(kind) {
  return ALARM_KIND_NAMES[kind] || String(kind || "Alarm").replace(/_/g, " ");
}

/** Whether an alarm is about the equipment rather than the baby. */
export function isTechnical(a) {
  return a.category === "technical" || TECHNICAL_KINDS.has(a.kind);
}

/** 0 for a condition still on and unacknowledged, 1 still on but acknowledged, 2 ended (latched
 *  until acknowledged, or cleared): "active before ended". */
function activity(a) {
  if (a.state === "active") return 0;
  if (a.state === "acknowledged") return 1;
  return 2;
}

/**
 * Alarm order of every screen: active before ended, then higher (effective) priority, then the
 * patient's before the equipment's at equal priority, then newest first. An old acknowledged
 * "sensor detached" must never push an active moderate hypothermia out of sight.
 */
export function compareAlarms(a, b) {
  const act = activity(a) - activity(b);
  if (act !== 0) return act;
  const pr = priorityRank(b.priority) - priorityRank(a.priority);
  if (pr !== 0) return pr;
  const tech = Number(isTechnical(a)) - Number(isTechnical(b));
  if (tech !== 0) return tech;
  const ra = a.raised_us == null ? -Infinity : a.raised_us;
  const rb = b.raised_us == null ? -Infinity : b.raised_us;
  if (ra !== rb) return ra > rb ? -1 : 1;
  return (b.alarm_id || 0) - (a.alarm_id || 0);
}

/** The alarm a bar leads with: the top active patient alarm, else the top of the ranking. */
export function leadAlarm(sorted) {
  return sorted.find((a) => a.state === "active" && !isTechnical(a)) || sorted[0] || null;
}

/** Cold conditions never step down while the baby rewarms (clinical rules): worst first. */
const COLD_RANK = Object.freeze({ hypothermia_severe: 3, hypothermia_moderate: 2, cold_stress: 1 });

/**
 * What a tile's band line says. Normally the band's name; but while a cold alarm is still on
 * (active or acknowledged) and the baby's band is milder, it names the alarm's condition, as the
 * alarm does: "Moderate hypothermia — rewarming, now 36.3 °C" (a cold condition never steps down
 * while the baby rewarms); a latched one reads "Severe hypothermia — ended, now 37.0 °C". Returns `{key, name, judged, rewarming}` with
 * `key` the band whose shape and colour to show.
 */
export function bandLine(tile, alarms) {
  const band = bandInfo(tile);
  if (!band.judged) return { ...band, rewarming: false };
  const cold = (alarms || [])
    .filter((a) => COLD_RANK[a.kind] && a.state !== "cleared")
    .sort((a, b) => COLD_RANK[b.kind] - COLD_RANK[a.kind])[0];
  if (!cold || (COLD_RANK[band.key] || 0) >= COLD_RANK[cold.kind]) return { ...band, rewarming: false };
  // Latched: the condition ended (the baby is warm again) but the alarm awaits acknowledgement.
  const how = cold.state === "latched" ? "ended" : "rewarming";
  return {
    key: cold.kind,
    name: `${alarmKindName(cold.kind)} — ${how}, now ${formatTemp(tile.temperature_c)}`,
    judged: true,
    rewarming: true,
  };
}

// ---------------------------------------------------------------------------------------------
// Formatting

/**
 * A duration the way the ward says it, the one format of every page: "45 s", "12 min",
 * "2 h 21 min", "20 h". Never "2:21:…" (cut short, or read as a time of day), never "3.8 h".
 */
export function formatDuration(seconds) {
  const s = Math.max(0, Math.floor(Number(seconds) || 0));
  if (s < 60) return `${s} s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (!h) return `${m} min`;
  return m ? `${h} h ${m} min` : `${h} h`;
}

/** "12 s ago", "3 min ago"; "never" for a missing value. */
export function formatAgo(seconds) {
  return seconds == null ? "never" : `${formatDuration(seconds)} ago`;
}

/** An ISO 8601 duration for `<time datetime>` ("PT18728S"): the machine-readable twin of a text. */
export function isoDuration(seconds) {
  return `PT${Math.max(0, Math.floor(Number(seconds) || 0))}S`;
}

/** "36.8 °C", or "—" when there is no temperature. */
export function formatTemp(c) {
  return c == null || !Number.isFinite(c) ? "—" : `${c.toFixed(1)} °C`;
}

// ---------------------------------------------------------------------------------------------
// The server's clock. Times on the wire are µs since the epoch on the *server's* clock; a ward PC's
// own clock may be minutes off, so "heard 12 s ago" is computed from the last `now_us` received,
// carried forward with the browser's monotonic clock (performance.now never jumps).

export class ServerClock {
  constructor() {
    this._us = null;
    this._at = 0;
  }
  /** Record the server's time `now_us` as of this moment. */
  sync(nowUs) {
    if (typeof nowUs === "number" && Number.isFinite(nowUs)) {
      this._us = nowUs;
      this._at = performance.now();
    }
  }
  get known() {
    return this._us !== null;
  }
  /** The server's time now (µs), or the browser's if the server never said. */
  nowUs() {
    if (this._us === null) return Date.now() * 1000;
    return this._us + (performance.now() - this._at) * 1000;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP API

/** A failed API call: `status` (0: no answer at all) and a sentence fit for a nurse. */
export class ApiError extends Error {
  constructor(status, message, path) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.path = path;
  }
  get signedOut() {
    return this.status === 401;
  }
}

function detailText(detail) {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    // FastAPI's 422: [{loc: [...], msg: "..."}]
    return detail.map((d) => (d && d.msg ? `${(d.loc || []).slice(1).join(".")}: ${d.msg}` : String(d))).join("; ");
  }
  return detail == null ? "" : JSON.stringify(detail);
}

let csrfToken = null;

/**
 * Headers a write needs besides its own: the session's anti-forgery token (`X-CSRF-Token`), read
 * once from `/api/session` (only a page of this origin can read it). Empty for reads.
 */
export async function csrfHeaders(method = "GET") {
  if (["GET", "HEAD", "OPTIONS"].includes(method.toUpperCase())) return {};
  if (csrfToken === null) {
    const res = await fetch("/api/session", { credentials: "same-origin", headers: { Accept: "application/json" } });
    csrfToken = res.ok ? (await res.json()).csrf || "" : "";
  }
  return csrfToken ? { "X-CSRF-Token": csrfToken } : {};
}

/**
 * Call the service's API with the page's session cookie: `await api("/api/beds")`,
 * `await api("/api/alarms/3/ack", {method: "POST", body: {note: "..."}})`. Resolves to the parsed
 * JSON (null for an empty body); rejects with an {@link ApiError} whose message says what went wrong.
 */
export async function api(path, { method = "GET", body, signal, timeoutMs = 10000 } = {}) {
  const ctrl = new AbortController();
  const timer = setTimeout(() => ctrl.abort(), timeoutMs);
  if (signal) signal.addEventListener("abort", () => ctrl.abort(), { once: true });
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" }, signal: ctrl.signal };
  Object.assign(init.headers, await csrfHeaders(method));
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let res;
  try {
    res = await fetch(path, init);
    if (res.status === 403 && init.headers["X-CSRF-Token"]) {
      // The session changed (signed in again): read its anti-forgery token afresh, try once more.
      csrfToken = null;
      Object.assign(init.headers, await csrfHeaders(method));
      res = await fetch(path, init);
    }
  } catch (err) {
    const why = ctrl.signal.aborted ? "no answer in time" : "the service cannot be reached";
    throw new ApiError(0, `${method} ${path}: ${why}`, path);
  } finally {
    clearTimeout(timer);
  }
  const text = await res.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!res.ok) {
    let msg = data && typeof data === "object" ? detailText(data.detail) : "";
    if (res.status === 401) msg = "signed out: open the ward link again or sign in";
    throw new ApiError(res.status, `${method} ${path}: ${msg || res.statusText || "failed"} (${res.status})`, path);
  }
  return data;
}

/**
 * Show an error in `region` (an element with role="alert"; created at the top of <body> if absent)
 * for `ms` milliseconds. Errors are shown, not swallowed: a nurse must know an action failed.
 */
export function showError(err, { region, ms = 10000 } = {}) {
  let box = region || document.getElementById("errors");
  if (!box) {
    box = document.createElement("div");
    box.id = "errors";
    box.className = "errors";
    box.setAttribute("role", "alert");
    document.body.prepend(box);
  }
  const item = document.createElement("p");
  item.className = "error";
  item.textContent = err instanceof Error ? err.message : String(err);
  box.append(item);
  // Never more than three at once: a wall screen must not fill up with old errors.
  while (box.children.length > 3) box.firstElementChild.remove();
  setTimeout(() => item.remove(), ms);
  return item;
}

// ---------------------------------------------------------------------------------------------
// The ward stream

/** WebSocket close code of a refused credential (the app's WS_UNAUTHORIZED). */
export const WS_UNAUTHORIZED = 4401;

/**
 * A self-healing connection to a seq-numbered stream (`/ws/ward`).
 *
 * - Calls `onSnapshot(msg)` for a snapshot: the page replaces *all* its state. This happens on
 *   the first connection, after a gap, and whenever the server resyncs a slow client (the hub
 *   sends a fresh snapshot mid-stream, whose `seq` is the last message it covers).
 * - Calls `onMessage(msg)` for every other message, in `seq` order, none missing.
 * - Calls `onStatus(state, info)` with `"connecting"`, `"live"`, `"lost"` (no message for
 *   `heartbeatMs`, or the socket closed: reconnecting by itself) or `"signed-out"` (close code
 *   4401: the session is not valid; it keeps retrying slowly, since signing in again in another
 *   tab sets the cookie this page uses). `info` carries `{since, attempt, code}`.
 *
 * Reconnects with `?since=SEQ` to resume from the server's ring buffer; a `{"type":"resync"}`
 * message or a seq gap reconnects without it, for a fresh snapshot.
 */
export class WardStream {
  constructor(path = "/ws/ward", { onSnapshot, onMessage, onStatus, heartbeatMs = 3000, connectMs = 5000 } = {}) {
    this.path = path;
    this.onSnapshot = onSnapshot || (() => {});
    this.onMessage = onMessage || (() => {});
    this.onStatus = onStatus || (() => {});
    this.heartbeatMs = heartbeatMs;
    this.connectMs = connectMs;
    /** The seq the page's state is current to (null: needs a snapshot). */
    this.seq = null;
    this.state = "idle";
    this._ws = null;
    this._attempt = 0;
    this._lastMessageAt = 0;
    this._retryTimer = null;
    this._watchdog = null;
    this._stopped = true;
  }

  start() {
    this._stopped = false;
    this._connect();
    // One watchdog for the life of the stream: it notices silence, however the socket died.
    this._watchdog = setInterval(() => this._checkAlive(), 250);
  }

  stop() {
    this._stopped = true;
    clearInterval(this._watchdog);
    clearTimeout(this._retryTimer);
    this._drop();
  }

  _setState(state, info = {}) {
    const changed = state !== this.state;
    this.state = state;
    if (changed) this.onStatus(state, { since: this._lostAt, attempt: this._attempt, ...info });
  }

  _url() {
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    const q = this.seq === null ? "" : `?since=${encodeURIComponent(this.seq)}`;
    return `${proto}//${location.host}${this.path}${q}`;
  }

  _connect() {
    if (this._stopped) return;
    clearTimeout(this._retryTimer);
    this._drop();
    if (this.state !== "lost" && this.state !== "signed-out") this._setState("connecting");
    const ws = new WebSocket(this._url());
    this._ws = ws;
    this._openedAt = performance.now();
    this._lastMessageAt = 0;
    ws.onmessage = (ev) => {
      if (ws !== this._ws) return;
      this._lastMessageAt = performance.now();
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch {
        return; // not ours to interpret; the heartbeat still counts
      }
      this._handle(msg);
    };
    ws.onclose = (ev) => {
      if (ws !== this._ws) return;
      this._ws = null;
      this._lost(ev.code);
    };
    // An error is always followed by a close event: reconnecting is decided there.
    ws.onerror = () => {};
  }

  _handle(msg) {
    if (msg.type === "resync") {
      this._resync();
      return;
    }
    if (msg.type === "snapshot") {
      this.seq = typeof msg.seq === "number" ? msg.seq : null;
      this._live();
      this.onSnapshot(msg);
      return;
    }
    if (typeof msg.seq === "number") {
      if (this.seq === null) return; // before the snapshot: it covers this message
      if (msg.seq <= this.seq) return; // a duplicate after a resume
      if (msg.seq !== this.seq + 1) {
        this._resync(); // a gap: what was missed is unknown
        return;
      }
      this.seq = msg.seq;
    }
    this._live();
    this.onMessage(msg);
  }

  _live() {
    this._attempt = 0;
    this._lostAt = null;
    this._setState("live");
  }

  _resync() {
    this.seq = null;
    this._connect();
  }

  _checkAlive() {
    if (this._stopped || !this._ws) return;
    const now = performance.now();
    const silentSince = this._lastMessageAt || this._openedAt;
    const limit = this._lastMessageAt ? this.heartbeatMs : this.connectMs;
    if (now - silentSince > limit) this._lost(0);
  }

  _lost(code) {
    this._drop();
    if (this._stopped) return;
    if (this._lostAt == null) this._lostAt = Date.now();
    this._attempt += 1;
    let delay;
    if (code === WS_UNAUTHORIZED) {
      this._setState("signed-out", { code });
      delay = 5000;
    } else {
      this._setState("lost", { code });
      // Fast first retries (a blip), then at most every 5 s: a ward screen must come back soon.
      delay = Math.min(5000, 250 * 2 ** Math.min(this._attempt - 1, 5));
    }
    this._retryTimer = setTimeout(() => this._connect(), delay);
  }

  _drop() {
    const ws = this._ws;
    this._ws = null;
    if (ws) {
      ws.onmessage = ws.onclose = ws.onerror = null;
      try {
        ws.close();
      } catch {
        // closing a socket still connecting throws in some browsers; it is abandoned either way
      }
    }
  }
}

// DOM and ward-time helpers -----------------------------------------------------------------------

/** An HTML element: h("td", {class: "x", dataset: {...}}, "text", child, ...). Text is set as
 *  text, never parsed as HTML. */
export function h(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "dataset") Object.assign(node.dataset, v);
    else node.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined) node.append(c);
  return node;
}

// The ward's time: its IANA zone and 12/24-hour clock, set once in the service's settings
// (`ward_tz`, `clock_format`) and used by every page — never the browser's zone or locale.
export const wardTime = { tz: "UTC", hour12: false };

/** Take the ward's time zone and clock format from `GET /api/settings`'s answer. */
export function setWardTime(settings) {
  if (settings && settings.ward_tz) wardTime.tz = settings.ward_tz;
  if (settings && settings.clock_format) wardTime.hour12 = settings.clock_format === "12h";
}

/** The ward's settings (`GET /api/settings`), also applied to {@link wardTime}. */
export async function loadSettings() {
  const settings = await api("/api/settings");
  setWardTime(settings);
  return settings;
}

const zonedFormats = new Map();
/** A µs time in the ward's time zone ``tz`` (default: the ward's), on the ward's clock format. */
export function formatInZone(us, tz, opts) {
  const zone = tz || wardTime.tz;
  const key = JSON.stringify(opts) + zone + wardTime.hour12;
  let f = zonedFormats.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat("en-GB", { timeZone: zone, hourCycle: wardTime.hour12 ? "h12" : "h23", ...opts });
    zonedFormats.set(key, f);
  }
  return f.format(new Date(us / 1000));
}

/** "15:40" (or "3:40 pm" on a 12-hour ward) in the ward's time. */
export function formatTimeOfDay(us, tz) {
  return formatInZone(us, tz, { hour: "2-digit", minute: "2-digit" });
}

/** The rows of a session table (#, start, end, duration, in contact, note); ``attrs(s)`` adds
 *  attributes to a row. ``timeOf`` and ``duration`` are the page's formatters. */
export function sessionRows(sessions, timeOf, duration, attrs = () => ({})) {
  return sessions.map((s, i) =>
    h("tr", { class: "session-row", ...attrs(s) },
      h("td", {}, String(i + 1)),
      h("td", {}, timeOf(s.start_us)),
      h("td", {}, timeOf(s.end_us)),
      h("td", {}, duration(s.duration_s)),
      h("td", {}, duration(s.contact_s)),
      h("td", {}, s.short ? "Short (< 60 min)" : "")));
}
