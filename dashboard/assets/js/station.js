// The health station page (/station): the babies at home in the station's care and the list of
// those needing attention (GET /api/station, every 30 s), follow-up visits (POST
// /api/station/homes/{home_id}/visits; CSV from /api/station/visits.csv), and discharge "home on
// KMC" with the family's consent (POST /api/station/homes), whose pairing QR is shown once.
import { api, formatAgo, h, loadSettings, showError } from "./common.js";
import { confirmed } from "./confirm.js";

const $ = (id) => document.getElementById(id);
const REFRESH_MS = 30000;
const REASON_NAMES = Object.freeze({
  no_sync_24h: "No sync for 24 h",
  low_contact_2_days: "Under 8 h a day, two days running",
  hypothermia_since_visit: "Hypothermia since the last visit",
});
let visitHome = null;

const hours = (s) => (s / 3600).toFixed(1);

function weekCell(home) {
  const cell = h("td", { class: "week" });
  if (!home.days.length) {
    cell.textContent = "no day received yet";
    return cell;
  }
  for (const d of home.days) {
    const cls = ["day", d.complete ? (d.goal_met ? "met" : d.contact_s < 8 * 3600 ? "low" : "") : "running"];
    const twin = home.days.some((x) => x.wrap_id !== d.wrap_id) ? ` ${d.wrap_id}` : "";
    cell.append(
      h(
        "span",
        {
          class: cls.filter(Boolean).join(" "),
          title: `${d.day}${twin}: ${hours(d.contact_s)} h of ${hours(d.goal_s)} h goal${d.complete ? "" : " (day still running)"}`,
        },
        `${hours(d.contact_s)}/${hours(d.goal_s)}`,
      ),
    );
  }
  return cell;
}

function nextVisitText(v) {
  if (!v) return h("span", {}, "schedule done");
  const text = `day ${v.day_number} (${v.day})`;
  return v.overdue_days > 0 ? h("span", { class: "overdue" }, `${text}, ${v.overdue_days} day(s) overdue`) : h("span", {}, text);
}

function render(view) {
  const attention = $("attention");
  attention.replaceChildren(
    ...view.attention.map((home) =>
      h(
        "li",
        { dataset: { home: home.home_id } },
        h("strong", {}, home.display_name),
        ` (${home.home_id}): `,
        ...home.attention.flatMap((a, i) => [
          i ? "; " : "",
          h("span", { class: "reason" }, REASON_NAMES[a.reason] || a.reason),
          ` (${a.detail})`,
        ]),
      ),
    ),
  );
  if (!view.attention.length) attention.replaceChildren(h("li", {}, "Nobody: every home has synced, and no cold or short days since the last visit."));
  const body = $("homes").tBodies[0];
  body.replaceChildren(
    ...view.homes.map((home) =>
      h(
        "tr",
        { dataset: { home: home.home_id } },
        h("th", { scope: "row" }, home.display_name),
        h("td", {}, String(home.days_since_discharge)),
        h(
          "td",
          {},
          home.last_sync_ago_s === null ? "never" : formatAgo(home.last_sync_ago_s),
          home.pending ? ` · ${home.pending} still at home` : "",
        ),
        weekCell(home),
        h("td", {}, String(home.cold_episodes_7d)),
        h("td", {}, home.battery_pct === null ? "–" : `${Math.round(home.battery_pct)} %`),
        h("td", {}, nextVisitText(home.next_visit), home.last_visit ? ` · last visit ${home.last_visit}` : " · no visit yet"),
        h("td", {}, visitButton(home), " ", pairingButton(home)),
      ),
    ),
  );
  $("no-homes").hidden = view.homes.length > 0;
}

function visitButton(home) {
  const b = h("button", { type: "button" }, "Record a visit");
  b.addEventListener("click", () => {
    visitHome = home;
    $("visit-baby").textContent = home.display_name;
    $("visit-panel").hidden = false;
    // The home's calendar, not this screen's: a station west of the home is a day behind it.
    const day = $("visit-form").elements.day;
    day.min = home.discharge_day;
    day.max = home.today;
    day.value = home.today;
    $("visit-form").elements.weight_g.focus();
  });
  return b;
}

function showPairing(out) {
  $("pairing-qr").src = `data:image/svg+xml;charset=utf-8,${encodeURIComponent(out.qr_svg)}`;
  $("pairing-home").textContent = out.home_id;
  $("pairing-baby").textContent = out.pairing.baby.display_name;
  $("pairing").hidden = false;
  $("pairing").scrollIntoView();
}

function pairingButton(home) {
  const b = h("button", { type: "button" }, "New pairing code");
  b.addEventListener("click", async () => {
    // The old code stops working at once: the home gateway must be paired again.
    if (!confirm(`A new pairing code for ${home.display_name}? The old one stops working now.`)) return;
    try {
      showPairing(await api(`/api/station/homes/${encodeURIComponent(home.home_id)}/pairing`, { method: "POST", body: {} }));
    } catch (err) {
      showError(err, { region: $("status") });
    }
  });
  return b;
}

async function refresh() {
  try {
    render(await api("/api/station"));
  } catch (err) {
    showError(err, { region: $("status") });
  }
}

async function loadAdmissions() {
  const list = await api("/api/admissions");
  $("admissions").replaceChildren(
    ...list.map((a) => h("option", { value: a.admission_id }, `${a.display_name} (bed ${a.bed_id})`)),
  );
}

$("visit-cancel").addEventListener("click", () => {
  $("visit-panel").hidden = true;
  visitHome = null;
});

$("visit-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (!visitHome) return;
  const f = ev.target.elements;
  const body = { day: f.day.value, notes: f.notes.value, who: f.who.value };
  if (f.weight_g.value) body.weight_g = Number(f.weight_g.value);
  try {
    await api(`/api/station/homes/${encodeURIComponent(visitHome.home_id)}/visits`, { method: "POST", body });
    $("status").textContent = `Visit to ${visitHome.display_name} saved.`;
    ev.target.reset();
    $("visit-panel").hidden = true;
    visitHome = null;
    await refresh();
  } catch (err) {
    showError(err, { region: $("status") });
  }
});

$("home-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const f = ev.target.elements;
  const body = {
    admission_id: Number(f.admission_id.value),
    consent: { name: f.consent_name.value, relation: f.relation.value },
    language: f.language.value,
    who: f.who.value,
  };
  if (f.tz.value) body.tz = f.tz.value;
  try {
    const name = f.admission_id.selectedOptions && f.admission_id.selectedOptions[0] ? f.admission_id.selectedOptions[0].textContent : "the baby";
    const out = await confirmed("/api/station/homes", { body, what: `Discharge ${name} home on KMC` });
    showPairing(out);
    ev.target.reset();
    await Promise.all([refresh(), loadAdmissions()]);
  } catch (err) {
    showError(err, { region: $("status") });
  }
});

async function start() {
  try {
    const settings = await loadSettings();
    $("home-tz").placeholder = settings.ward_tz;
    await loadAdmissions();
  } catch (err) {
    showError(err, { region: $("status") });
  }
  await refresh();
  setInterval(refresh, REFRESH_MS);
}

start();
