// The ward screen's stream: /ws/ward's snapshot and updates into the model, the connection pill,
// and failing loudly. When the stream has been lost (or never came) for LOST_AFTER_MS the screen
// says monitoring is lost and alarms are unknown — never "No alarms" — greys the tiles and sounds
// the failure signal until the stream is back.
import { WardStream, formatDuration } from "../common.js";
import { onAlarmEvent, renderAlarmBar, resetAlarms } from "./alarms.js";
import { $, hooks, setText, ward } from "./model.js";
import { refreshAudio, setMonitoringLost } from "./sound.js";
import { mergeTile, reloadTrends, removeBed, renderTile, sortBeds } from "./tiles.js";

/** The stream's own watchdog calls it lost after 3 s without a message (a heartbeat comes every
 *  second); 2 s more and the screen goes loud: about 5 s from the last message to the alarm. */
const LOST_AFTER_MS = 2000;

let stream = null;
/** Whether the stream was ever lost: coming back then reloads the sparklines (minutes missed). */
let lostOnce = false;
let loud = false;

function onSnapshot(msg) {
  ward.clock.sync(msg.now_us);
  if (msg.ward_name) {
    setText($("ward-name"), msg.ward_name);
    document.title = `${msg.ward_name} · kmc-monitor`;
  }
  const ids = new Set((msg.beds || []).map((t) => t.bed_id));
  for (const id of [...ward.beds.keys()]) if (!ids.has(id)) removeBed(id);
  for (const tile of msg.beds || []) mergeTile(tile, msg.now_us);
  sortBeds();
  renderUnassigned(msg.unassigned_wraps);
  // A snapshot replaces everything, alarm details included (what happened while away is unknown).
  resetAlarms();
  refreshAudio();
  hooks.renderAll();
}

function onMessage(msg) {
  if (msg.type === "update") {
    ward.clock.sync(msg.now_us);
    for (const tile of msg.beds || []) mergeTile(tile, msg.now_us);
    if (Array.isArray(msg.unassigned_wraps)) renderUnassigned(msg.unassigned_wraps);
    renderAlarmBar();
  } else if (msg.type === "alarm") {
    onAlarmEvent(msg, renderTile);
    refreshAudio(); // what this screen sounds is the server's AlarmBoard's decision
  }
}

function renderUnassigned(list) {
  const el = $("unassigned");
  if (!Array.isArray(list)) return;
  el.hidden = list.length === 0;
  setText(el, list.length === 1 ? "1 wrap heard on no bed" : `${list.length} wraps heard on no bed`);
}

function onStatus(state, info) {
  ward.stream = state;
  if (state === "live") ward.lostAt = null;
  else if (ward.lostAt === null) ward.lostAt = performance.now();
  const box = $("connection");
  box.dataset.state = state;
  document.body.dataset.stream = state;
  $("signed-out").hidden = state !== "signed-out";
  if (state === "live") {
    // Back after a loss: the sparklines missed minutes too.
    if (info && info.attempt === 0 && lostOnce) reloadTrends();
  } else if (state === "lost") {
    lostOnce = true;
  }
  renderConnection();
  hooks.renderAll();
}

/** The connection pill and, past LOST_AFTER_MS without the stream, the loud state. */
export function renderConnection() {
  const state = ward.stream;
  const downMs = ward.lostAt === null ? 0 : performance.now() - ward.lostAt;
  const down = formatDuration(downMs / 1000);
  const text = {
    connecting: "Connecting…",
    live: "Live",
    lost: `Connection lost ${down}: reconnecting…`,
    "signed-out": "Signed out",
  }[state];
  setText($("connection-text"), text || state);
  const nowLoud = state !== "live" && downMs >= LOST_AFTER_MS;
  document.body.dataset.monitoring = nowLoud ? "lost" : state === "live" ? "live" : "uncertain";
  if (nowLoud !== loud) {
    loud = nowLoud;
    $("monitoring-lost").hidden = !loud;
    setMonitoringLost(loud);
    renderAlarmBar();
  }
  if (loud) {
    const why = state === "signed-out" ? "This screen is signed out" : "No data from the ward service";
    setText(
      $("lost-text"),
      `${why} for ${down}. Alarms raised meanwhile are not shown and do not sound here; tiles show old values. Check the babies directly.`,
    );
  }
}

export function startStream() {
  ward.lostAt = performance.now(); // not live yet: a screen that never connects goes loud too
  stream = new WardStream("/ws/ward", { onSnapshot, onMessage, onStatus });
  stream.start();
  return stream;
}
