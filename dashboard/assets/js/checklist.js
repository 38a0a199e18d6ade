// The bed page's "Ready to go home" card (#19): the discharge checklist a nurse goes through with
// the family (positioning shown back, feeding, danger signs, when to come back, who to call). Each
// tick goes to PUT /api/admissions/{id}/discharge-checklist, which records the signed-in staff
// member and the time; the card shows who ticked each item and when. Its own module so the bed
// page's main script stays as it is.
import { api, formatInZone, h, loadSettings, showError } from "./common.js";

const bedId = decodeURIComponent(location.pathname.split("/")[2] || "");
let admissionId = null;
let tz = "UTC";

function when(t) {
  return formatInZone(t * 1e6, tz, { day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

function render(state) {
  document.getElementById("checklist-card").hidden = false;
  const list = document.getElementById("checklist");
  list.replaceChildren(
    ...state.items.map((it) => {
      const box = h("input", { type: "checkbox", id: `teach-${it.item}`, "data-item": it.item });
      box.checked = it.done;
      box.addEventListener("change", () => tick(it.item, box.checked, box));
      const who = it.set_by ? `${it.done ? "ticked" : "unticked"} by ${it.set_by}, ${when(it.set_t)}` : "not yet";
      return h(
        "li",
        { "data-checklist-item": it.item, "data-done": String(it.done) },
        box,
        h("label", { for: `teach-${it.item}` }, it.label),
        h("span", { class: "who" }, ` (${who})`),
      );
    }),
  );
  const done = state.items.filter((i) => i.done).length;
  document.getElementById("checklist-status").textContent = state.complete
    ? `All ${done} items taught: the family is ready to go home.`
    : `${done} of ${state.items.length} items taught.`;
  document.getElementById("checklist-card").dataset.complete = String(state.complete);
}

async function tick(item, done, box) {
  box.disabled = true;
  try {
    render(await api(`/api/admissions/${admissionId}/discharge-checklist`, { method: "PUT", body: { item, done } }));
  } catch (err) {
    box.checked = !done; // not recorded: the box says what the record says
    showError(err);
  } finally {
    box.disabled = false;
  }
}

async function load() {
  try {
    const settings = await loadSettings();
    tz = (settings && settings.ward_tz) || tz;
    const bed = await api(`/api/beds/${encodeURIComponent(bedId)}`);
    admissionId = bed.admission ? bed.admission.admission_id : null;
    if (admissionId === null) {
      document.getElementById("checklist-card").hidden = true;
      return;
    }
    document.getElementById("discharge-report").href = `/discharge/${admissionId}`;
    render(await api(`/api/admissions/${admissionId}/discharge-checklist`));
  } catch (err) {
    showError(err);
  }
}

load();
// bed.js shows the discharge card exactly while a baby is admitted: when that changes (a discharge,
// a new admission) the checklist follows, so a closed stay's boxes are never left to tick.
new MutationObserver(() => load()).observe(document.getElementById("discharge-card"), {
  attributes: true,
  attributeFilter: ["hidden"],
});
