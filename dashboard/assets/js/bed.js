// The bed detail page (/bed/{bed_id}): live status, 24 h charts, one day's sessions and alarms, the
// days' totals, the admission, the family link's QR card and discharge.
//
// Data: GET /api/beds/{id} (tile + admission + wrap) every few seconds; /trend (the live engine's
// per-minute bins) and the handover report of today (sessions, totals, alarms) every minute; the
// chosen day's report when a day is picked. Only what changed is re-drawn. The staff session cookie
// goes with every same-origin request; a 401 means it expired, so the page reloads into sign-in.
import { contactChart, duration, temperatureChart } from "./charts.js";
import { confirmed } from "./confirm.js";
import {
  ApiError,
  BAND_NAMES,
  JUDGING_NAMES,
  alarmKindName,
  api as callApi,
  formatDuration,
  formatInZone,
  formatTemp,
  h,
  loadVocabulary,
  priorityLabel,
  sessionRows,
  setWardTime,
} from "./common.js";

const TILE_EVERY_MS = 5000;
const CHART_EVERY_MS = 60000;
const DAYS_EVERY_MS = 300000;
const H24_US = 24 * 3600e6;

const bedId = decodeURIComponent(location.pathname.split("/")[2] || "");
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);

const state = {
  tz: "UTC",
  bands: null,
  tile: null,
  tileAt: 0, // performance.now() when the tile arrived (the session timer runs on between polls)
  today: null,
  day: params.get("day"), // the day whose sessions and alarms are shown (null: today)
  lastChartKey: "",
};

// ------------------------------------------------------------------------------------------------
// The API through common.js's one helper; a 401 means the session ended, so the page reloads into
// sign-in.
async function call(path, options) {
  try {
    return await callApi(path, options);
  } catch (e) {
    if (e instanceof ApiError && e.signedOut) location.reload();
    throw e;
  }
}
const getJSON = (path) => call(path);
const post = (path) => call(path, { method: "POST" });

