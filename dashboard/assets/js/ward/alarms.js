// The ward screen's alarms: the bar across the top (led by the most urgent active patient alarm),
// the all-alarms list it opens (mouse, touch, keyboard), a tile's own alarm line, and
// acknowledging. Ranking is common.js's compareAlarms: active before ended, higher priority first,
// the baby's before the equipment's at equal priority, newest first.
import {
  ALARM_STATE_NAMES,
  PRIORITY_MARKS,
  PRIORITY_NAMES,
  alarmKindName,
  api,
  compareAlarms,
  formatDuration,
  isTechnical,
  leadAlarm,
} from "../common.js";
import { confirmed } from "../confirm.js";
import { $, US, hooks, monitoring, setText, ward } from "./model.js";

let alarmFetch = null;

function alarmAgeS(a) {
  return a.raised_us == null ? null : (ward.clock.nowUs() - a.raised_us) / US;
}

/** "HIGH · Severe hypothermia" (and its age when asked). */
export function alarmText(a, withAge = false) {
  const parts = [PRIORITY_NAMES[a.priority] || String(a.priority).toUpperCase(), alarmKindName(a.kind)];
  const age = alarmAgeS(a);
  if (withAge && age != null) parts.push(formatDuration(age));
  return parts.join(" · ");
}

