// A nurse confirms an action on a shared screen with her initials and PIN (issue #14).
//
// The screen stays signed in with its own token; where the ward has nurses, acknowledge, admit and
// discharge from a browser need a confirmation, and the service answers 403 ("confirm with your
// initials and PIN") without one. `confirmed()` tries the action, asks for initials and PIN only
// when the service says so, and retries; a wrong PIN asks again, saying so; too many wrong PINs
// wait (429, the service's back-off). The audit then names the nurse, e.g. "Lan Nguyen (LN)".
import { api, ApiError, h } from "./common.js";

const NEEDS_PIN = /initials and PIN/;

function ask(what, problem, known = "") {
  return new Promise((resolve) => {
    const initials = h("input", { id: "pin-initials", name: "initials", autocomplete: "off", required: true, value: known,
      maxlength: "4", pattern: "[A-Za-z]{1,4}", size: "5", autocapitalize: "characters" });
    const pin = h("input", { id: "pin-pin", name: "pin", type: "password", inputmode: "numeric", autocomplete: "off",
      required: true, minlength: "4", maxlength: "6", pattern: "[0-9]{4,6}", size: "7" });
    const error = h("p", { class: "pin-error", role: "alert" }, problem || "");
    const ok = h("button", { type: "submit", id: "pin-ok" }, "Confirm");
    const cancel = h("button", { type: "button", id: "pin-cancel" }, "Cancel");
    const form = h("form", { method: "dialog" },
      h("h2", {}, "Who is doing this?"),
      h("p", { class: "pin-what" }, what),
      h("p", {}, h("label", { for: "pin-initials" }, "Your initials "), initials),
      h("p", {}, h("label", { for: "pin-pin" }, "Your PIN "), pin),
      error,
      h("p", { class: "pin-buttons" }, ok, " ", cancel));
    const dialog = h("dialog", { id: "pin-dialog", "aria-labelledby": "pin-title" }, form);
    form.querySelector("h2").id = "pin-title";
    document.body.append(dialog);
    const done = (value) => {
      dialog.close();
      dialog.remove();
      resolve(value);
    };
    cancel.addEventListener("click", () => done(null));
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      done(null);
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      if (!form.reportValidity()) return;
      done({ initials: initials.value.trim().toUpperCase(), pin: pin.value });
    });
    dialog.showModal();
    (known ? pin : initials).focus();
  });
}

/**
 * Do `method path` with `body`; if the ward wants a nurse's confirmation, ask for it (naming
 * `what` is being confirmed) and send it along. Rejects with an ApiError (status 0, "cancelled")
 * when the nurse cancels.
 */
export async function confirmed(path, { method = "POST", body = {}, what = "" } = {}) {
  // Asked each time: an admin may have added the ward's first nurse a minute ago.
  const status = await api("/api/ward-admin/status").catch(() => null);
  if (!status || !status.nurses_required) {
    try {
      return await api(path, { method, body });
    } catch (e) {
      if (!(e instanceof ApiError) || e.status !== 403 || !NEEDS_PIN.test(e.message)) throw e;
    }
  }
  let problem = "";
  let known = "";
  for (;;) {
    const nurse = await ask(what, problem, known);
    if (nurse === null) throw new ApiError(0, "cancelled: nothing was done", path);
    known = nurse.initials;
    try {
      return await api(path, { method, body: { ...body, nurse } });
    } catch (e) {
      if (!(e instanceof ApiError) || ![403, 422, 429].includes(e.status)) throw e;
      problem = e.message.replace(/^\S+ \S+: /, "");
    }
  }
}
