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

  // Uploads show their progress: <form data-upload> with <progress data-upload-progress>.
  // Without the script the form posts as usual.
  document.addEventListener("submit", function (event) {
    var form = event.target;
    if (event.defaultPrevented || !form.hasAttribute || !form.hasAttribute("data-upload")) return;
    var bar = form.querySelector("[data-upload-progress]");
    if (!bar || !window.FormData || !window.XMLHttpRequest) return;
    event.preventDefault();
    var request = new XMLHttpRequest();
    request.open("POST", form.action);
    request.setRequestHeader("X-Requested-With", "XMLHttpRequest");
    bar.hidden = false;
    bar.value = 0;
    request.upload.addEventListener("progress", function (progress) {
      if (progress.lengthComputable) bar.value = Math.round((100 * progress.loaded) / progress.total);
    });
    request.addEventListener("load", function () {
      var to = null;
      try { to = JSON.parse(request.responseText).location; } catch (ignored) { to = null; }
      if (to) {
        var target = new URL(to, window.location.href);
        if (target.pathname === window.location.pathname && target.search === window.location.search) {
          window.location.hash = target.hash;
          window.location.reload();
        } else {
          window.location.assign(target.href);
        }
      } else {
        // An error page (too large for the server, a stale form): show it as it is.
        document.open();
        document.write(request.responseText);
        document.close();
      }
    });
    request.addEventListener("error", function () { bar.hidden = true; form.submit(); });
    request.send(new FormData(form));
  });
})();