function alarmStateText(a) {
  const bits = [];
  if (isTechnical(a)) bits.push("technical");
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

export function isAudible(a) {
  return a.state === "active" || a.state === "latched";
}

/** Where an alarm is: "Bed 3 · Nguyễn Thị Lan", "Wrap W7 (no bed)" or "Ward". */
export function whereText(a) {
  // The API says what an alarm is about: the ward (storage, HL7 link) has neither bed nor wrap.
  if (a.subject === "ward") return "Ward";
  if (a.bed_id == null) return a.wrap_id ? `Wrap ${a.wrap_id} (no bed)` : "Ward";
  const entry = ward.beds.get(a.bed_id);
  if (!entry) return a.bed_id;
  const t = entry.tile;
  return [t.label || t.bed_id, t.display_name].filter(Boolean).join(" · ");
}

/**
 * One alarm as a list item (bar, all-alarms list and tile share it): mark, words, acknowledge
 * button. Items are updated in place, never rebuilt each second: a nurse's tap must not land on a
 * replaced button, and an alarm's colour must not blink off between two renders.
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
  const cls = `alarm prio-${a.priority} state-${a.state} cat-${isTechnical(a) ? "technical" : "patient"}`;
  if (li.className !== cls) li.className = cls;
  li.dataset.alarmId = String(a.alarm_id);
  li.dataset.priority = a.priority;
  li.dataset.state = a.state;
  li.dataset.category = isTechnical(a) ? "technical" : "patient";
  setText(li.querySelector(".alarm-mark"), PRIORITY_MARKS[a.priority] || "!");
  // The bar and the list say it all: priority, condition and bed first (read from across the
  // room), then how long, and who acknowledged it. A tile names the condition beside its mark.
  const head = compact ? alarmKindName(a.kind) : `${alarmText(a)}${where ? " — " + where : ""}`;
  setText(li.querySelector(".alarm-text"), head);
  const state = alarmStateText(a);
  const age = alarmAgeS(a);
  const subText = compact ? "" : [age == null ? "" : formatDuration(age), state, a.detail].filter(Boolean).join(" · ");
  const sub = li.querySelector(".alarm-sub");
  setText(sub, subText);
  sub.hidden = !subText;
  if (compact) li.title = [alarmText(a, true), state].filter(Boolean).join(" · ");
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

/** A tile's alarms, ranked, with the details the alarm map knows. */
export function tileAlarms(tile) {
  const list = (tile.alarms || []).map((a) => ({ bed_id: tile.bed_id, ...(ward.alarmDetails.get(a.alarm_id) || {}), ...a }));
  if (list.some((a) => !ward.alarmDetails.has(a.alarm_id))) fetchAlarms();
  return list.sort(compareAlarms);
}

/** A tile's alarm line: its most urgent alarm and "+N" (the all-alarms list has them all). */
export function renderTileAlarms(entry, list) {
  const { el } = entry;
  const ul = el.querySelector(".tile-alarms");
  let more = ul.querySelector(".alarm-more-tile");
  if (list.length > 1) {
    if (!more) {
      more = document.createElement("li");
      more.className = "alarm-more-tile";
    }
    setText(more, `+${list.length - 1}`);
    more.title = list.slice(1).map((a) => alarmText(a, true)).join("; ");
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

/** Every alarm the screen knows, ranked: the tiles' (current state) plus bed-less ones. */
export function rankedAlarms() {
  const seen = new Map();
  for (const { tile } of ward.beds.values()) {
    for (const a of tile.alarms || []) {
      seen.set(a.alarm_id, { ...(ward.alarmDetails.get(a.alarm_id) || { bed_id: tile.bed_id }), ...a });
    }
  }
  for (const a of ward.alarmDetails.values()) {
    if (!seen.has(a.alarm_id) && a.bed_id == null && a.state !== "cleared") seen.set(a.alarm_id, a);
  }
  return [...seen.values()].sort(compareAlarms);
}

function countsText(list) {
  return ["high", "medium", "low"]
    .map((p) => [p, list.filter((a) => a.priority === p).length])
    .filter(([, n]) => n)
    .map(([p, n]) => `${n} ${PRIORITY_MARKS[p]}`)
    .join(" ");
}

/** The bar: the lead alarm, in full, and the button to every alarm. While monitoring is lost the
 *  bar never says "No alarms": what the service raised meanwhile is unknown. */
export function renderAlarmBar() {
  const list = rankedAlarms();
  const lead = leadAlarm(list);
  const ol = $("alarm-list");
  syncAlarmItems(ol, lead ? [lead] : [], (a) => ({ where: whereText(a) }));
  const live = monitoring();
  $("alarm-none").hidden = list.length > 0 || !live;
  const all = $("alarm-all");
  all.hidden = list.length === 0;
  const active = list.filter((a) => a.state === "active").length;
  setText(
    $("alarm-all-text"),
    list.length === 0 ? "All alarms" : `All ${list.length} alarms${active ? ` · ${active} active` : ""} · ${countsText(list)}`,
  );
  all.dataset.priority = lead ? lead.priority : "none";
  document.body.dataset.alarm = lead ? lead.priority : "none";
  if ($("alarm-dialog").open) renderAllAlarms(list);
}

function renderAllAlarms(list = rankedAlarms()) {
  syncAlarmItems($("alarm-all-list"), list, (a) => ({ where: whereText(a) }));
  $("alarm-all-none").hidden = list.length > 0;
}

export function fetchAlarms() {
  if (alarmFetch) return alarmFetch;
  alarmFetch = api("/api/alarms")
    .then((list) => {
      for (const a of list) ward.alarmDetails.set(a.alarm_id, a);
      hooks.renderAll();
    })
    .catch((err) => hooks.onApiError(err))
    .finally(() => {
      // At most one request at a time, and not more than every 2 s when ids keep being unknown.
      setTimeout(() => (alarmFetch = null), 2000);
    });
  return alarmFetch;
}

/** Forget the pending fetch (a snapshot replaced everything) and ask again. */
export function resetAlarms() {
  ward.alarmDetails.clear();
  alarmFetch = null;
  fetchAlarms();
}

async function acknowledge(alarmId, button) {
  const label = button.textContent;
  button.disabled = true;
  button.textContent = "…";
  try {
    // Where the ward has nurses, the nurse confirms with her initials and PIN (confirm.js).
    let where = "";
    for (const entry of ward.beds.values()) {
      if (entry.tile.alarms && entry.tile.alarms.some((x) => x.alarm_id === alarmId)) {
        where = ` on ${entry.tile.label}${entry.tile.display_name ? ` (${entry.tile.display_name})` : ""}`;
      }
    }
    const a = await confirmed(`/api/alarms/${encodeURIComponent(alarmId)}/ack`, { what: `Acknowledge the alarm${where}` });
    ward.alarmDetails.set(a.alarm_id, a);
    // Reflect it at once; the stream's next tile update confirms it.
    for (const entry of ward.beds.values()) {
      const t = entry.tile.alarms && entry.tile.alarms.find((x) => x.alarm_id === a.alarm_id);
      if (t) {
        t.state = a.state;
        t.priority = a.priority;
      }
    }
    hooks.renderAll();
    hooks.refreshAudio();
  } catch (err) {
    button.disabled = false;
    button.textContent = label;
    hooks.onApiError(err);
  }
}

/** Click handler for any container holding alarm items (tiles, bar, list). */
export function onAckClick(ev) {
  const button = ev.target.closest("button[data-ack]");
  if (!button) return false;
  ev.preventDefault();
  ev.stopPropagation();
  acknowledge(Number(button.dataset.ack), button);
  return true;
}

/** An alarm event from the stream: newer than the tile that carried the alarm. */
export function onAlarmEvent(msg, renderTile) {
  const a = msg.alarm;
  if (!a) return;
  if (msg.action === "cleared" || a.state === "cleared") ward.alarmDetails.delete(a.alarm_id);
  else ward.alarmDetails.set(a.alarm_id, a);
  const entry = a.bed_id != null ? ward.beds.get(a.bed_id) : null;
  if (entry) {
    const list = (entry.tile.alarms || []).filter((x) => x.alarm_id !== a.alarm_id);
    if (a.state !== "cleared") list.push({ alarm_id: a.alarm_id, kind: a.kind, priority: a.priority, state: a.state });
    entry.tile = { ...entry.tile, alarms: list };
    renderTile(entry);
  }
  renderAlarmBar();
}

/** Wire the bar, its button and the all-alarms dialog. */
export function setupAlarms() {
  $("alarm-list").addEventListener("click", onAckClick);
  $("alarm-all-list").addEventListener("click", onAckClick);
  const dialog = $("alarm-dialog");
  const open = () => {
    renderAllAlarms();
    if (!dialog.open) dialog.showModal();
  };
  $("alarm-all").addEventListener("click", open);
  // The lead alarm itself opens the list too (a tap anywhere on it but its Ack button).
  $("alarm-list").addEventListener("click", (ev) => {
    if (!ev.defaultPrevented && ev.target.closest(".alarm")) open();
  });
}
