// What the ward screen knows, in one place: the beds' tiles, the alarms' details, the server's
// clock, the ward's settings and whether the stream is live. The other ward modules read and
// update it; none keeps its own copy.
import { ServerClock } from "../common.js";

export const US = 1e6;

/** The ward's settings as `GET /api/settings` gives them, with the defaults of the clinical rules
 *  until the answer arrives (so the screen never waits on them to show a tile). */
export const settings = {
  ward_name: "Ward",
  ward_tz: "UTC",
  clock_format: "24h",
  alarms: { audio_pause_s: 120, escalation_s: 300 },
  clinical: {
    cold_stress_below_c: 36.5,
    moderate_below_c: 36.0,
    severe_below_c: 32.0,
    hyperthermia_above_c: 37.5,
    contact_first: 0.5,
    low_battery_pct: 20,
    daily_goal_s: 20 * 3600,
  },
};

export const ward = {
  clock: new ServerClock(),
  /** bed_id → {tile, asOfUs, el} */
  beds: new Map(),
  /** alarm_id → alarm_json: details (raised_us, bed_id, category, acknowledged_by) tiles lack. */
  alarmDetails: new Map(),
  /** "connecting", "live", "lost" or "signed-out". */
  stream: "connecting",
  /** performance.now() when the stream stopped being live (null while live). */
  lostAt: null,
};

/** Whether what the screen shows can be trusted now: only while the stream is live. */
export function monitoring() {
  return ward.stream === "live";
}

export const $ = (id) => document.getElementById(id);

export function setText(el, text) {
  if (el.textContent !== text) el.textContent = text;
}

/** Stable per browser: the server keeps each screen's audio pause by this id. Not a secret. */
function screenId() {
  const key = "kmc.ward.screen_id";
  let id = null;
  try {
    id = localStorage.getItem(key);
    if (!id) {
      const bytes = crypto.getRandomValues(new Uint8Array(6));
      id = "ward-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
      localStorage.setItem(key, id);
    }
  } catch {
    id = id || "ward-screen"; // storage disabled: one shared id is still a working screen
  }
  return id;
}
export const SCREEN_ID = screenId();

/** What one ward module asks of the others, wired once by ward.js (no import cycles): redraw
 *  everything, ask the server what this screen sounds, report a failed API call. */
export const hooks = {
  renderAll: () => {},
  refreshAudio: () => {},
  onApiError: (err) => console.error(err),
};
