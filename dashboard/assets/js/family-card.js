// The printed family card (/family-card/{admission_id}?lang=vi&size=a6, #14): the bed, how to open
// the family page (Wi-Fi, then the code) and its link, in the family's language. The words are the
// family page's own (/assets/i18n/<lang>.json), so card and page say the same; the QR code is the
// staff API's SVG of the same link. Only staff reach this page (the link is the family's key).
import { api } from "./common.js";

const LANGS = ["vi", "en", "fr", "es", "pt", "sw"];
const admissionId = decodeURIComponent(location.pathname.split("/")[2] || "");
const params = new URLSearchParams(location.search);
const $ = (id) => document.getElementById(id);
let card = null;

function setStatus(msg, bad = false) {
  $("status").textContent = msg;
  $("status").classList.toggle("bad", bad);
}

function fill(strings, lang) {
  const t = (key, vars) => {
    let s = strings[key] || "";
    for (const [k, v] of Object.entries(vars || {})) s = s.split(`{${k}}`).join(v);
    return s;
  };
  const num = (n) => new Intl.NumberFormat(lang).format(n);
  document.documentElement.lang = lang;
  $("card").lang = lang;
  $("ward-name").textContent = card.ward_name;
  $("card-title").textContent = t("card_title");
  $("baby-name").textContent = card.display_name;
  // "Giường 1" for a "Bed 1" label; the ward's own label otherwise.
  $("bed").textContent = card.bed_number === null ? card.bed_label : t("bed_n", { n: num(card.bed_number) });
  $("step-wifi").textContent = card.wifi_name ? t("card_step_wifi_named", { wifi: card.wifi_name }) : t("card_step_wifi");
  $("step-scan").textContent = t("card_step_scan");
  $("keep").textContent = t("card_keep");
  $("link").textContent = card.family_url;
  $("link").href = card.family_url;
  $("qr").alt = card.family_url;
  document.title = `${t("card_title")} · ${card.bed_label}`;
  $("card").hidden = false;
}

// The card in ``lang``: its words, and the link and QR code that open the family page in it.
async function loadLanguage(lang) {
  const id = encodeURIComponent(admissionId);
  card = await api(`/api/admissions/${id}/family-card?lang=${lang}`);
  const res = await fetch(`/assets/i18n/${lang}.json`, { cache: "no-cache" });
  if (!res.ok) throw new Error(`the ${lang} words did not load (${res.status})`);
  $("qr").src = `/api/admissions/${id}/family-card.svg?lang=${lang}`;
  fill(await res.json(), lang);
}

function setSize(size) {
  $("sheet-size").href = `/assets/css/card-${size}.css`;
  $("size").value = size;
}

function remember() {
  const url = new URL(location.href);
  url.searchParams.set("lang", $("lang").value);
  url.searchParams.set("size", $("size").value);
  history.replaceState(null, "", url);
}

async function start() {
  const lang = LANGS.includes(params.get("lang")) ? params.get("lang") : "en";
  $("lang").value = lang;
  setSize(params.get("size") === "a4" ? "a4" : "a6");
  $("print").addEventListener("click", () => window.print());
  $("size").addEventListener("change", () => {
    setSize($("size").value);
    remember();
  });
  $("lang").addEventListener("change", () => {
    remember();
    loadLanguage($("lang").value).catch((e) => setStatus(e.message, true));
  });
  try {
    await loadLanguage(lang);
  } catch (e) {
    if (e.signedOut) {
      location.reload();
      return;
    }
    setStatus(`No card: ${e.message}`, true);
    return;
  }
  $("back").href = `/bed/${encodeURIComponent(card.bed_id)}`;
  $("back").textContent = `← ${card.bed_label}`;
  if (card.loopback_only) {
    setStatus("This link points at this computer only (127.0.0.1): no phone can open it. Set public_url (or serve on the ward's address) before printing.", true);
  }
  document.body.dataset.ready = "1";
}

start();
