// The bedside family view: one bed's skin-to-skin timer, today's total and the baby's warmth in
// plain words, from /ws/bed/<token>. Self-contained on purpose (no shared dashboard code): it is
// the only public page and must keep working on a parent's old phone whatever the staff pages do.
"use strict";

(function () {
  const LANGS = ["vi", "en", "fr", "es", "pt", "sw"];
  const STORE_KEY = "kmc-family-lang";
  const WS_UNAUTHORIZED = 4401;
  // Reconnection (#14): a family must see the page back within about 3 s of the service returning,
  // so the back-off starts at half a second and is capped at 2 s. Each wait is drawn between half
  // and all of the current step (jitter), so a ward's phones do not all knock in the same instant;
  // a retry is one small WebSocket handshake, cheap for the service even from every bed at once.
  const RETRY_MIN_MS = 500;
  const RETRY_MAX_MS = 2000;
  // The service sends this bed's state about once a second; a stream silent for this long is
  // treated as dead (a phone that slept, a Wi-Fi that changed) and opened again.
  const SILENCE_MS = 15000;
  // A running timer is redrawn from a new anchor only when a message disagrees with the local
  // clock by more than this: small delivery jitter must not make the seconds stutter or step back.
  const RESYNC_MS = 1500;

  const $ = (id) => document.getElementById(id);
  const token = readToken();

  let lang = "en";
  let strings = {};
  let last = null; // the last "bed" message
  let sessionAnchor = 0; // local ms when the session would have started (running) ...
  let todayAnchor = 0; // ... and when today's total would have been zero
  let connected = false;
  let lostAt = null; // local ms the stream was lost (null while connected)
  let ended = null; // "link_inactive" or "link_missing": no more retries
  let retryMs = RETRY_MIN_MS;
  let ws = null;
  let silenceTimer = null;
  let retryTimer = null;

  function readToken() {
    try {
      return decodeURIComponent(location.hash.slice(1)).trim();
    } catch (e) {
      return ""; // a mangled link: shown as "ask your nurse", like a missing one
    }
  }

  // Language ------------------------------------------------------------------------------------
  // The family's own choice on this phone first; then the language of the card they scanned
  // (?lang=, #14); then the phone's languages.
  function pickLanguage() {
    try {
      const saved = localStorage.getItem(STORE_KEY);
      if (LANGS.includes(saved)) return saved;
    } catch (e) {
      // Storage may be blocked (private mode): the card and the browser's languages decide.
    }
    const fromCard = new URLSearchParams(location.search).get("lang");
    if (LANGS.includes(fromCard)) return fromCard;
    for (const tag of navigator.languages || [navigator.language || ""]) {
      const base = String(tag).toLowerCase().split("-")[0];
      if (LANGS.includes(base)) return base;
    }
    return "en";
  }

  async function loadLanguage(code) {
    try {
      const resp = await fetch(`/assets/i18n/${code}.json`, { cache: "no-cache" });
      if (!resp.ok) throw new Error(String(resp.status));
      strings = await resp.json();
      lang = code;
    } catch (e) {
      if (code !== "en") return loadLanguage("en");
      strings = {}; // the English already in the page stays
      lang = "en";
    }
    document.documentElement.lang = lang;
    $("lang").value = lang;
    for (const el of document.querySelectorAll("[data-i18n]")) {
      const s = strings[el.dataset.i18n];
      if (s) el.textContent = s;
    }
    if (strings.title) document.title = strings.title;
    render();
  }

  function t(key, vars) {
    let s = strings[key];
    if (s === undefined) return "";
    if (vars) for (const k of Object.keys(vars)) s = s.split(`{${k}}`).join(vars[k]);
    return s;
  }

  // The plural form of n in this language ("one", "few", "other"...), falling back to "other".
  function plural(prefix, n) {
    let cat = "other";
    try {
      cat = new Intl.PluralRules(lang).select(n);
    } catch (e) {
      // An old browser without PluralRules: "other" reads acceptably everywhere.
    }
    return strings[`${prefix}_${cat}`] !== undefined ? `${prefix}_${cat}` : `${prefix}_other`;
  }

  function num(n, digits) {
    try {
      return new Intl.NumberFormat(lang, { maximumFractionDigits: digits || 0 }).format(n);
    } catch (e) {
      return String(n);
    }
  }

  // "3 h 12 min" in words this language uses (Swahili puts "saa" before the number).
  function duration(s) {
    const total = Math.max(0, Math.floor(s / 60));
    const h = Math.floor(total / 60);
    const m = total % 60;
    if (h === 0) return t("dur_m", { m: num(m) });
    if (m === 0) return t("dur_h", { h: num(h) });
    return t("dur_hm", { h: num(h), m: num(m) });
  }

  function goalText(s) {
    return t("dur_h", { h: num(s / 3600, 1) });
  }

  function clock(s) {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600);
    const m = Math.floor((s % 3600) / 60);
    const sec = s % 60;
    return `${h}:${String(m).padStart(2, "0")}:${String(sec).padStart(2, "0")}`;
  }

  // State ---------------------------------------------------------------------------------------
  // The moment the shown values are true for: now while connected, the moment of the loss after.
  function knownAt() {
    return lostAt === null ? Date.now() : lostAt;
  }

  function sessionState() {
    const s = last && last.session_state;
    return s === "running" || s === "paused" ? s : "none";
  }

  function sessionSeconds() {
    if (!last) return 0;
    if (sessionState() === "running") return (knownAt() - sessionAnchor) / 1000;
    return sessionState() === "paused" ? Number(last.session_s) || 0 : 0;
  }

  function todaySeconds() {
    if (!last) return 0;
    // Intermittent KMC counts a session towards the goal once it has lasted an hour: until then
    // the running timer does not move today's total.
    if (sessionState() === "running" && last.today_counts_running !== false) {
      return (knownAt() - todayAnchor) / 1000;
    }
    return Number(last.contact_today_s) || 0;
  }

  function onBed(msg) {
    const now = Date.now();
    const wasRunning = sessionState() === "running";
    const newSession = now - (Number(msg.session_s) || 0) * 1000;
    const newToday = now - (Number(msg.contact_today_s) || 0) * 1000;
    const keep = wasRunning && msg.session_state === "running";
    if (!keep || Math.abs(newSession - sessionAnchor) > RESYNC_MS) sessionAnchor = newSession;
    // Today's total moves in steps a little behind the timer (the service judges slightly in the
    // past): while running, only move the anchor forwards in time shown, so the minutes never step
    // back; a big step back is a new ward day, taken as it is.
    if (!keep || newToday < todayAnchor - RESYNC_MS || newToday > todayAnchor + 60000) {
      todayAnchor = newToday;
    }
    last = msg;
  }

  // Drawing -------------------------------------------------------------------------------------
  function setText(el, text) {
    if (el.textContent !== text) el.textContent = text;
  }

  function render() {
    const body = document.body;
    if (ended) {
      body.classList.add("link-ended");
      $("ended").hidden = false;
      setText($("ended-text"), t(ended) || "This link is no longer active. Please ask your nurse for a new one.");
      $("conn").hidden = true;
      return;
    }
    renderConnection();
    if (!last) return;
    if (last.admitted === false || last.session_state === undefined) {
      // No baby on this bed (or the bed left the ward): nothing to time and nothing to reassure.
      body.classList.add("no-baby");
      setText($("message"), t("no_baby"));
    } else {
      body.classList.remove("no-baby");
    }
    setText($("baby-name"), last.display_name || t("your_baby"));
    setText($("bed-label"), bedLabel());

    const state = sessionState();
    body.dataset.session = state;
    setText($("state-text"), t(`state_${state}`));
    setText($("timer"), clock(sessionSeconds()));

    renderToday();
    renderTemperature();
    renderGuide();
    if (last.admitted !== false && last.session_state !== undefined) renderMessage(state);
  }

  // "Bed 1" in the family's language when the ward's label is a plain bed number (#14); any other
  // label is the ward's own word and is shown as typed.
  function bedLabel() {
    const n = last.bed_number;
    if (Number.isInteger(n) && strings.bed_n) return t("bed_n", { n: num(n) });
    return last.label || "";
  }

  // Praise and cheers only when no alarm is open on the bed (#14): the service says so. An older
  // service without the field is taken as "no praise" only when it asks to call the nurse.
  function praiseAllowed() {
    if (typeof last.praise === "boolean") return last.praise;
    return last.temperature_status !== "call_nurse";
  }

  function renderToday() {
    const today = todaySeconds();
    const goal = Number(last.daily_goal_s) || 0;
    const fraction = goal > 0 ? Math.min(1, today / goal) : 0;
    const reached = goal > 0 && today >= goal;
    // pathLength is 100: the dash is the percentage of the ring drawn.
    const fill = $("ring-fill");
    // A full ring is drawn without dashes: a 100-of-100 dash leaves a seam at the top.
    fill.style.strokeDasharray = fraction >= 1 ? "none" : `${(fraction * 100).toFixed(2)} 100`;
    // A dash shorter than half a percent paints only a hairline that looks like a flaw: the ring
    // starts showing from there (the minutes are in the text anyway).
    fill.style.visibility = fraction >= 0.005 ? "visible" : "hidden";
    document.body.classList.toggle("no-goal", goal <= 0);
    document.body.classList.toggle("goal-done", reached);
    $("goal-reached").hidden = !reached || !praiseAllowed();
    setText($("ring-today"), duration(today));
    if (goal > 0) {
      const pct = new Intl.NumberFormat(lang, { style: "percent", maximumFractionDigits: 0 }).format(
        Math.floor(fraction * 100) / 100,
      );
      setText($("ring-goal"), t("ring_goal", { goal: goalText(goal) }));
      setText($("today-text"), t("today_of_goal", { today: duration(today), goal: goalText(goal), pct }));
    } else {
      setText($("ring-goal"), "");
      setText($("today-text"), t("today_no_goal", { today: duration(today) }));
    }
  }

  function renderTemperature() {
    let status = last.temperature_status;
    if (status !== "well" && status !== "call_nurse") status = "unknown";
    // A "warm and well" from before the connection dropped is not a reassurance any more: say it
    // was the last reading, and point to the nurse. "Call your nurse" stays as it was.
    if (lostAt !== null && status === "well") status = "offline";
    document.body.dataset.temp = status;
    // After a nurse acknowledged every open alarm, "Please call your nurse" becomes "The nurse knows
    // and is coming" (#14), and the advice for the baby's state replaces the generic detail.
    const coming = last.nurse === "coming";
    if (status === "call_nurse" && coming) status = "coming";
    $("temp").dataset.status = status === "coming" ? "call_nurse" : status;
    $("temp").dataset.nurse = coming ? "coming" : "";
    const key = { well: "temp_well", call_nurse: "temp_call", coming: "temp_coming", unknown: "temp_unknown", offline: "temp_offline" }[status];
    setText($("temp-title"), t(key));
    let detail = t(`${key}_detail`);
    // Advice goes with the nurse's card only: it is about a baby too cold or too warm.
    const asked = status === "call_nurse" || status === "coming";
    if (asked && last.advice === "too_warm") detail = t("advice_too_warm");
    else if (asked && last.advice === "cold") detail = t(coming ? "advice_cold_coming" : "advice_cold");
    setText($("temp-detail"), detail);
  }

  // The KMC guide (#19): the service names the card the moment calls for (a cold alarm, the first
  // session, a long break, the days before discharge; see guide_moment in family_view.py); that card
  // moves to the top of the page with a line saying why, the others stay in the guide below.
  // After a lost connection the last card stays forward: a cold card must not vanish on its own.
  const MOMENTS = ["cold_alarm", "first_session", "long_break", "before_discharge"];

  function renderGuide() {
    const g = last && last.admitted !== false && last.guide && typeof last.guide === "object" ? last.guide : null;
    const moment = g && MOMENTS.includes(g.moment) ? g.moment : "";
    const front = $("guide-front");
    const guide = $("guide");
    for (const card of document.querySelectorAll("[data-guide-card]")) {
      const forward = moment !== "" && card.dataset.guideCard === g.card;
      const line = card.querySelector("[data-moment-text]");
      if (forward) {
        if (card.parentElement !== front) front.replaceChildren(card);
        card.dataset.moment = moment;
        card.classList.add("forward");
        const coming = moment === "cold_alarm" && last.nurse === "coming";
        setText(line, t(`guide_moment_${moment}${coming ? "_coming" : ""}`));
        line.hidden = false;
      } else if (card.parentElement === front) {
        // Back to its place in the guide's reading order.
        const after = ORDER.slice(ORDER.indexOf(card.dataset.guideCard) + 1);
        const next = [...guide.querySelectorAll("[data-guide-card]")].find((c) => after.includes(c.dataset.guideCard));
        guide.insertBefore(card, next || null);
      }
      if (!forward) {
        delete card.dataset.moment;
        card.classList.remove("forward");
        line.hidden = true;
      }
    }
    document.body.dataset.guide = moment;
  }
  const ORDER = ["positioning", "wrap_and_hat", "feeding", "keeping_warm", "danger_signs"];

  function renderMessage(state) {
    const goal = Number(last.daily_goal_s) || 0;
    let key = { running: "msg_running", paused: "msg_paused", none: "msg_apart" }[state];
    if (goal > 0 && todaySeconds() >= goal) key = "msg_goal";
    if (!praiseAllowed()) key = "msg_alarm";
    setText($("message"), t(key));
  }

  function renderConnection() {
    const conn = $("conn");
    document.body.classList.toggle("offline", lostAt !== null);
    if (connected && lostAt === null) {
      conn.hidden = true;
      return;
    }
    conn.hidden = false;
    setText($("conn-text"), t(last ? "conn_reconnecting" : "conn_connecting"));
    setText($("conn-age"), last && lostAt !== null ? ageText(Date.now() - lostAt) : "");
  }

  function ageText(ms) {
    const min = Math.floor(ms / 60000);
    if (min < 1) return t("updated_now");
    if (min < 60) return t(plural("updated_min", min), { n: num(min) });
    const h = Math.floor(min / 60);
    return t(plural("updated_hour", h), { n: num(h) });
  }

  // The stream ----------------------------------------------------------------------------------
  function connect() {
    clearTimeout(retryTimer);
    if (ended || ws) return;
    if (!token) {
      ended = "link_missing";
      render();
      return;
    }
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const sock = new WebSocket(`${scheme}://${location.host}/ws/bed/${encodeURIComponent(token)}`);
    ws = sock;
    sock.onmessage = (ev) => {
      if (ws !== sock) return;
      let msg;
      try {
        msg = JSON.parse(ev.data);
      } catch (e) {
        return;
      }
      if (msg.type !== "bed") return;
      onBed(msg);
      connected = true;
      lostAt = null;
      retryMs = RETRY_MIN_MS;
      watchSilence(sock);
      render();
    };
    sock.onclose = (ev) => {
      if (ws !== sock) return;
      ws = null;
      clearTimeout(silenceTimer);
      if (ev.code === WS_UNAUTHORIZED) {
        ended = "link_inactive";
        render();
        return;
      }
      lost();
      // Back off with some randomness so a ward's phones do not all return in the same second.
      const wait = retryMs * (0.5 + Math.random() * 0.5);
      retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
      retryTimer = setTimeout(connect, wait);
    };
    // A failed connection logs its own error in the console and then closes: onclose retries.
    sock.onerror = () => {};
  }

  function lost() {
    if (lostAt === null) lostAt = Date.now();
    connected = false;
    render();
  }

  function watchSilence(sock) {
    clearTimeout(silenceTimer);
    silenceTimer = setTimeout(() => {
      if (ws === sock) sock.close();
    }, SILENCE_MS);
  }

  // Who is holding the baby (#16): the family says so here; a nurse can correct it later. The
  // token goes in a header, never in the address (addresses end up in logs).
  let caregivers = null;

  function caregiverName(c) {
    if (c.role === "mother") return t("holding_mother") || c.label;
    if (c.role === "father") return t("holding_father") || c.label;
    return c.label;
  }

  function renderHolding() {
    if (!caregivers) return;
    $("holding").hidden = false;
    const sel = $("holder");
    const opts = [["", t("holding_unknown") || "-"], ...caregivers.caregivers.map((c) => [String(c.caregiver_id), caregiverName(c)])];
    sel.replaceChildren(...opts.map(([v, label]) => Object.assign(document.createElement("option"), { value: v, textContent: label })));
    sel.value = caregivers.holding_now === null ? "" : String(caregivers.holding_now);
    const today = caregivers.days.length ? caregivers.days[caregivers.days.length - 1].by_caregiver_s : {};
    const names = Object.fromEntries(caregivers.caregivers.map((c) => [c.label, caregiverName(c)]));
    names.unknown = t("holding_unknown") || "unknown";
    $("by-caregiver").replaceChildren(
      ...Object.entries(today).map(([label, s]) =>
        Object.assign(document.createElement("li"), { textContent: `${names[label] || label}: ${Math.floor(s / 3600)} h ${String(Math.floor((s % 3600) / 60)).padStart(2, "0")} min` })
      )
    );
  }

  async function loadHolding(method, body) {
    if (!token || ended) return;
    try {
      const resp = await fetch(method === "PUT" ? "/api/family/holding" : "/api/family/caregivers", {
        method,
        headers: { "X-Family-Token": token, "Content-Type": "application/json" },
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: "no-store",
      });
      if (!resp.ok) return;
      const data = await resp.json();
      if (!data.active) {
        $("holding").hidden = true;
        return;
      }
      caregivers = data;
      if (method === "PUT") $("holding-saved").textContent = t("holding_saved");
      renderHolding();
    } catch (e) {
      // Offline: the choice is kept on screen; the next refresh shows what the ward has.
    }
  }

  $("holder").addEventListener("change", (ev) => {
    const v = ev.target.value;
    loadHolding("PUT", { caregiver_id: v === "" ? null : Number(v) });
  });
  setInterval(() => loadHolding("GET"), 60000);

  // Start ---------------------------------------------------------------------------------------
  $("lang").addEventListener("change", (ev) => {
    const code = ev.target.value;
    if (!LANGS.includes(code)) return;
    try {
      localStorage.setItem(STORE_KEY, code);
    } catch (e) {
      // Not remembered on this device; it still applies now.
    }
    loadLanguage(code);
  });
  // A phone coming back from sleep: retry at once rather than at the end of a long back-off.
  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && !ws && !ended && token) {
      retryMs = RETRY_MIN_MS;
      connect();
    }
  });

  loadLanguage(pickLanguage()).then(() => {
    document.body.classList.remove("loading");
    connect();
    loadHolding("GET");
  });
  // The seconds tick locally between messages; the age of a lost connection counts up.
  setInterval(render, 250);
})();
