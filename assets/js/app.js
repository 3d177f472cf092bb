// carebook: progressive enhancement only. Every page works without this script;
// it makes the theme switch instant, asks before destructive actions, keeps the
// unread badges and live screens current, and runs the chat over the live socket.
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
    // A form the script sends itself (a chat message over the socket) stays here.
    if (!event.defaultPrevented) leaving = true;
  });
  window.addEventListener("pagehide", function () { leaving = true; });
  window.addEventListener("pageshow", function () { leaving = false; });

  // The live channel: one WebSocket per signed-in page (GET /api/v1/live, with the
  // session cookie). It keeps the unread badges current, reloads live screens and
  // carries the chat. After a drop it reconnects with the last event id it saw, so
  // nothing is missed; the wait doubles up to 30 s.
  var signedIn = document.body && document.body.hasAttribute("data-signed-in");
  var listeners = [];
  var openListeners = [];
  var socket = null;
  var lastEventId = null;
  var retryIn = 1000;
  var closing = false;

  function sendFrame(frame) {
    if (!socket || socket.readyState !== 1) return false;
    socket.send(JSON.stringify(frame));
    return true;
  }

  function connect() {
    var url = (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + "/api/v1/live";
    if (lastEventId !== null) url += "?last_event_id=" + lastEventId;
    var ws;
    try { ws = new WebSocket(url); } catch (ignored) { return; }
    socket = ws;
    ws.addEventListener("open", function () {
      retryIn = 1000;
      root.setAttribute("data-socket", "open");
      openListeners.forEach(function (listener) { listener(); });
    });
    ws.addEventListener("message", function (event) {
      var frame;
      try { frame = JSON.parse(event.data); } catch (ignored) { return; }
      if (!frame || typeof frame.type !== "string") return;
      if (typeof frame.id === "number") {
        if (lastEventId !== null && frame.id <= lastEventId) return;
        lastEventId = frame.id;
      } else if (frame.type === "ready" && lastEventId === null && frame.data) {
        lastEventId = frame.data.last_event_id;
      }
      listeners.forEach(function (listener) { listener(frame); });
    });
    ws.addEventListener("close", function () {
      if (socket === ws) socket = null;
      root.setAttribute("data-socket", "closed");
      if (closing) return;
      setTimeout(connect, retryIn);
      retryIn = Math.min(retryIn * 2, 30000);
    });
  }

  if (signedIn && window.WebSocket && window.JSON) {
    window.addEventListener("pagehide", function () {
      closing = true;
      if (socket) socket.close(1000);
    });
    window.addEventListener("pageshow", function (event) {
      if (!event.persisted || !closing) return;
      closing = false;
      connect();
    });
    connect();
  }
  var socketLive = signedIn && !!window.WebSocket;

  // Unread badges: the messages count beside "Messages", the notifications bell.
  function setBadge(badge, count) {
    if (!badge) return;
    var number = badge.querySelector("[data-count]");
    if (number) number.textContent = String(count);
    badge.hidden = !(count > 0);
  }
  listeners.push(function (frame) {
    if (frame.type !== "notifications" || !frame.data) return;
    setBadge(document.querySelector("[data-messages-badge]"), frame.data.unread_messages);
    var bell = document.querySelector(".bell");
    if (bell) {
      bell.setAttribute("data-unread", String(frame.data.unread));
      var badge = bell.querySelector("[data-unread-badge]");
      if (!badge && frame.data.unread > 0) {
        badge = document.createElement("span");
        badge.className = "badge";
        badge.setAttribute("data-unread-badge", "");
        var number = document.createElement("span");
        number.setAttribute("data-count", "");
        var hidden = document.createElement("span");
        hidden.className = "visually-hidden";
        hidden.textContent = " unread";
        badge.appendChild(number);
        badge.appendChild(hidden);
        bell.appendChild(badge);
      }
      if (badge && !badge.querySelector("[data-count]")) {
        badge.textContent = "";
        var count = document.createElement("span");
        count.setAttribute("data-count", "");
        var label = document.createElement("span");
        label.className = "visually-hidden";
        label.textContent = " unread";
        badge.appendChild(count);
        badge.appendChild(label);
      }
      setBadge(badge, frame.data.unread);
    }
  });

  // Live screens (<main data-live>) reload when an appointment they show changes,
  // unless the user is typing in a form. Over the socket where there is one; the
  // /api/v1/events stream where WebSocket is missing.
  var live = document.querySelector("[data-live]");
  if (live) {
    var pending = false;
    var reload = function () {
      if (leaving) return;
      var active = document.activeElement;
      if (active && /INPUT|TEXTAREA|SELECT/.test(active.tagName)) {
        pending = true;
        return;
      }
      window.location.reload();
    };
    document.addEventListener("focusout", function () {
      if (pending) setTimeout(reload, 500);
    });
    if (socketLive) {
      var connectedOnce = false;
      openListeners.push(function () {
        // Changes made while the socket was down may be missing (the front desk has
        // no stream to replay): show the page afresh.
        if (connectedOnce) reload();
        connectedOnce = true;
      });
      listeners.push(function (frame) {
        if (frame.type === "appointment") reload();
      });
    } else if (window.EventSource) {
      var source = new EventSource("/api/v1/events");
      window.addEventListener("pagehide", function () { source.close(); });
      source.addEventListener("appointment", reload);
      source.addEventListener("skipped", reload);
    }
  }

  // A conversation page (<section data-chat="id">): messages arrive and go out over
  // the socket; without it the form posts as usual.
  var chat = document.querySelector("[data-chat]");
  if (chat && socketLive) {
    var conversationId = chat.getAttribute("data-chat");
    var me = chat.getAttribute("data-me");
    var otherName = chat.getAttribute("data-other-name") || "";
    var list = chat.querySelector("[data-messages]");
    var empty = chat.querySelector("[data-chat-empty]");
    var typingLine = chat.querySelector("[data-typing]");
    var form = document.querySelector("[data-chat-form]");
    var status = form && form.querySelector("[data-chat-status]");
    var field = form && form.querySelector("textarea[name=text]");
    var clientIdField = form && form.querySelector("[data-client-id]");
    var typingTimer = null;
    var lastTypingSent = 0;
    var lastSeq = 0;
    Array.prototype.forEach.call(list.querySelectorAll("[data-seq]"), function (item) {
      lastSeq = Math.max(lastSeq, Number(item.getAttribute("data-seq")) || 0);
    });

    var freshClientId = function () {
      var bytes = new Uint8Array(16);
      window.crypto.getRandomValues(bytes);
      return Array.prototype.map.call(bytes, function (b) { return ("0" + b.toString(16)).slice(-2); }).join("");
    };
    var twoDigits = function (n) { return (n < 10 ? "0" : "") + n; };
    var timeOf = function (iso) {
      var at = new Date(iso);
      if (isNaN(at.getTime())) return "";
      return at.toLocaleDateString(undefined, { weekday: "short", day: "numeric", month: "short", year: "numeric" }) +
        ", " + twoDigits(at.getHours()) + ":" + twoDigits(at.getMinutes());
    };
    var markRead = function () {
      if (document.visibilityState === "visible" && lastSeq > 0) {
        sendFrame({ type: "read", conversation_id: conversationId, up_to_seq: lastSeq });
      }
    };
    var append = function (data) {
      if (list.querySelector('[data-seq="' + data.seq + '"]')) return;
      var mine = data.sender_id === me;
      var item = document.createElement("li");
      item.id = "m-" + data.seq;
      item.className = "message" + (mine ? " message-mine" : "");
      item.setAttribute("data-seq", String(data.seq));
      var meta = document.createElement("p");
      meta.className = "message-meta";
      var sender = document.createElement("span");
      sender.className = "message-sender";
      sender.textContent = mine ? (document.querySelector(".who") || {}).textContent || "" : otherName;
      var when = document.createElement("span");
      when.className = "muted";
      when.textContent = timeOf(data.sent_at);
      meta.appendChild(sender);
      meta.appendChild(document.createTextNode(" "));
      meta.appendChild(when);
      item.appendChild(meta);
      if (data.text) {
        var text = document.createElement("p");
        text.className = "message-text";
        text.textContent = data.text;
        item.appendChild(text);
      }
      if (data.attachment) {
        var file = document.createElement("p");
        file.className = "message-attachment";
        var link = document.createElement("a");
        link.href = "/api/v1/attachments/" + encodeURIComponent(data.attachment.id);
        link.setAttribute("download", "");
        link.textContent = data.attachment.file_name;
        file.appendChild(link);
        item.appendChild(file);
      }
      if (mine) {
        var mark = document.createElement("p");
        mark.className = "message-mark muted";
        mark.setAttribute("data-mark", "");
        mark.textContent = "Sent";
        item.appendChild(mark);
      }
      list.appendChild(item);
      if (empty) empty.hidden = true;
      lastSeq = Math.max(lastSeq, data.seq);
      item.scrollIntoView({ block: "nearest" });
    };
    var updateMarks = function (receipt) {
      Array.prototype.forEach.call(list.querySelectorAll(".message-mine"), function (item) {
        var seq = Number(item.getAttribute("data-seq"));
        var mark = item.querySelector("[data-mark]");
        if (!mark) return;
        if (receipt.read_seq >= seq) mark.textContent = "Read";
        else if (receipt.delivered_seq >= seq && mark.textContent !== "Read") mark.textContent = "Delivered";
      });
    };
    var showTyping = function () {
      typingLine.textContent = otherName + " is typing…";
      typingLine.hidden = false;
      clearTimeout(typingTimer);
      typingTimer = setTimeout(function () { typingLine.hidden = true; typingLine.textContent = ""; }, 5000);
    };

    listeners.push(function (frame) {
      var data = frame.data || {};
      if (frame.type === "message" && data.conversation_id === conversationId) {
        append(data);
        if (data.sender_id !== me) {
          typingLine.hidden = true;
          markRead();
        }
      } else if (frame.type === "receipt" && data.conversation_id === conversationId && data.user_id !== me) {
        updateMarks(data);
      } else if (frame.type === "typing" && data.conversation_id === conversationId && data.user_id !== me) {
        showTyping();
      } else if (frame.type === "ack" && data.conversation_id === conversationId && status) {
        if (clientIdField && clientIdField.value === data.client_id) {
          clientIdField.value = freshClientId();
          if (field) field.value = "";
          status.textContent = "Sent.";
        }
      } else if (frame.type === "error" && status && (!data.client_id || (clientIdField && data.client_id === clientIdField.value))) {
        var detail = data.errors && data.errors.length ? data.errors[0].message : data.detail;
        status.textContent = "Not sent: " + (detail || "please try again") + ".";
      }
    });
    openListeners.push(markRead);
    document.addEventListener("visibilitychange", markRead);

    // A file: uploaded to the patient's file (with progress), then sent as a message
    // over REST; its frame comes back over the socket like any other. The session's
    // CSRF token (the forms' _csrf) lets the API accept the cookie.
    var fileForm = document.querySelector("[data-chat-file-form]");
    var patientId = chat.getAttribute("data-patient");
    if (fileForm && patientId && window.FormData && window.XMLHttpRequest && window.fetch) {
      fileForm.addEventListener("submit", function (event) {
        if (event.defaultPrevented) return;
        var input = fileForm.querySelector("input[type=file]");
        var csrf = fileForm.querySelector("input[name=_csrf]");
        var note = fileForm.querySelector("input[name=text]");
        var fileId = fileForm.querySelector("[data-client-id]");
        var bar = fileForm.querySelector("[data-upload-progress]");
        var said = fileForm.querySelector("[data-chat-file-status]");
        if (!input || !input.files || !input.files.length || !csrf || !fileId) return;
        event.preventDefault();
        var tell = function (text) { if (said) said.textContent = text; };
        var problem = function (body, fallback) {
          try {
            var parsed = JSON.parse(body);
            return (parsed.errors && parsed.errors.length ? parsed.errors[0].message : parsed.detail) || fallback;
          } catch (ignored) { return fallback; }
        };
        var body = new FormData();
        body.append("file", input.files[0]);
        var request = new XMLHttpRequest();
        request.open("POST", "/api/v1/patients/" + encodeURIComponent(patientId) + "/attachments");
        request.setRequestHeader("X-CSRF-Token", csrf.value);
        if (bar) { bar.hidden = false; bar.value = 0; }
        tell("Uploading…");
        request.upload.addEventListener("progress", function (progress) {
          if (bar && progress.lengthComputable) bar.value = Math.round((100 * progress.loaded) / progress.total);
        });
        request.addEventListener("error", function () { if (bar) bar.hidden = true; fileForm.submit(); });
        request.addEventListener("load", function () {
          if (bar) bar.hidden = true;
          if (request.status !== 201) {
            tell("Not sent: " + problem(request.responseText, "the file could not be uploaded") + ".");
            return;
          }
          var uploadedId = JSON.parse(request.responseText).id;
          fetch("/api/v1/conversations/" + encodeURIComponent(conversationId) + "/messages", {
            method: "POST",
            credentials: "same-origin",
            headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf.value },
            body: JSON.stringify({ client_id: fileId.value, text: note ? note.value : "", attachment_id: uploadedId })
          }).then(function (response) {
            return response.text().then(function (text) {
              if (response.ok) {
                tell(input.files[0].name + " was sent.");
                fileForm.reset();
                fileId.value = freshClientId();
              } else {
                tell("Not sent: " + problem(text, "please try again") + ".");
              }
            });
          }, function () { tell("Not sent: please check your connection and try again."); });
        });
        request.send(body);
      });
    }

    if (form && field) {
      field.addEventListener("input", function () {
        var now = Date.now();
        if (now - lastTypingSent < 3000) return;
        if (sendFrame({ type: "typing", conversation_id: conversationId })) lastTypingSent = now;
      });
      form.addEventListener("submit", function (event) {
        if (event.defaultPrevented) return;
        if (!field.value.trim()) return;
        var sent = sendFrame({
          type: "message",
          conversation_id: conversationId,
          client_id: clientIdField.value,
          text: field.value
        });
        // Without an open socket the form posts as usual.
        if (!sent) return;
        event.preventDefault();
        if (status) status.textContent = "Sending…";
      });
    }
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
