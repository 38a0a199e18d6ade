// The ward screen's sound: IEC 60601-1-8-like burst patterns made with Web Audio (no audio
// files), what this screen sounds (the server's AlarmBoard decides), the audio pause, and the
// failure signal of a screen that has lost the service.
//
// - Patient and technical alarms: high two bursts of five tones, medium three, low one.
// - Monitoring lost: a pattern of its own (a falling two-tone pair, twice, every 6 s) for as long
//   as the stream is down — at least the 120 s IEC 60601-1-8 asks of a failure signal — and the
//   alarm pattern that was sounding stops: it would tell of an alarm that may have ended.
// - A browser plays sound only after a gesture unless it is started with
//   `--autoplay-policy=no-user-gesture-required` (the kiosk flags, docs/ward-screen.md). The audio
//   context is made at load, so a kiosk sounds at once; elsewhere any tap on the screen turns it
//   on, and a large flashing banner says when something should sound but cannot.
import { api, formatDuration, showError } from "../common.js";
import { $, SCREEN_ID, hooks, setText, settings, ward } from "./model.js";

const PATTERNS = {
  high: { tones: [880, 880, 880, 880, 880], tone: 0.12, gap: 0.08, bursts: 2, burstGap: 0.45, repeatS: 8 },
  medium: { tones: [660, 660, 660], tone: 0.18, gap: 0.12, bursts: 1, burstGap: 0, repeatS: 15 },
  low: { tones: [520], tone: 0.25, gap: 0, bursts: 1, burstGap: 0, repeatS: 0 }, // once per alarm
  // Not one of the priorities' sounds: a falling pair, a square wave, so it is never mistaken for
  // a patient's alarm — and never for silence.
  failure: { tones: [740, 440], tone: 0.3, gap: 0.1, bursts: 2, burstGap: 0.5, repeatS: 6, wave: "square" },
};

/** How often the screen re-asks what it sounds even without events (pause end, escalation). */
export const AUDIO_POLL_MS = 5000;

class AlarmSound {
  constructor() {
    this.ctx = null;
    /** What the server says this screen sounds (alarm_json or null). */
    this.alarm = null;
    this.lost = false;
    this.nextAt = 0;
    this.played = new Set();
    this.plays = 0;
    try {
      // With the kiosk's autoplay flag this context runs at once; without, it waits for a gesture.
      this.ctx = new AudioContext();
      this.ctx.addEventListener("statechange", () => renderSound());
    } catch {
      this.ctx = null;
    }
    setInterval(() => this._due(), 250);
  }
  get enabled() {
    return this.ctx !== null && this.ctx.state === "running";
  }
  async enable() {
    if (!this.ctx) {
      this.ctx = new AudioContext();
      this.ctx.addEventListener("statechange", () => renderSound());
    }
    if (this.ctx.state !== "running") await this.ctx.resume();
  }
  /** The pattern that should sound now: "failure", a priority, or "none". */
  get pattern() {
    if (this.lost) return "failure";
    return this.alarm ? this.alarm.priority : "none";
  }
  set(alarm) {
    const before = this.alarm;
    this.alarm = alarm;
    const changed =
      !before ||
      before.alarm_id !== alarm?.alarm_id ||
      before.priority !== alarm?.priority ||
      before.reminded_us !== alarm?.reminded_us;
    if (alarm && changed) {
      this.nextAt = 0; // a new, escalated or reminded (technical, unacknowledged) alarm sounds at once
    }
  }
  setLost(lost) {
    if (lost === this.lost) return;
    this.lost = lost;
    this.nextAt = 0;
  }
  _due() {
    const pattern = this.pattern;
    document.body.dataset.soundPattern = pattern;
    if (pattern === "none" || !this.enabled || performance.now() < this.nextAt) return;
    const p = PATTERNS[pattern];
    if (!p) return;
    if (pattern !== "failure") {
      // A low alarm plays once, and once more at each reminder (docs/rules.md).
      const key = `${this.alarm.alarm_id}:${this.alarm.priority}:${this.alarm.reminded_us ?? 0}`;
      if (p.repeatS === 0 && this.played.has(key)) return;
      this.played.add(key);
    }
    this.play(p);
    this.plays += 1;
    document.body.dataset.soundPlays = String(this.plays);
    document.body.dataset.soundLast = pattern;
    this.nextAt = performance.now() + (p.repeatS || 3600) * 1000;
  }
  play(p) {
    const ctx = this.ctx;
    let t = ctx.currentTime + 0.05;
    for (let b = 0; b < p.bursts; b += 1) {
      for (const hz of p.tones) {
        const osc = ctx.createOscillator();
        const gain = ctx.createGain();
        osc.type = p.wave || "triangle";
        osc.frequency.value = hz;
        // Short ramps: a click-free tone edge.
        gain.gain.setValueAtTime(0, t);
        gain.gain.linearRampToValueAtTime(0.35, t + 0.015);
        gain.gain.setValueAtTime(0.35, t + p.tone - 0.02);
        gain.gain.linearRampToValueAtTime(0, t + p.tone);
        osc.connect(gain).connect(ctx.destination);
        osc.start(t);
        osc.stop(t + p.tone + 0.01);
        t += p.tone + p.gap;
      }
      t += p.burstGap;
    }
  }
}