const fmt = (us, opts) => formatInZone(us, state.tz, opts);
const timeOf = (us) => (us === null || us === undefined ? "–" : fmt(us, { hour: "2-digit", minute: "2-digit" }));
const dateTimeOf = (us) =>
  fmt(us, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
function dayName(day) {
  if (day === state.today) return "today";
  const [y, m, d] = day.split("-").map(Number);
  return new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", weekday: "short", day: "numeric", month: "short" })
    .format(new Date(Date.UTC(y, m - 1, d)));
}
function addDays(day, n) {
  const [y, m, d] = day.split("-").map(Number);
  return new Date(Date.UTC(y, m - 1, d + n)).toISOString().slice(0, 10);
}
// One way to say a duration on every page ("2 h 21 min"), never "3.8 h".
const hours = (s) => formatDuration(s);

function setStatus(msg, bad = false) {
  const c = $("conn");
  c.textContent = msg;
  c.classList.toggle("bad", bad);
}

// What the nurse just did stays on the status line for half a minute: the periodic "Live" line
// would otherwise replace "… discharged at 03:15" within seconds, before anyone looked back at it.
const DONE_NOTICE_MS = 30_000;
let doneNotice = null; // { msg, until }
function tellDone(msg) {
  doneNotice = { msg, until: Date.now() + DONE_NOTICE_MS };
  setStatus(msg);
}
function setLive() {
  const live = `Live · updated ${timeOf(Date.now() * 1000)}`;
  setStatus(doneNotice && Date.now() < doneNotice.until ? `${doneNotice.msg} · ${live}` : live);
}

// Confirm dialog ----------------------------------------------------------------------------------
function confirmAction(title, textContent, okLabel) {
  const dlg = $("confirm");
  $("confirm-title").textContent = title;
  $("confirm-text").textContent = textContent;
  $("confirm-ok").textContent = okLabel;
  dlg.returnValue = "";
  dlg.showModal();
  $("confirm-cancel").focus();
  return new Promise((resolve) => {
    dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok"), { once: true });
  });
}

// Now (the tile) --------------------------------------------------------------------------------
function renderTile() {
  const t = state.tile;
  if (!t) return;
  $("bed-label").textContent = t.label;
  const adm = t.admission;
  $("baby-name").textContent = adm ? adm.display_name : "no baby admitted";
  document.title = `${t.label}${adm ? " · " + adm.display_name : ""} · kmc-monitor`;

  $("temp").textContent = formatTemp(t.temperature_c);
  const band = $("band");
  band.className = "band-word";
  if (t.band) {
    band.textContent = BAND_NAMES[t.band] || t.band.replace(/_/g, " ");
    band.classList.add(`band-${t.band.replace(/_/g, "-")}`);
  } else {
    band.textContent = JUDGING_NAMES[t.judging] || "Not judged";
    band.classList.add("band-unjudged");
  }
  $("contact").textContent = t.contact === true ? "In skin-to-skin contact" : t.contact === false ? "Not in contact" : "Unknown";
  renderTimer();
  const goal = t.daily_goal_s || (adm && adm.daily_goal_s) || 0;
  if (adm && goal) {
    const pct = Math.round((100 * (t.contact_today_s || 0)) / goal);
    $("today").textContent = `${duration(t.contact_today_s || 0)} of ${hours(goal)} goal (${pct} %)`;
    $("today-meter").style.width = `${Math.min(100, pct)}%`;
  } else {
    $("today").textContent = "–";
    $("today-meter").style.width = "0";
  }
  const wrap = t.wrap;
  const heard = t.last_heard_s === null || t.last_heard_s === undefined ? "never heard" : `heard ${duration(t.last_heard_s)} ago`;
  const battery = t.battery_pct === null || t.battery_pct === undefined ? "" : `, battery ${Math.round(t.battery_pct)} %`;
  $("wrap").textContent = wrap ? `${wrap.wrap_id} (${wrap.mac}), ${heard}${battery}` : "No wrap on this bed";

  const list = $("alarms-now");
  list.replaceChildren(
    ...(t.alarms || []).map((a) => {
      const li = h("li", { class: `alarm prio-${a.priority}` },
        h("span", { class: "prio" }, priorityLabel(a.priority)),
        " ",
        h("span", { class: "kind" }, alarmKindName(a.kind)),
        " ",
        h("span", { class: "alarm-state" }, `(${a.state})`));
      if (a.state === "active" || a.state === "latched") {
        const b = h("button", { type: "button", class: "ack" }, "Acknowledge");
        b.addEventListener("click", () => acknowledge(a.alarm_id, b));
        li.append(" ", b);
      }
      return li;
    }),
  );
  $("alarms-now-empty").hidden = (t.alarms || []).length > 0;

  renderAdmission(adm);
  $("family-card").hidden = !adm;
  $("discharge-card").hidden = !adm;
}

function renderTimer() {
  const t = state.tile;
  if (!t) return;
  const el = $("session");
  if (!t.admission || t.session_state === "none") {
    el.textContent = "No session";
  } else if (t.session_state === "running") {
    const s = t.session_s + (performance.now() - state.tileAt) / 1000;
    el.textContent = `Running ${duration(s)}`;
  } else {
    el.textContent = `Paused at ${duration(t.session_s)}`;
  }
}

async function acknowledge(alarmId, button) {
  button.disabled = true;
  try {
    await confirmed(`/api/alarms/${alarmId}/ack`, { what: `Acknowledge the alarm on ${state.tile ? state.tile.label : "this bed"}` });
    await refreshTile();
    await loadDay();
  } catch (e) {
    setStatus(`Could not acknowledge: ${e.message}`, true);
    button.disabled = false;
  }
}

function renderAdmission(adm) {
  const dl = $("admission");
  $("no-admission").hidden = !!adm;
  if (!adm) {
    dl.replaceChildren();
    return;
  }
  const row = (k, v) => h("div", {}, h("dt", {}, k), h("dd", {}, v));
  dl.replaceChildren(
    row("Name", adm.display_name),
    row("Hospital number", adm.hospital_number || "–"),
    row("Birth weight", `${adm.birth_weight_g} g`),
    row("Gestational age", `${adm.gestational_age} weeks`),
    row("Daily goal", hours(adm.daily_goal_s)),
    row("Site offset", `${adm.site_offset_c >= 0 ? "+" : ""}${adm.site_offset_c.toFixed(1)} °C`),
    row("Admitted", `${dateTimeOf(adm.admitted_t * 1e6)} by ${adm.admitted_by}`),
  );
  for (const n of document.querySelectorAll(".qr-name")) n.textContent = adm.display_name;
}

async function refreshTile() {
  state.tile = await getJSON(`/api/beds/${encodeURIComponent(bedId)}`);
  state.tileAt = performance.now();
  renderTile();
}

// Charts ----------------------------------------------------------------------------------------
async function refreshCharts() {
  const base = `/api/beds/${encodeURIComponent(bedId)}`;
  const [trend, today] = await Promise.all([getJSON(`${base}/trend`), getJSON(`${base}/report`)]);
  state.today = today.day;
  state.bands = today.bands;
  const nowUs = today.generated_us;
  const startUs = nowUs - H24_US;
  // Sessions of the 24 h window: today's, and yesterday's when the window reaches back into it.
  let sessions = today.sessions;
  if (startUs < today.day_start_us) {
    const yesterday = await getJSON(`${base}/report?day=${addDays(today.day, -1)}`);
    sessions = [...yesterday.sessions, ...sessions];
  }
  const bins = trend.bins.filter((b) => b.start_us >= startUs - 60e6);
  const tempBox = $("temp-chart");
  temperatureChart(tempBox, {
    startUs, endUs: nowUs, bins, bands: state.bands, tz: state.tz, nowUs,
    label: "Temperature over the last 24 hours, with the WHO bands",
  });
  tempBox.dataset.bins = String(bins.filter((b) => b.temp_median_c !== null).length);
  tempBox.dataset.lastBinUs = bins.length ? String(bins[bins.length - 1].start_us) : "";
  contactChart($("contact-chart"), {
    startUs, endUs: nowUs, bins, sessions, tz: state.tz, nowUs,
    label: "Skin-to-skin contact over the last 24 hours: sessions and share of each minute in contact",
  });
  if (!state.day || state.day === today.day) renderDay(today);
}

// The chosen day: sessions, alarms, report link --------------------------------------------------
function renderDay(report) {
  for (const n of document.querySelectorAll(".day-name")) n.textContent = dayName(report.day);
  const link = $("report-link");
  link.href = `/report/${encodeURIComponent(bedId)}?day=${report.day}`;

  const tbody = $("sessions").tBodies[0];
  tbody.replaceChildren(
    ...sessionRows(report.sessions, timeOf, duration, (s) => ({ dataset: { startUs: String(s.start_us) } })),
  );
  $("sessions-empty").hidden = report.sessions.length > 0;

  const abody = $("alarm-history").tBodies[0];
  abody.replaceChildren(...report.alarms.map(alarmRow));
  $("alarms-empty").hidden = report.alarms.length > 0;
  $("days").dataset.shown = report.day;
  for (const tr of $("days").tBodies[0].rows) {
    const shown = tr.dataset.day === report.day;
    tr.classList.toggle("shown", shown);
    if (shown) tr.setAttribute("aria-current", "date");
    else tr.removeAttribute("aria-current");
  }
}

function alarmRow(a) {
  const ack = a.acknowledged_us
    ? `${timeOf(a.acknowledged_us)} by ${a.acknowledged_by || "?"}`
    : "Not acknowledged";
  const audit = h("details", {},
    h("summary", {}, `${(a.audit || []).length} entries`),
    h("ul", { class: "audit" },
      ...(a.audit || []).map((r) =>
        h("li", {}, `${timeOf(r.at_us)} ${r.action} by ${r.who}${r.detail ? ` (${r.detail})` : ""}`))));
  const extreme = a.extreme_c === null || a.extreme_c === undefined ? "" : `, extreme ${a.extreme_c.toFixed(1)} °C`;
  return h("tr", { class: `alarm-row prio-${a.priority}`, dataset: { alarmId: String(a.alarm_id) } },
    h("td", {}, timeOf(a.raised_us)),
    h("td", {}, `${alarmKindName(a.kind)}${extreme}`),
    h("td", {}, priorityLabel(a.priority)),
    h("td", {}, a.ended_us ? timeOf(a.ended_us) : "Ongoing"),
    h("td", { class: a.acknowledged_us ? "" : "unacked" }, ack),
    h("td", {}, audit));
}

async function loadDay() {
  if (!state.day || state.day === state.today) {
    await refreshCharts();
    return;
  }
  renderDay(await getJSON(`/api/beds/${encodeURIComponent(bedId)}/report?day=${state.day}`));
}

async function refreshDays() {
  const data = await getJSON(`/api/beds/${encodeURIComponent(bedId)}/days?days=14`);
  const tbody = $("days").tBodies[0];
  tbody.replaceChildren(
    ...data.days.map((d) => {
      const contact = d.totals.reduce((s, t) => s + t.contact_s, 0);
      const goal = d.totals.length ? d.totals[d.totals.length - 1].daily_goal_s : null;
      const met = d.totals.some((t) => t.goal_met);
      const goalCell = goal
        ? `${Math.round((100 * contact) / goal)} % of ${hours(goal)}${met ? " · met" : ""}`
        : "no stay";
      const show = h("button", { type: "button", class: "link-button" }, d.day === data.last_day ? "Today" : "Show");
      show.addEventListener("click", () => {
        state.day = d.day;
        const url = new URL(location.href);
        url.searchParams.set("day", d.day);
        history.replaceState(null, "", url);
        loadDay().catch(fail);
      });
      const ongoing = d.totals.some((t) => t.ongoing) ? " so far" : "";
      return h("tr", { dataset: { day: d.day } },
        h("th", { scope: "row" }, dayName(d.day)),
        h("td", {}, `${hours(contact)}${ongoing}`),
        h("td", {}, goalCell),
        h("td", {}, show));
    }),
  );
  for (const tr of tbody.rows) tr.classList.toggle("shown", tr.dataset.day === $("days").dataset.shown);
}

// Family link -----------------------------------------------------------------------------------
async function showQr(admissionId, url, unavailable = false) {
  const res = unavailable
    ? null
    : await fetch(`/api/admissions/${admissionId}/family-qr.svg`, { credentials: "same-origin" });
  if (res === null || res.status === 404) {
    $("qr-card").hidden = true;
    $("print-card").hidden = true;
    $("family-card-link").hidden = true;
    $("family-note").textContent =
      "The service keeps only a fingerprint of the family link, so its QR code cannot be shown again. " +
      "Print a new link to give the family a new card (the old card then stops working).";
    return;
  }
  if (!res.ok) throw new ApiError(res.status, "the QR code could not be loaded", res.url);
  // Parsed as an SVG document and adopted: no markup is injected as HTML.
  const doc = new DOMParser().parseFromString(await res.text(), "image/svg+xml");
  const svg = doc.documentElement;
  if (svg.nodeName !== "svg") throw new Error("the QR code is not an SVG");
  // Scale with CSS: keep the drawing's own coordinates as the viewBox, drop the fixed pixel size.
  if (!svg.hasAttribute("viewBox")) {
    svg.setAttribute("viewBox", `0 0 ${svg.getAttribute("width")} ${svg.getAttribute("height")}`);
  }
  svg.removeAttribute("width");
  svg.removeAttribute("height");
  svg.setAttribute("role", "img");
  svg.setAttribute("aria-label", "QR code of the family link");
  $("qr").replaceChildren(document.importNode(svg, true));
  $("qr-url").textContent = url || "";
  $("qr-url").hidden = !url;
  $("qr-card").hidden = false;
  $("print-card").hidden = false;
  // The printable card in the family's language, with the bed and how to connect (#14).
  $("family-card-link").href = `/family-card/${encodeURIComponent(admissionId)}`;
  $("family-card-link").hidden = false;
  $("family-note").textContent = url
    ? "New link made: print this card for the family. The previous card no longer works."
    : "The current family link, made since the service started.";
}

async function renewLink() {
  const adm = state.tile && state.tile.admission;
  if (!adm) return;
  const ok = await confirmAction(
    "Print a new family link?",
    `A new link is made for ${adm.display_name} and the current one is revoked: the card at the bedside ` +
      "stops working at once, and any family page open with it is closed. Give the family the new card.",
    "Revoke old link and make a new one",
  );
  if (!ok) return;
  try {
    const link = await post(`/api/admissions/${adm.admission_id}/family-link`);
    await showQr(adm.admission_id, link.family_url);
    tellDone("New family link made");
  } catch (e) {
    fail(e);
  }
}

async function revokeLink() {
  const adm = state.tile && state.tile.admission;
  if (!adm) return;
  const ok = await confirmAction(
    "Revoke the family link?",
    `The family link of ${adm.display_name} stops working at once and no new one is made. ` +
      "Print a new link later to give the family access again.",
    "Revoke link",
  );
  if (!ok) return;
  try {
    const r = await post(`/api/admissions/${adm.admission_id}/family-link/revoke`);
    $("qr").replaceChildren();
    $("qr-card").hidden = true;
    $("print-card").hidden = true;
    $("family-card-link").hidden = true;
    $("family-note").textContent = r.revoked ? "Link revoked: the family card no longer works." : "There was no live link to revoke.";
  } catch (e) {
    fail(e);
  }
}

function printCard() {
  document.body.classList.add("print-card");
  window.addEventListener("afterprint", () => document.body.classList.remove("print-card"), { once: true });
  window.print();
}

// Discharge -------------------------------------------------------------------------------------
async function discharge() {
  const t = state.tile;
  const adm = t && t.admission;
  if (!adm) return;
  const ok = await confirmAction(
    `Discharge ${adm.display_name}?`,
    `${adm.display_name} is discharged from ${t.label} now: the stay ends, the family link stops working ` +
      "and the wrap comes off the bed for cleaning. This cannot be undone.",
    "Discharge",
  );
  if (!ok) return;
  try {
    // The status feeds the programme indicators; left "not recorded", it can be set later.
    const status = $("discharge-status").value || null;
    const done = await confirmed(`/api/admissions/${adm.admission_id}/discharge`, {
      body: { status },
      what: `Discharge ${adm.display_name}`,
    });
    tellDone(`${done.display_name} discharged at ${timeOf(done.discharged_t * 1e6)}`);
    await refreshTile();
  } catch (e) {
    fail(e);
  }
}

// ------------------------------------------------------------------------------------------------
function fail(e) {
  if (e instanceof ApiError && e.signedOut) return;
  setStatus(`Problem: ${e.message}`, true);
}

function every(ms, fn) {
  setInterval(() => {
    if (document.hidden) return;
    fn().then(setLive).catch(fail);
  }, ms);
}

async function start() {
  // Opened over the ward screen (its bed overlay): the overlay's own button goes back, so this
  // page's "← Ward" link, which would load a second ward screen inside it, is hidden.
  if (window.top !== window) document.body.dataset.embedded = "1";
  if (!bedId) {
    setStatus("No bed in the address", true);
    return;
  }
  $("renew-link").addEventListener("click", renewLink);
  $("revoke-link").addEventListener("click", revokeLink);
  $("print-card").addEventListener("click", printCard);
  $("discharge").addEventListener("click", discharge);
  await loadVocabulary(); // the band and alarm words, and the chart's band limits
  try {
    const settings = await getJSON("/api/settings");
    setWardTime(settings); // the ward's zone and 12/24-hour clock, as the ward screen shows them
    state.tz = settings.ward_tz;
    await refreshTile();
    await refreshCharts();
    await Promise.all([refreshDays(), state.day && state.day !== state.today ? loadDay() : null]);
    const adm = state.tile.admission;
    // Ask for the QR only when the service still has the link (no 404 probe after a restart).
    if (adm) await showQr(adm.admission_id, null, !state.tile.family_qr_available);
    setLive();
    document.body.dataset.ready = "1";
  } catch (e) {
    fail(e);
    return;
  }
  every(TILE_EVERY_MS, refreshTile);
  every(CHART_EVERY_MS, refreshCharts);
  every(DAYS_EVERY_MS, refreshDays);
  setInterval(renderTimer, 1000);
}

start();
