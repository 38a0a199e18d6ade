// The discharge report (/discharge/{admission_id}): one stay, printable on A4, with the discharge
// checklist (#19) - what the family was taught, by whom and when. Everything comes from one
// GET /api/admissions/{admission_id}/discharge-report; times are in the ward's time zone.
import { api, formatInZone, h } from "./common.js";

const admissionId = decodeURIComponent(location.pathname.split("/")[2] || "");
const $ = (id) => document.getElementById(id);
let tz = "UTC";
const stamp = (t) =>
  t === null || t === undefined
    ? "–"
    : formatInZone(t * 1e6, tz, { day: "numeric", month: "short", year: "numeric", hour: "2-digit", minute: "2-digit" });

function render(r) {
  tz = r.ward_tz;
  const a = r.admission;
  document.title = `Discharge ${a.display_name} · kmc-monitor`;
  $("ward-name").textContent = r.ward_name || "";
  $("baby-name").textContent = a.display_name;
  $("back").href = `/bed/${encodeURIComponent(a.bed_id)}`;
  // While the baby is still here, the family card (#14) can be printed from here too.
  $("family-card-link").href = `/family-card/${encodeURIComponent(a.admission_id)}`;
  $("family-card-link").hidden = Boolean(a.discharged_t);
  $("back").textContent = `← Bed ${a.bed_id}`;
  $("stay-dates").textContent =
    `Admitted ${stamp(a.admitted_t)} · ` +
    (a.discharged_t ? `discharged ${stamp(a.discharged_t)} (${(a.discharge_status || "status not recorded").replaceAll("_", " ")})` : "not discharged yet") +
    ` · times in ${tz}`;
  $("baby").replaceChildren(
    h("dt", {}, a.display_name),
    h("dd", {}, [a.hospital_number ? `No. ${a.hospital_number}` : null, `${a.birth_weight_g} g at birth`, `GA ${a.gestational_age}`, `mode ${a.kmc_mode}`].filter(Boolean).join(" · ")),
  );
  const st = r.stay;
  $("stay").textContent =
    st.first_session_t === null
      ? "No skin-to-skin session recorded."
      : `First skin-to-skin ${stamp(st.first_session_t)}; ${st.days_in_kmc.toFixed(1)} days in KMC, skin-to-skin on ${st.days_with_contact} day(s).`;
  $("carers").textContent = r.caregivers.length
    ? `Caregivers: ${r.caregivers.map((c) => (c.role === "family" ? c.label : c.role)).join(", ")}.`
    : "No caregiver named.";
  const c = r.checklist;
  const done = c.items.filter((i) => i.done).length;
  $("taught-summary").textContent = c.complete
    ? `All ${done} items taught (complete ${stamp(c.completed_t)}).`
    : `NOT COMPLETE: ${done} of ${c.items.length} items taught.`;
  $("taught-summary").dataset.complete = String(c.complete);
  $("taught").tBodies[0].replaceChildren(
    ...c.items.map((i) =>
      h(
        "tr",
        { "data-checklist-item": i.item, "data-done": String(i.done) },
        h("td", {}, i.label),
        h("td", {}, i.done ? "yes" : "NO"),
        h("td", {}, i.set_by || "–"),
        h("td", {}, stamp(i.set_t)),
      ),
    ),
  );
  $("foot").textContent = `Generated ${stamp(r.generated_t)} by kmc-monitor.`;
}

$("print").addEventListener("click", () => window.print());

api(`/api/admissions/${encodeURIComponent(admissionId)}/discharge-report`)
  .then(render)
  .catch((err) => {
    $("status").textContent = `Could not load the report: ${err.message || err}`;
  });
