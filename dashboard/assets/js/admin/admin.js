// Ward administration (issue #14): beds, admissions, wraps and nurses from the screen.
//
// Reads the ward from the staff API and refreshes after every action and every 5 s (wraps heard
// change on their own). Each action's confirmation names the baby it concerns; an action the
// service can undo (a wrap taken off, a swap) shows an Undo button for as long as the service
// allows it. Admit and discharge go through `confirmed()`, which asks for a nurse's initials and
// PIN where the ward has nurses. Nothing is decided here that the service does not check again.
import { api, h, loadSettings, formatInZone, wardTime } from "../common.js";
import { confirmed } from "../confirm.js";

const $ = (id) => document.getElementById(id);
const state = {
  beds: [],
  wraps: { registered: [], unregistered: [] },
  admissions: [],
  role: null,
  undo: null,
  choices: new Map(),
};

function say(text, error = false) {
  const el = $("status");
  el.textContent = text;
  el.classList.toggle("error", error);
}

async function act(fn) {
  try {
    const out = await fn();
    await refresh();
    return out;
  } catch (e) {
    say(e.message, true);
    return undefined;
  }
}

function bedName(bedId) {
  const b = state.beds.find((x) => x.bed_id === bedId);
  const label = b ? b.label : bedId;
  return b && b.display_name ? `${b.display_name} (${label})` : `${label} (no baby)`;
}

function option(value, text, selected = false) {
  return h("option", { value, selected }, text);
}

function offerUndo(undo) {
  state.undo = undo;
  $("undo-bar").hidden = !undo;
  if (!undo) return;
  $("undo-text").textContent = `You can ${undo.what} for a minute.`;
  const left = undo.until_t * 1000 - Date.now();
  setTimeout(() => {
    if (state.undo === undo) offerUndo(null);
  }, Math.max(1000, Math.min(left, 60000)));
}

// Rendering ------------------------------------------------------------------------------------
function renderSelects() {
  const free = state.beds.filter((b) => b.admission_id == null);
  const keep = $("admit-bed").value;
  $("admit-bed").replaceChildren(...free.map((b) => option(b.bed_id, `${b.label} (${b.bed_id})`, b.bed_id === keep)));
  const spare = state.wraps.registered.filter((w) => w.bed_id == null);
  const keepWrap = $("admit-wrap").value;
  $("admit-wrap").replaceChildren(option("", "none yet"), ...spare.map((w) => option(w.wrap_id, w.wrap_id, w.wrap_id === keepWrap)));
  for (const id of ["swap-a", "swap-b"]) {
    const was = $(id).value;
    $(id).replaceChildren(...state.beds.map((b) => option(b.bed_id, `${bedName(b.bed_id)} · ${b.wrap_id || "no wrap"}`, b.bed_id === was)));
  }
  if (!$("swap-b").value || $("swap-b").value === $("swap-a").value) {
    const other = state.beds.find((b) => b.bed_id !== $("swap-a").value);
    if (other) $("swap-b").value = other.bed_id;
  }
}

function renderBabies() {
  const rows = state.admissions.map((a) => {
    const bed = state.beds.find((b) => b.bed_id === a.bed_id);
    const edit = h("button", { type: "button", class: "edit", "data-admission": a.admission_id }, "Correct");
    edit.addEventListener("click", () => openEdit(a));
    const out = h("button", { type: "button", class: "discharge", "data-admission": a.admission_id }, "Discharge");
    out.addEventListener("click", () => discharge(a));
    return h("tr", { "data-bed-id": a.bed_id },
      h("td", {}, bed ? bed.label : a.bed_id),
      h("td", { class: "name" }, a.display_name),
      h("td", {}, a.hospital_number || "—"),
      h("td", {}, `${a.daily_goal_s / 3600} h`),
      h("td", { class: "wrap" }, (bed && bed.wrap_id) || "no wrap"),
      h("td", {}, edit, out));
  });
  $("babies").tBodies[0].replaceChildren(...rows);
}

/** Keep what the nurse chose in a table's select across the periodic refresh. */
function chosen(key, select) {
  const was = state.choices.get(key);
  if (was && [...select.options].some((o) => o.value === was)) select.value = was;
  select.addEventListener("change", () => state.choices.set(key, select.value));
  return select;
}

