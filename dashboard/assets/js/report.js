// The handover report (/report/{bed_id}?shift=current|YYYY-MM-DDTHH:MM or ?day=YYYY-MM-DD): one
// bed's shift (by default the shift just ended or running, #14) or ward-local day, printable on A4.
// Everything shown comes from one GET /api/beds/{bed_id}/report; the CSV link is the same data.
// Times are in the ward's time zone (the report says which), never the browser's.
import { contactChart, duration, temperatureChart } from "./charts.js";
import {
  alarmKindName,
  formatDuration,
  formatInZone,
  h,
  loadSettings,
  loadVocabulary,
  priorityLabel,
  sessionRows,
} from "./common.js";

const bedId = decodeURIComponent(location.pathname.split("/")[2] || "");
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);


let tz = "UTC";
const fmt = (us, opts) => formatInZone(us, tz, opts);
const timeOf = (us) => (us === null || us === undefined ? "–" : fmt(us, { hour: "2-digit", minute: "2-digit" }));
const stamp = (us) => fmt(us, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });
// One way to say a duration on every page ("2 h 21 min"), never "3.8 h".
const hours = (s) => formatDuration(s);

function longDay(day) {
  const [y, m, d] = day.split("-").map(Number);
  return new Intl.DateTimeFormat("en-GB", { timeZone: "UTC", weekday: "long", day: "numeric", month: "long", year: "numeric" })
    .format(new Date(Date.UTC(y, m - 1, d)));
}

function setStatus(msg, bad = false) {
  const s = $("status");
  s.textContent = msg;
  s.classList.toggle("bad", bad);
}

// "19:00" from a shift's local ISO time ("2026-03-01T19:00:00+03:00"): the ward's own clock reading.
const wallTime = (iso) => iso.slice(11, 16);

function periodTitle(r) {
  if (r.period !== "shift") return `${longDay(r.day)} · times in ${r.ward_tz}${r.complete ? "" : " · day not over yet"}`;
  const s = r.shift;
  const ends = `${wallTime(s.start_local)}–${wallTime(s.end_local)}`;
  const next = s.end_local.slice(0, 10) !== s.start_local.slice(0, 10) ? ` to ${longDay(s.end_local.slice(0, 10))}` : "";
  return `Shift ${ends}, ${longDay(r.day)}${next} · times in ${r.ward_tz}${r.complete ? "" : " · shift not over yet"}`;
}

function renderShift(r) {
  const bedPath = encodeURIComponent(r.bed.bed_id);
  const isShift = r.period === "shift";
  for (const id of ["shift-prev", "shift-next"]) $(id).hidden = !isShift;
  $("shift-section").hidden = !isShift;
  $("totals").classList.toggle("by-day", isShift);
  $("open-h").textContent = isShift ? "Still open at the end of the shift" : "Still open at the end of the day";
  if (isShift) {
    $("shift-prev").href = `/report/${bedPath}?shift=${encodeURIComponent(r.shift.previous)}`;
    $("shift-next").href = `/report/${bedPath}?shift=${encodeURIComponent(r.shift.next)}`;
    $("shift-contact").tBodies[0].replaceChildren(
      ...r.shift_contact.map((c) =>
        h("tr", { dataset: { admissionId: String(c.admission_id) } },
          h("th", { scope: "row" }, c.display_name),
          h("td", { class: "contact" }, duration(c.contact_s)),
          h("td", {}, String(c.sessions)))),
    );
  }
  // What the next shift takes over: each alarm still on the board at the end, who acknowledged it.
  const open = r.open_at_end || { alarms: [] };
  $("open-alarms").replaceChildren(
    ...open.alarms.map((a) => {
      const extreme = a.extreme_c === null || a.extreme_c === undefined ? "" : `, extreme ${a.extreme_c.toFixed(1)} °C`;
      const ack = a.acknowledged ? `acknowledged by ${a.acknowledged_by || "?"}` : "NOT acknowledged";
      const state = a.condition_on ? "condition still on" : "condition over, awaiting acknowledgement";
      return h("li", { dataset: { alarmId: String(a.alarm_id), acknowledged: String(a.acknowledged) } },
        `${alarmKindName(a.kind)} (${priorityLabel(a.priority)})${extreme}: ${state}, ${ack}`);
    }),
  );
  $("open-empty").hidden = open.alarms.length > 0;
}

