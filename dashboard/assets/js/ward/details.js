// A bed's details over the ward screen, never instead of it: the bed page opens in a dialog of
// this page (an iframe of the same origin), so the ward screen keeps its stream, its audio
// permission and what it is sounding while a nurse reads a bed. "Back to the ward" (or Esc)
// closes it; the bed page itself is the same as when opened on its own.
import { $, ward } from "./model.js";

export function openBed(bedId) {
  const dialog = $("bed-dialog");
  const frame = $("bed-frame");
  const entry = ward.beds.get(bedId);
  const t = entry ? entry.tile : { bed_id: bedId };
  $("bed-dialog-title").textContent = [t.label || t.bed_id, t.display_name].filter(Boolean).join(" · ");
  const src = `/bed/${encodeURIComponent(bedId)}`;
  if (frame.getAttribute("src") !== src) frame.setAttribute("src", src);
  dialog.dataset.bedId = bedId;
  if (!dialog.open) dialog.showModal();
}

export function setupDetails() {
  for (const button of document.querySelectorAll("button[data-close]")) {
    button.addEventListener("click", () => $(button.dataset.close).close());
  }
  $("bed-dialog").addEventListener("close", () => {
    // Unload the bed page: it polls the service while open.
    $("bed-frame").setAttribute("src", "about:blank");
  });
}