function renderWraps() {
  const spare = state.wraps.registered.filter((w) => w.bed_id == null);
  const emptyBeds = state.beds.filter((b) => !b.wrap_id);
  const rows = state.wraps.registered.map((w) => {
    const actions = [];
    if (w.bed_id == null) {
      const sel = chosen(`to-bed:${w.wrap_id}`, h("select", { class: "to-bed", "aria-label": `Bed for wrap ${w.wrap_id}` },
        ...emptyBeds.map((b) => option(b.bed_id, bedName(b.bed_id)))));
      const put = h("button", { type: "button", class: "assign" }, "Put on bed");
      put.addEventListener("click", () => assign(w.wrap_id, sel.value, false));
      actions.push(sel, put);
    } else {
      const sel = chosen(`spare:${w.wrap_id}`, h("select", { class: "spare", "aria-label": `Spare wrap for ${w.wrap_id}` },
        ...spare.map((x) => option(x.wrap_id, x.wrap_id))));
      const rep = h("button", { type: "button", class: "replace" }, "Replace with");
      rep.addEventListener("click", () => assign(sel.value, w.bed_id, true, w.wrap_id));
      const off = h("button", { type: "button", class: "unassign" }, "Take off");
      off.addEventListener("click", () => unassign(w.bed_id, w.wrap_id));
      if (spare.length) actions.push(rep, sel);
      actions.push(off);
    }
    const heard = w.last_heard_s == null ? "never" : `${Math.round(w.last_heard_s)} s ago`;
    return h("tr", { "data-wrap-id": w.wrap_id },
      h("td", {}, w.wrap_id),
      h("td", { class: "bed" }, w.bed_id ? bedName(w.bed_id) : "—"),
      h("td", {}, heard),
      h("td", {}, w.battery_pct == null ? "—" : `${Math.round(w.battery_pct)} %`),
      h("td", {}, ...actions));
  });
  $("wraps").tBodies[0].replaceChildren(...rows);
  const heard = state.wraps.unregistered.map((u) => {
    const b = h("button", { type: "button" }, "Register…");
    b.addEventListener("click", () => {
      $("wrap-id").value = u.wrap_id;
      $("wrap-mac").focus();
    });
    return h("li", {}, `${u.wrap_id} · heard ${Math.round(u.last_heard_s)} s ago `, b);
  });
  $("unregistered").replaceChildren(...(heard.length ? heard : [h("li", { class: "muted" }, "none")]));
}

function renderBeds() {
  const rows = state.beds.map((b, i) => {
    const label = h("input", { value: b.label, "aria-label": `Label of bed ${b.bed_id}`, maxlength: "64" });
    const save = h("button", { type: "button", class: "rename" }, "Rename");
    save.addEventListener("click", () =>
      act(async () => {
        await api(`/api/beds/${encodeURIComponent(b.bed_id)}`, { method: "PATCH", body: { label: label.value } });
        say(`Bed ${b.bed_id} is now shown as ${label.value}`);
      }));
    const up = h("button", { type: "button", class: "up", disabled: i === 0, "aria-label": `Move ${b.label} up` }, "↑");
    const down = h("button", { type: "button", class: "down", disabled: i === state.beds.length - 1, "aria-label": `Move ${b.label} down` }, "↓");
    up.addEventListener("click", () => move(i, -1));
    down.addEventListener("click", () => move(i, 1));
    const remove = h("button", { type: "button", class: "remove", disabled: b.admission_id != null || !!b.wrap_id }, "Remove");
    remove.addEventListener("click", () => {
      if (!window.confirm(`Remove ${b.label} (${b.bed_id}) from the ward? Its history is kept.`)) return;
      act(async () => {
        await api(`/api/beds/${encodeURIComponent(b.bed_id)}`, { method: "DELETE" });
        say(`${b.label} removed`);
      });
    });
    return h("tr", { "data-bed-id": b.bed_id }, h("td", {}, b.bed_id), h("td", {}, label, save), h("td", {}, up, down), h("td", {}, remove));
  });
  $("beds").tBodies[0].replaceChildren(...rows);
}

