// The ward screen (/ward): wires its parts together and ticks once a second.
//
//   ward/model.js    what the screen knows (tiles, alarm details, server clock, settings)
//   ward/tiles.js    a tile per bed, the self-sizing grid and its pages, the sparklines
//   ward/alarms.js   the alarm bar, the all-alarms list, tile alarm lines, acknowledging
//   ward/sound.js    alarm sounds, the monitoring-lost signal, the audio pause, sound-off banner
//   ward/stream.js   /ws/ward into the model, the connection pill, failing loudly
//   ward/details.js  a bed's page in an overlay, so sound and stream go on behind it
//   ward/flash.js    the flashing of alarms and banners (one timer, not CSS animations)
//
// Names, formatters, the alarm ranking and the API helpers are common.js's, shared by every page.
import { api, formatInZone, loadSettings, loadVocabulary, showError, wardTime } from "./common.js";
import { fetchAlarms, onAckClick, renderAlarmBar, setupAlarms } from "./ward/alarms.js";
import { openBed, setupDetails } from "./ward/details.js";
import { startFlashing } from "./ward/flash.js";
import { $, hooks, monitoring, setText, settings, ward } from "./ward/model.js";
import { AUDIO_POLL_MS, refreshAudio, renderPause, renderSound, setupSound } from "./ward/sound.js";
import { renderConnection, startStream } from "./ward/stream.js";
import { layout, onOpen, renderPager, renderTile } from "./ward/tiles.js";

function onApiError(err) {
  if (err && err.signedOut) {
    ward.stream = "signed-out";
    $("signed-out").hidden = false;
    return;
  }
  // No answer while the stream is down: the monitoring-lost banner already says so, loudly.
  if (err && err.status === 0 && !monitoring()) return;
  showError(err);
}

function renderClock() {
  setText($("clock"), formatInZone(ward.clock.nowUs(), wardTime.tz, { hour: "2-digit", minute: "2-digit" }));
  setText($("clock-zone"), wardTime.tz === "UTC" ? "UTC" : wardTime.tz.split("/").pop().replace(/_/g, " "));
}

function renderAll() {
  for (const entry of ward.beds.values()) renderTile(entry);
  renderAlarmBar();
  renderPager();
  renderClock();
  renderPause();
  renderSound();
  renderConnection();
}

async function applySettings() {
  try {
    const s = await loadSettings();
    Object.assign(settings, s, { clinical: { ...settings.clinical, ...s.clinical }, alarms: { ...settings.alarms, ...s.alarms } });
  } catch (err) {
    onApiError(err);
  }
  renderAll();
}

// The band and alarm words are the service's: fetched before the first tile is drawn (a page that
// cannot fetch them says so and goes on with the API's spellings).
await loadVocabulary();

hooks.renderAll = renderAll;
hooks.refreshAudio = refreshAudio;
hooks.onApiError = onApiError;

$("beds").addEventListener("click", onAckClick, { capture: true });
onOpen(openBed);
setupAlarms();
setupSound();
setupDetails();
startFlashing();
applySettings();
// A ward not set up yet (issue #14): its admin goes to the first-run page first.
api("/api/ward-admin/status")
  .then((s) => {
    if (s.setup_needed && s.role === "admin") window.location.replace("/setup");
  })
  .catch(() => null);
startStream();
fetchAlarms();
setInterval(renderAll, 1000);
setInterval(refreshAudio, AUDIO_POLL_MS);
window.addEventListener("resize", () => {
  layout();
  renderAlarmBar();
});
renderAll();
