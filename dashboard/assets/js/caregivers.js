// The bed page's "Who held the baby" card (#16): who holds now (a nurse can set it) and the last
// days' skin-to-skin by caregiver - the mother's KMC and the others' apart. Its own module so the
// bed page's main script stays as it is.
import { api, formatDuration, h, showError } from "./common.js";

const bedId = decodeURIComponent(location.pathname.split("/")[2] || "");
let admissionId = null;

function name(c) {
  return c.role === "family" ? c.label : c.role;
}

function render(data) {
  document.getElementById("caregivers-card").hidden = false;
  const sel = document.getElementById("holder-now");
  const opts = [["", "unknown"], ...data.caregivers.map((c) => [String(c.caregiver_id), name(c)])];
  sel.replaceChildren(...opts.map(([v, label]) => h("option", { value: v }, label)));
  sel.value = data.holding_now === null ? "" : String(data.holding_now);
  const labels = Object.fromEntries(data.caregivers.map((c) => [c.label, name(c)]));
  const rows = [...data.days].reverse().map((d) =>
    h(
      "tr",
      {},
      h("td", {}, d.day),
      h("td", {}, formatDuration(d.mother_kmc_s)),
      h("td", {}, formatDuration(d.others_s)),
      h(
        "td",
        {},
        Object.entries(d.by_caregiver_s)
          .map(([label, s]) => `${labels[label] || label} ${formatDuration(s)}`)
          .join(", ") || "-"
      )
    )
  );
  document.querySelector("#caregiver-days tbody").replaceChildren(...rows);
  const st = data.stay;
  document.getElementById("kmc-initiation").textContent =
    st.first_session_t === null
      ? "No skin-to-skin session yet."
      : `First skin-to-skin ${
          st.time_to_first_from_birth_h === null
            ? `${st.time_to_first_from_admission_h.toFixed(1)} h after admission (birth time not recorded)`
            : `${st.time_to_first_from_birth_h.toFixed(1)} h after birth`
        }; ${st.days_in_kmc.toFixed(1)} days in KMC, skin-to-skin on ${st.days_with_contact} day(s). ` +
        `Mode: ${data.kmc_mode}.`;
}

async function load() {
  try {
    const bed = await api(`/api/beds/${encodeURIComponent(bedId)}`);
    admissionId = bed.admission ? bed.admission.admission_id : null;
    if (admissionId === null) {
      document.getElementById("caregivers-card").hidden = true;
      return;
    }
    render(await api(`/api/admissions/${admissionId}/caregivers?days=7`));
  } catch (err) {
    showError(err);
  }
}

document.getElementById("holder-now").addEventListener("change", async (ev) => {
  if (admissionId === null) return;
  const v = ev.target.value;
  try {
    render(
      await api(`/api/admissions/${admissionId}/holding`, {
        method: "PUT",
        body: { caregiver_id: v === "" ? null : Number(v) },
      })
    );
    document.getElementById("holder-saved").textContent = "Saved";
  } catch (err) {
    showError(err);
  }
});

document.getElementById("add-caregiver").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  if (admissionId === null) return;
  const role = document.getElementById("carer-role").value;
  const name = document.getElementById("carer-name").value.trim();
  try {
    await api(`/api/admissions/${admissionId}/caregivers`, { method: "POST", body: { role, name } });
    document.getElementById("carer-name").value = "";
    await load();
  } catch (err) {
    showError(err); // e.g. the mother is named already, or a family member without a name
  }
});

if (bedId) {
  load();
  setInterval(load, 60000);
}