async function renderNurses() {
  if (state.role !== "admin") {
    $("nurses").closest("section").hidden = true;
    return;
  }
  const nurses = await api("/api/nurses");
  $("nurses").tBodies[0].replaceChildren(...nurses.map((n) => {
    const pin = h("button", { type: "button" }, "New PIN");
    pin.addEventListener("click", () => {
      const value = window.prompt(`New PIN for ${n.signature} (4 to 6 digits)`);
      if (value) act(async () => {
        await api(`/api/nurses/${n.nurse_id}`, { method: "PATCH", body: { pin: value } });
        say(`${n.signature} has a new PIN`);
      });
    });
    const rm = h("button", { type: "button" }, "Remove");
    rm.addEventListener("click", () => {
      if (window.confirm(`Remove ${n.signature}? Her PIN stops working; what she did keeps her name.`))
        act(async () => {
          await api(`/api/nurses/${n.nurse_id}`, { method: "DELETE" });
          say(`${n.signature} removed`);
        });
    });
    return h("tr", {}, h("td", {}, n.name), h("td", {}, n.initials), h("td", {}, pin, rm));
  }));
  const audit = await api("/api/ward-admin/audit");
  $("audit").tBodies[0].replaceChildren(...audit.slice(0, 20).map((x) =>
    h("tr", {}, h("td", {}, formatInZone(x.at_t * 1e6, wardTime.tz, { dateStyle: "short", timeStyle: "short" })),
      h("td", {}, x.who), h("td", {}, x.action.replaceAll("_", " ")), h("td", {}, x.detail || x.subject))));
}

async function refresh() {
  const [beds, wraps, admissions] = await Promise.all([api("/api/beds"), api("/api/wraps"), api("/api/admissions")]);
  state.beds = beds;
  state.wraps = wraps;
  state.admissions = admissions;
  renderSelects();
  renderBabies();
  renderWraps();
  renderBeds();
  await renderNurses();
  document.body.dataset.ready = "1";
}

// Actions --------------------------------------------------------------------------------------
function move(i, step) {
  const order = state.beds.map((b) => b.bed_id);
  const [id] = order.splice(i, 1);
  order.splice(i + step, 0, id);
  act(async () => {
    await api("/api/beds/order", { method: "PUT", body: { order } });
    say(`Beds reordered: ${order.join(", ")}`);
  });
}

function assign(wrapId, bedId, replace, oldWrap) {
  if (!wrapId || !bedId) {
    say(replace ? "Register or free a spare wrap first" : "Choose a bed without a wrap", true);
    return;
  }
  const what = replace
    ? `Replace wrap ${oldWrap} on ${bedName(bedId)} with wrap ${wrapId}?`
    : `Put wrap ${wrapId} on ${bedName(bedId)}?`;
  if (!window.confirm(what)) return;
  act(async () => {
    const out = await api(`/api/beds/${encodeURIComponent(bedId)}/wrap`, { method: "POST", body: { wrap_id: wrapId, replace } });
    say(out.done);
  });
}

function unassign(bedId, wrapId) {
  if (!window.confirm(`Take wrap ${wrapId} off ${bedName(bedId)}? The screen stops showing this baby's temperature.`)) return;
  act(async () => {
    const out = await api(`/api/beds/${encodeURIComponent(bedId)}/wrap`, { method: "DELETE" });
    say(out.done);
    offerUndo(out.undo);
  });
}

function discharge(a) {
  const bed = state.beds.find((b) => b.bed_id === a.bed_id);
  const where = bed ? bed.label : a.bed_id;
  if (!window.confirm(`Discharge ${a.display_name} from ${where}? The family link stops working and the wrap comes off.`)) return;
  act(async () => {
    const out = await confirmed(`/api/admissions/${a.admission_id}/discharge`, { body: {}, what: `Discharge ${a.display_name}` });
    say(`${out.display_name} discharged by ${out.discharged_by}`);
  });
}

let editing = null;
function openEdit(a) {
  editing = a;
  $("edit-form").hidden = false;
  $("edit-title").textContent = `Correct ${a.display_name}`;
  $("edit-name").value = a.display_name;
  $("edit-number").value = a.hospital_number || "";
  $("edit-goal").value = a.daily_goal_s / 3600;
  $("edit-name").focus();
}

