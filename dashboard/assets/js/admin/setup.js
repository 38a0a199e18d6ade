// The first-run page (issue #14): the ward's name, time zone, clock, languages, beds and daily goal,
// kept by the service (POST /api/ward-admin/setup), then on to the ward administration page.
import { api, h } from "../common.js";

const $ = (id) => document.getElementById(id);
const LANGUAGES = { en: "English", es: "Español", fr: "Français", pt: "Português", sw: "Kiswahili", vi: "Tiếng Việt" };

async function start() {
  const status = await api("/api/ward-admin/status");
  if (status.network.warning) {
    $("net-warning").textContent = status.network.warning;
    $("net-warning").hidden = false;
  }
  const zones = typeof Intl.supportedValuesOf === "function" ? Intl.supportedValuesOf("timeZone") : [];
  $("zones").replaceChildren(...zones.map((z) => h("option", { value: z })));
  const known = status.setup;
  $("ward-name").value = known ? known.ward_name : "";
  $("ward-tz").value = known ? known.ward_tz : Intl.DateTimeFormat().resolvedOptions().timeZone || "";
  $("beds").value = known ? known.beds : status.beds || 12;
  if (known) {
    $("goal").value = known.daily_goal_h;
    document.querySelector(`input[name=clock][value="${known.clock_format}"]`).checked = true;
  }
  const chosen = new Set(known ? known.languages : ["en"]);
  $("languages").append(...Object.entries(LANGUAGES).map(([code, name]) =>
    h("label", {}, h("input", { type: "checkbox", name: "lang", value: code, checked: chosen.has(code) }), ` ${name}`)));
  $("setup-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    const body = {
      ward_name: $("ward-name").value.trim(),
      ward_tz: $("ward-tz").value.trim(),
      clock_format: document.querySelector("input[name=clock]:checked").value,
      languages: [...document.querySelectorAll("input[name=lang]:checked")].map((x) => x.value),
      beds: Number($("beds").value),
      daily_goal_h: Number($("goal").value),
    };
    try {
      await api("/api/ward-admin/setup", { method: "POST", body });
      window.location.assign("/admin");
    } catch (err) {
      $("status").textContent = err.message;
      $("status").classList.add("error");
    }
  });
  document.body.dataset.ready = "1";
}

start().catch((e) => {
  $("status").textContent = e.message;
});
