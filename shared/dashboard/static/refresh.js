// While a rollout is in flight the page reloads its own content every few seconds, in place:
// no full-page refresh (WCAG 2.2.1), focus and scroll kept, and a button pauses it.
(function () {
  "use strict";
  var seconds = Number(document.body.dataset.refresh || 0);
  var button = document.getElementById("refresh-toggle");
  if (!seconds || !button) { return; }
  var paused = sessionStorage.getItem("dashboard-refresh") === "paused";
  function label() {
    button.textContent = paused ? "Resume auto-refresh" : "Pause auto-refresh";
    button.setAttribute("aria-pressed", paused ? "true" : "false");
  }
  button.hidden = false;
  label();
  button.addEventListener("click", function () {
    paused = !paused;
    sessionStorage.setItem("dashboard-refresh", paused ? "paused" : "on");
    label();
  });
  function tick() {
    if (paused || document.activeElement && document.activeElement.tagName === "INPUT") {
      return setTimeout(tick, seconds * 1000);
    }
    fetch(location.href, { credentials: "same-origin" }).then(function (response) {
      return response.ok ? response.text() : null;
    }).then(function (html) {
      if (!html) { return setTimeout(tick, seconds * 1000); }
      var next = new DOMParser().parseFromString(html, "text/html");
      document.getElementById("content").replaceWith(next.getElementById("content"));
      if (next.body.dataset.refresh) { setTimeout(tick, seconds * 1000); } else { button.hidden = true; }
    }).catch(function () { setTimeout(tick, seconds * 1000); });
  }
  setTimeout(tick, seconds * 1000);
}());