/** How far the ward's clock is ahead of UTC at the instant ``ms`` (milliseconds). */
function wardOffsetMs(ms) {
  const f = new Intl.DateTimeFormat("en-US", {
    timeZone: wardTime.tz, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
  const v = Object.fromEntries(f.formatToParts(new Date(ms)).map((p) => [p.type, p.value]));
  return Date.UTC(+v.year, +v.month - 1, +v.day, +v.hour % 24, +v.minute, +v.second) - ms;
}

/** The birth date and time typed (on the ward's clock, whatever the browser's zone), in epoch s. */
function birthT() {
  const d = $("admit-birth-date").value;
  if (!d) return null;
  const asUtc = Date.parse(`${d}T${$("admit-birth-time").value || "00:00"}:00Z`);
  return (asUtc - wardOffsetMs(asUtc)) / 1000;
}

function wire() {
  $("admit-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const goal = $("admit-goal").value;
    const body = {
      bed_id: $("admit-bed").value,
      display_name: $("admit-name").value.trim(),
      hospital_number: $("admit-number").value.trim() || null,
      gestational_age_weeks: Number($("admit-ga-weeks").value),
      gestational_age_days: Number($("admit-ga-days").value || 0),
      birth_weight_g: Number($("admit-weight").value),
      daily_goal_s: goal ? Number(goal) * 3600 : null,
      wrap_id: $("admit-wrap").value || null,
      birth_t: birthT(),
    };
    act(async () => {
      const out = await confirmed("/api/admissions", { body, what: `Admit ${body.display_name} to ${(state.beds.find((b) => b.bed_id === body.bed_id) || { label: body.bed_id }).label}` });
      say(`${out.display_name} admitted to ${bedName(out.bed_id)} by ${out.admitted_by}`);
      $("admit-form").reset();
    });
  });
  $("edit-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const a = editing;
    if (!a) return;
    act(async () => {
      const out = await api(`/api/admissions/${a.admission_id}`, {
        method: "PATCH",
        body: { display_name: $("edit-name").value.trim(), hospital_number: $("edit-number").value.trim() || null, daily_goal_s: Number($("edit-goal").value) * 3600 },
      });
      say(`${out.display_name}'s details corrected`);
      $("edit-form").hidden = true;
    });
  });
  $("edit-cancel").addEventListener("click", () => ($("edit-form").hidden = true));
  $("swap-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const a = $("swap-a").value;
    const b = $("swap-b").value;
    if (!window.confirm(`Swap the wraps of ${bedName(a)} and ${bedName(b)}?`)) return;
    act(async () => {
      const out = await api("/api/beds/swap-wraps", { method: "POST", body: { bed_a: a, bed_b: b } });
      say(out.done);
      offerUndo(out.undo);
    });
  });
  $("undo").addEventListener("click", () => {
    const undo = state.undo;
    offerUndo(null);
    if (undo) act(async () => say((await api(`/api/ward-admin/undo/${encodeURIComponent(undo.undo_id)}`, { method: "POST" })).done));
  });
  $("bed-form").addEventListener("submit", (e) => {
    e.preventDefault();
    act(async () => {
      const out = await api("/api/beds", { method: "POST", body: { bed_id: $("bed-id").value.trim(), label: $("bed-label").value.trim() || null } });
      say(`${out.label} added`);
      $("bed-form").reset();
    });
  });
  $("nurse-form").addEventListener("submit", (e) => {
    e.preventDefault();
    act(async () => {
      const out = await api("/api/nurses", {
        method: "POST",
        body: { name: $("nurse-name").value.trim(), initials: $("nurse-initials").value.trim(), pin: $("nurse-pin").value },
      });
      say(`${out.signature} added`);
      $("nurse-form").reset();
    });
  });
  $("label-text").addEventListener("input", () => fillFromLabel($("label-text").value));
  $("register-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const body = { wrap_id: $("wrap-id").value.trim(), mac: $("wrap-mac").value.trim(), key: $("wrap-key").value.trim() || null };
    act(async () => {
      const out = await api("/api/wraps", { method: "POST", body });
      say(`Wrap ${out.wrap_id} registered${out.has_key ? "" : " without a key"}: put it on a bed`);
      $("register-form").reset();
    });
  });
  $("scan").addEventListener("click", scan);
}

