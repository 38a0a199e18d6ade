// The sign-in page: come back to the page that asked for it, and say so when a token was refused.
"use strict";
(function () {
  const params = new URLSearchParams(location.search);
  document.getElementById("next").value = location.pathname;
  if (params.get("signin") === "failed") {
    document.getElementById("signin-error").hidden = false;
  }
})();