export const sound = new AlarmSound();

async function turnOn() {
  try {
    await sound.enable();
  } catch (err) {
    showError(`Sound could not be turned on: ${err.message}`);
  }
  renderSound();
  hooks.refreshAudio();
}

/** The sound button, and the banner that flashes while something should sound but cannot. */
export function renderSound() {
  const on = sound.enabled;
  const b = $("sound-enable");
  b.setAttribute("aria-pressed", String(on));
  b.classList.toggle("is-on", on);
  setText($("sound-text"), on ? "Sound on" : "Sound off: tap to turn on");
  b.disabled = on;
  document.body.dataset.audio = sound.ctx ? sound.ctx.state : "none";
  const silent = !on && sound.pattern !== "none";
  $("sound-off").hidden = !silent;
  const what = sound.pattern === "failure" ? "the monitoring-lost alarm" : "an alarm";
  setText($("sound-off-text"), `SOUND IS OFF — ${what} is sounding silently. Tap here to turn sound on.`);
}

// --- audio pause ------------------------------------------------------------------------------
let pauseDeadline = null; // performance.now() ms when this screen's pause ends, or null
let audioRequest = null;
let audioAgain = false;

function applyAudio(state) {
  if (!state) return;
  if (state.paused_until_us == null) {
    pauseDeadline = null;
  } else {
    // The server says how much is left; counting down on the monotonic clock avoids clock skew.
    const remaining =
      typeof state.remaining_s === "number" ? state.remaining_s * 1000 : (state.paused_until_us - ward.clock.nowUs()) / 1000;
    pauseDeadline = performance.now() + Math.max(0, remaining);
  }
  sound.set(state.sounding || null);
  document.body.dataset.sounding = state.sounding ? state.sounding.priority : "none";
  renderPause();
  renderSound();
}

/** Ask the server what this screen sounds (after every alarm event, pause, ack; and every 5 s). */
export function refreshAudio() {
  if (audioRequest) {
    audioAgain = true; // one more after the one in flight: it may predate the event
    return;
  }
  audioRequest = api(`/api/screens/${encodeURIComponent(SCREEN_ID)}/audio`)
    .then(applyAudio)
    .catch((err) => hooks.onApiError(err))
    .finally(() => {
      audioRequest = null;
      if (audioAgain) {
        audioAgain = false;
        refreshAudio();
      }
    });
}

export function renderPause() {
  const b = $("audio-pause");
  const left = pauseDeadline == null ? 0 : (pauseDeadline - performance.now()) / 1000;
  if (pauseDeadline != null && left <= 0) {
    pauseDeadline = null;
    refreshAudio(); // the pause ran out: what sounds now is the server's to say
  }
  const paused = pauseDeadline != null;
  b.classList.toggle("is-paused", paused);
  b.setAttribute("aria-pressed", String(paused));
  const length = formatDuration(settings.alarms.audio_pause_s);
  setText($("audio-pause-text"), paused ? `Audio paused · ${formatDuration(Math.ceil(left))} left` : `Pause audio ${length}`);
}

/** What the screen sounds when the stream is lost (true) or back (false). */
export function setMonitoringLost(lost) {
  sound.setLost(lost);
  if (lost) {
    // The alarm that was sounding may have ended meanwhile: its pattern stops; the failure one
    // sounds instead. What sounds when the stream is back is the server's to say again.
    sound.set(null);
    document.body.dataset.sounding = "none";
  } else {
    refreshAudio();
  }
  renderSound();
}

export function setupSound() {
  $("sound-enable").addEventListener("click", turnOn);
  $("sound-off").addEventListener("click", turnOn);
  // Any tap or key on the screen is a gesture the browser accepts: use it to turn sound on.
  for (const type of ["pointerdown", "keydown"]) {
    document.addEventListener(type, () => {
      if (!sound.enabled) turnOn();
    }, { capture: true });
  }
  $("audio-pause").addEventListener("click", async () => {
    const b = $("audio-pause");
    b.disabled = true;
    try {
      applyAudio(await api(`/api/screens/${encodeURIComponent(SCREEN_ID)}/pause`, { method: "POST" }));
    } catch (err) {
      hooks.onApiError(err);
    } finally {
      b.disabled = false;
    }
  });
}