function render(r) {
  tz = r.ward_tz;
  const bedPath = encodeURIComponent(r.bed.bed_id);
  const what = r.period === "shift" ? r.shift.key.replace("T", " ") : r.day;
  document.title = `Handover ${r.bed.label} ${what} · kmc-monitor`;
  $("ward-name").textContent = r.ward_name || "";
  $("bed-label").textContent = r.bed.label;
  $("day-title").textContent = periodTitle(r);
  $("back").href = `/bed/${bedPath}`;
  $("back").textContent = `← ${r.bed.label}`;
  $("day-input").value = r.day;
  $("csv").href =
    r.period === "shift"
      ? `/api/beds/${bedPath}/report.csv?shift=${encodeURIComponent(r.shift.key)}`
      : `/api/beds/${bedPath}/report.csv?day=${r.day}`;
  renderShift(r);

  const babies = $("babies");
  babies.replaceChildren(
    ...r.admissions.flatMap((a) => [
      h("dt", {}, a.display_name),
      h("dd", {},
        [
          a.hospital_number ? `No. ${a.hospital_number}` : null,
          `${a.birth_weight_g} g at birth`,
          `GA ${a.gestational_age}`,
          `admitted ${stamp(a.admitted_t * 1e6)}`,
          a.discharged_t ? `discharged ${stamp(a.discharged_t * 1e6)}` : null,
        ].filter(Boolean).join(" · ")),
    ]),
  );

  const tbody = $("totals").tBodies[0];
  tbody.replaceChildren(
    ...r.totals.map((t) => {
      const pct = t.percent_of_goal === null ? "–" : `${t.percent_of_goal.toFixed(1)} %`;
      const meter = h("span", { class: "meter", "aria-hidden": "true" }, h("span", { class: "meter-fill" }));
      meter.firstChild.style.width = `${Math.min(100, t.percent_of_goal || 0)}%`;
      return h("tr", { class: "total-row", dataset: { admissionId: String(t.admission_id) } },
        h("th", { scope: "row" }, t.display_name),
        h("td", { class: "day-col" }, t.day || r.day),
        h("td", { class: "contact" }, duration(t.contact_s)),
        h("td", {}, hours(t.goal_s)),
        h("td", {}, pct, " ", meter),
        h("td", { class: t.goal_met ? "met" : "not-met" }, t.goal_met ? "Yes" : t.ongoing ? "Not yet" : "No"),
        h("td", {}, duration(t.unknown_s)));
    }),
  );
  $("totals-empty").hidden = r.totals.length > 0;
  // Who held the baby (#16): the mother's KMC and the others' skin-to-skin, apart and together.
  $("by-caregiver").replaceChildren(
    ...(r.caregivers || []).map((c) =>
      h("li", { dataset: { admissionId: String(c.admission_id) } },
        `${c.display_name}: ` +
          (Object.entries(c.by_caregiver_s).map(([who, s]) => `${who} ${duration(s)}`).join(", ") || "no skin-to-skin") +
          ` · mother's KMC ${duration(c.mother_kmc_s)}, others ${duration(c.others_s)}, together ${duration(c.total_s)}`),
    ),
  );

  // The discharge checklist (#19): what is taught and what is left, per stay on the bed.
  const names = Object.fromEntries(r.admissions.map((a) => [a.admission_id, a.display_name]));
  $("taught").replaceChildren(
    ...(r.discharge_checklists || []).map((c) => {
      const left = c.items.filter((i) => !i.done).map((i) => i.label.toLowerCase());
      return h("li", { "data-admission-id": String(c.admission_id), "data-complete": String(c.complete) },
        `${names[c.admission_id] || c.admission_id}: ` +
          (c.complete ? "discharge teaching complete" : `${c.items.length - left.length} of ${c.items.length} taught; left: ${left.join(", ")}`) + " ",
        h("a", { href: `/discharge/${c.admission_id}` }, "discharge report"));
    }),
  );

  const chartOpts = { startUs: r.day_start_us, endUs: r.day_end_us, binUs: r.bin_s * 1e6, bins: r.readings, tz };
  temperatureChart($("temp-chart"), {
    ...chartOpts, bands: r.bands, height: 270,
    label: `Temperature on ${r.day} with the WHO bands`,
  });
  contactChart($("contact-chart"), {
    ...chartOpts, sessions: r.sessions, height: 160,
    label: `Skin-to-skin contact on ${r.day}: sessions and share of each minute in contact`,
  });

  const sbody = $("sessions").tBodies[0];
  sbody.replaceChildren(...sessionRows(r.sessions, timeOf, duration));
  $("sessions-empty").hidden = r.sessions.length > 0;

  const abody = $("alarms").tBodies[0];
  abody.replaceChildren(
    ...r.alarms.map((a) => {
      const extreme = a.extreme_c === null || a.extreme_c === undefined ? "" : `, extreme ${a.extreme_c.toFixed(1)} °C`;
      return h("tr", { class: "alarm-row" },
        h("td", {}, timeOf(a.raised_us)),
        h("td", {}, `${alarmKindName(a.kind)}${extreme}`),
        h("td", {}, priorityLabel(a.priority)),
        h("td", {}, a.ended_us ? timeOf(a.ended_us) : "Ongoing"),
        h("td", {}, a.acknowledged_us ? `${timeOf(a.acknowledged_us)} by ${a.acknowledged_by || "?"}` : "Not acknowledged"));
    }),
  );
  $("alarms-empty").hidden = r.alarms.length > 0;

  $("foot").textContent =
    `kmc-monitor · ${r.bed.label} (${r.bed.bed_id}) · ${what} · printed from data as of ${stamp(r.generated_us)} ${r.ward_tz}` +
    ` · ${r.readings.length} minutes with readings`;
}

async function start() {
  $("print").addEventListener("click", () => window.print());
  $("day-input").addEventListener("change", (e) => {
    const day = e.target.value;
    if (/^\d{4}-\d{2}-\d{2}$/.test(day)) location.search = `?day=${day}`;
  });
  // No day asked for: the shift a handover wants (the one just ended, or the running one).
  const day = params.get("day");
  const shift = params.get("shift") || (day ? null : "current");
  const q = day ? `?day=${encodeURIComponent(day)}` : `?shift=${encodeURIComponent(shift)}`;
  try {
    await loadSettings(); // the ward's 12/24-hour clock, as every page prints times
    await loadVocabulary(); // the alarm words of the service
    const res = await fetch(`/api/beds/${encodeURIComponent(bedId)}/report${q}`, { credentials: "same-origin" });
    if (res.status === 401) {
      location.reload();
      return;
    }
    const body = await res.json();
    if (!res.ok) {
      const detail = typeof body.detail === "string" ? body.detail : "that is not a day (use YYYY-MM-DD) or a shift";
      setStatus(`No report: ${detail}`, true);
      return;
    }
    render(body);
    document.body.dataset.ready = "1";
  } catch (e) {
    if (e.signedOut) {
      location.reload(); // the session ended: the server answers the page with sign-in
      return;
    }
    setStatus(`No report: ${e.message}`, true);
  }
}

start();
