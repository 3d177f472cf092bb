// carebook: progressive enhancement only. Every page works without this script;
// it makes the theme switch instant, asks before destructive actions, and keeps
// the notification badge and live screens current.
(function () {
  "use strict";

  var root = document.documentElement;
  // Tells tests (and styles, should they need it) that the script runs.
  root.setAttribute("data-script", "on");

  // Theme: switch without a reload; the cookie is what the server reads next time.
  function effectiveTheme() {
    var chosen = root.getAttribute("data-theme");
    if (chosen) return chosen;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  document.addEventListener("click", function (event) {
    var toggle = event.target.closest && event.target.closest("[data-theme-toggle]");
    if (!toggle) return;
    event.preventDefault();
    var next = effectiveTheme() === "dark" ? "light" : "dark";
    root.setAttribute("data-theme", next);
    document.cookie = "carebook_theme=" + next + "; Path=/; Max-Age=31536000; SameSite=Lax";
    var label = toggle.querySelector(".theme-label");
    if (label) label.textContent = next;
    toggle.setAttribute("aria-label", "Theme: " + next + ". Switch to " + (next === "dark" ? "light" : "dark"));
  });

  // Destructive actions ask first: <form data-confirm="Cancel this visit?">.
  // Once a form is on its way, live reloads stand aside: reloading now would cancel
  // the submission's own page (and its message).
  var leaving = false;
  document.addEventListener("submit", function (event) {
    var form = event.target;
    var question = form.getAttribute && form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
      return;
    }
    leaving = true;
  });
  window.addEventListener("pagehide", function () { leaving = true; });
  window.addEventListener("pageshow", function () { leaving = false; });

  // Live screens (<main data-live>) reload when an appointment they show changes,
  // unless the user is typing in a form.
  var live = document.querySelector("[data-live]");
  if (live && window.EventSource) {
    var source = new EventSource("/api/v1/events");
    var pending = false;
    window.addEventListener("pagehide", function () { source.close(); });
    var reload = function () {
      if (leaving) return;
      var active = document.activeElement;
      if (active && /INPUT|TEXTAREA|SELECT/.test(active.tagName)) {
        pending = true;
        return;
      }
      window.location.reload();
    };
    source.addEventListener("appointment", reload);
    source.addEventListener("skipped", reload);
    document.addEventListener("focusout", function () {
      if (pending) setTimeout(reload, 500);
    });
  }
})();