// The wrap's label: KMCWRAP1;ID=…;MAC=…;KEY=…; (kmc_monitor/service/wrap_label.py) --------------
export function parseLabel(text) {
  const parts = text.trim().split(";").filter(Boolean);
  if (parts[0] !== "KMCWRAP1") return null;
  const f = {};
  for (const p of parts.slice(1)) {
    const i = p.indexOf("=");
    if (i > 0) f[p.slice(0, i).trim().toUpperCase()] = p.slice(i + 1).trim();
  }
  if (!f.ID || !/^[0-9A-Fa-f]{12}$/.test((f.MAC || "").replace(/[:-]/g, ""))) return null;
  const mac = f.MAC.replace(/[:-]/g, "").toUpperCase().match(/../g).join(":");
  return { wrapId: f.ID, mac, key: f.KEY || "" };
}

function fillFromLabel(text) {
  if (!text.trim()) return;
  const label = parseLabel(text);
  if (!label) {
    $("scan-note").textContent = "That is not a wrap label (it starts with KMCWRAP1;)";
    return;
  }
  $("wrap-id").value = label.wrapId;
  $("wrap-mac").value = label.mac;
  $("wrap-key").value = label.key;
  $("scan-note").textContent = `Label of wrap ${label.wrapId} read: check and register`;
}

async function scan() {
  if (!("BarcodeDetector" in window) || !navigator.mediaDevices) {
    $("scan-note").textContent = "This browser cannot read QR codes: type or paste the text printed under the code.";
    $("label-text").focus();
    return;
  }
  const video = $("scan-video");
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" } });
  } catch (e) {
    $("scan-note").textContent = `No camera (${e.name}): type or paste the label's text.`;
    return;
  }
  const detector = new window.BarcodeDetector({ formats: ["qr_code"] });
  video.srcObject = stream;
  video.hidden = false;
  await video.play();
  $("scan-note").textContent = "Hold the wrap's label in front of the camera…";
  const stop = () => {
    stream.getTracks().forEach((t) => t.stop());
    video.hidden = true;
  };
  const until = Date.now() + 30000;
  const look = async () => {
    if (Date.now() > until) {
      stop();
      $("scan-note").textContent = "No label seen: try again, or type its text.";
      return;
    }
    const codes = await detector.detect(video).catch(() => []);
    const hit = codes.find((c) => parseLabel(c.rawValue));
    if (hit) {
      stop();
      $("label-text").value = hit.rawValue;
      fillFromLabel(hit.rawValue);
      return;
    }
    setTimeout(look, 250);
  };
  look();
}

async function start() {
  wire();
  await loadSettings().catch(() => null);
  const status = await api("/api/ward-admin/status");
  $("ward-name").textContent = status.ward_name;
  state.role = status.role;
  $("role").textContent = `signed in as ${status.role}${status.nurses_required ? " · actions confirmed by a nurse's PIN" : ""}`;
  if (status.setup_needed && status.role === "admin") {
    window.location.replace("/setup");
    return;
  }
  // What this device's role may not do is not offered (the service would refuse it anyway).
  if (status.role !== "admin") {
    for (const id of ["beds-h", "audit-h"]) $(id).closest("section").hidden = true;
    $("register-h").hidden = true;
    $("register-form").hidden = true;
  }
  if (status.role === "screen") $("admit-h").closest("section").hidden = true;
  if (status.network.warning) {
    $("net-warning").textContent = status.network.warning;
    $("net-warning").hidden = false;
  }
  await refresh();
  // Wraps heard change on their own; the lists are read again every 5 s, but not while someone is
  // typing or choosing (a re-drawn table would lose what they typed).
  setInterval(() => {
    const busy = document.activeElement && ["INPUT", "SELECT", "TEXTAREA"].includes(document.activeElement.tagName);
    if (!busy && !document.querySelector("dialog[open]")) refresh().catch((e) => say(e.message, true));
  }, 5000);
}

start().catch((e) => say(e.message, true));
