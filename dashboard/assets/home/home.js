// The family view at home: polls /api/home/status (served by the home gateway on this network),
// shows each wrap's timer, today against the goal and the temperature in the family's language,
// and sounds the cold alarm (Web Audio, after one tap: browsers only play sound after a gesture).
(function () {
  "use strict";
  let lang = "en";
  let words = {};
  let state = null;
  let audio = null;
  let beeping = null;

  async function loadJson(url) {
    try {
      const r = await fetch(url, { cache: "no-store" });
      return r.ok ? await r.json() : {};
    } catch (e) {
      return {};
    }
  }

  async function loadLanguage(code) {
    const [baseEn, homeEn] = await Promise.all([loadJson("/assets/i18n/en.json"), loadJson("/assets/home/i18n/en.json")]);
    let base = {}, home = {};
    if (code !== "en") {
      [base, home] = await Promise.all([loadJson("/assets/i18n/" + code + ".json"), loadJson("/assets/home/i18n/" + code + ".json")]);
    }
    words = Object.assign({}, baseEn, homeEn, base, home);
    lang = code;
    document.documentElement.lang = code;
    document.querySelectorAll("[data-i18n]").forEach(function (el) {
      const w = words[el.dataset.i18n];
      if (w) el.textContent = w;
    });
  }

  function t(key, vars) {
    let s = words[key] || key;
    Object.keys(vars || {}).forEach(function (k) { s = s.split("{" + k + "}").join(vars[k]); });
    return s;
  }

  function num(n, digits) {
    try { return new Intl.NumberFormat(lang, { maximumFractionDigits: digits || 0 }).format(n); } catch (e) { return String(n); }
  }

  function duration(s) {
    const total = Math.max(0, Math.floor(s / 60));
    const h = Math.floor(total / 60), m = total % 60;
    if (h === 0) return t("dur_m", { m: num(m) });
    if (m === 0) return t("dur_h", { h: num(h) });
    return t("dur_hm", { h: num(h), m: num(m) });
  }

  function clock(s) {
    s = Math.max(0, Math.floor(s));
    const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
    return h + ":" + String(m).padStart(2, "0") + ":" + String(sec).padStart(2, "0");
  }

  function render() {
    if (!state) return;
    document.body.classList.remove("loading");
    document.getElementById("pairing").hidden = state.paired;
    if (!state.paired) return;
    document.getElementById("baby-name").textContent = state.display_name;
    const view = document.getElementById("view");
    const tpl = document.getElementById("wrap-card");
    while (view.children.length < state.wraps.length) view.appendChild(tpl.content.firstElementChild.cloneNode(true));
    let cold = false;
    state.wraps.forEach(function (w, i) {
      const card = view.children[i];
      card.dataset.wrap = w.wrap_id;
      card.querySelector(".state-text").textContent = t("state_" + w.timer);
      card.querySelector(".timer").textContent = clock(w.session_s);
      const pct = Math.round(100 * w.today_s / state.goal_s);
      card.querySelector(".today").textContent = t("today_of_goal", {
        today: duration(w.today_s), goal: t("dur_h", { h: num(state.goal_s / 3600, 1) }), pct: num(pct) + "%",
      });
      let temp;
      if (w.judging === "no data") temp = t("home_no_data");
      else if (w.cold_alarm) temp = t("home_cold_title");
      else if (w.hot) temp = t("home_hot");
      else if (w.band === "normal") temp = t("temp_well");
      else temp = t("temp_unknown");
      card.querySelector(".temp").textContent = temp;
      card.querySelector(".msg").textContent = t(w.timer === "running" ? "msg_running" : w.timer === "paused" ? "msg_paused" : "msg_apart");
      if (w.cold_alarm) cold = true;
    });
    document.getElementById("alarm").hidden = !cold;
    document.body.classList.toggle("cold", cold);
    sound(cold);
    document.getElementById("sync").textContent = state.pending ? t("home_waiting", { n: num(state.pending) }) : t("home_synced");
  }

  function beep() {
    if (!audio) return;
    const o = audio.createOscillator(), g = audio.createGain();
    o.frequency.value = 880;
    g.gain.value = 0.4;
    o.connect(g).connect(audio.destination);
    o.start();
    o.stop(audio.currentTime + 0.4);
  }

  function sound(on) {
    if (on && !beeping) {
      beeping = setInterval(beep, 1000);
      if (navigator.vibrate) navigator.vibrate([400, 200, 400]);
    } else if (!on && beeping) {
      clearInterval(beeping);
      beeping = null;
    }
  }

  document.getElementById("sound").addEventListener("click", function () {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (Ctx && !audio) audio = new Ctx();
    this.textContent = t("home_sound_ready");
  });

  document.getElementById("pair").addEventListener("click", async function () {
    const out = document.getElementById("pair-result");
    try {
      const r = await fetch("/api/home/pair", {
        method: "POST", headers: { "Content-Type": "text/plain" }, body: document.getElementById("pair-code").value,
      });
      const body = await r.json();
      out.textContent = r.ok ? t("home_pair_done", { name: body.display_name }) : t("home_pair_failed", { reason: body.detail });
    } catch (e) {
      out.textContent = t("home_pair_failed", { reason: String(e) });
    }
  });

  async function poll() {
    try {
      const r = await fetch("/api/home/status", { cache: "no-store" });
      if (r.ok) {
        const next = await r.json();
        if (!state || next.language !== lang) await loadLanguage(next.language);
        state = next;
        render();
      }
    } catch (e) { /* the board restarting: try again */ }
    setTimeout(poll, 2000);
  }
  poll();
})();
