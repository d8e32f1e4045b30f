/* Drafts: what the student types is saved (debounced) to the item's draft URL, with a
   visible status: "Saving…", "Saved", or "Not saved — offline?" (retried when back online). */
(function () {
  "use strict";

  var DELAY_MS = 800;
  var RETRY_MS = 10000;

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function collect(form) {
    var answers = {};
    var data = new FormData(form);
    data.forEach(function (value, name) {
      var match = /^answers\[(.+)\]$/.exec(name);
      if (!match) return;
      var id = match[1];
      value = String(value);
      if (answers[id] && value) answers[id] = answers[id] + ", " + value;
      else if (!answers[id]) answers[id] = value;
    });
    return answers;
  }

  function pad(n) { return (n < 10 ? "0" : "") + n; }

  // The same form as the page's server-written times (attempts.format_time): UTC, 24-hour.
  function timeText(date) {
    return date.getUTCFullYear() + "-" + pad(date.getUTCMonth() + 1) + "-" + pad(date.getUTCDate()) +
      " " + pad(date.getUTCHours()) + ":" + pad(date.getUTCMinutes()) + " UTC";
  }

  function savedAt(json) {
    var text = json && typeof json.saved_at === "string" ? json.saved_at : "";
    if (text && !/(Z|[+-]\d\d:?\d\d)$/.test(text)) text += "Z";  // the server's times are UTC
    var date = text ? new Date(text) : null;
    return date && !isNaN(date.getTime()) ? date : new Date();
  }

  function init(form) {
    var url = form.getAttribute("data-autosave-url");
    var status = form.querySelector("[data-autosave-status]");
    var timer = null;
    var retry = null;
    var inFlight = false;
    var stopped = false;
    var lastSaved = JSON.stringify(collect(form));
    var dirty = false;
    var savedText = status ? status.textContent.trim() : "";

    function show(text, state) {
      if (!status) return;
      status.textContent = text;
      status.setAttribute("data-state", state);
    }

    function schedule(delay) {
      if (stopped) return;
      window.clearTimeout(timer);
      timer = window.setTimeout(save, delay);
    }

    function save() {
      if (stopped) return;
      var body = JSON.stringify(collect(form));
      if (body === lastSaved) {  // typed back to what is saved: nothing to save, say so
        dirty = false;
        show(savedText || "", savedText ? "saved" : "");
        return;
      }
      if (inFlight) { schedule(DELAY_MS); return; }
      inFlight = true;
      show("Saving\u2026", "saving");
      fetch(url, {
        method: "POST",
        credentials: "same-origin",
        headers: {
          "Content-Type": "application/json",
          "Accept": "application/json",
          "X-CSRFToken": csrfToken()
        },
        body: '{"answers":' + body + "}"
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (json) {
          return { ok: response.ok, status: response.status, json: json };
        });
      }).then(function (result) {
        inFlight = false;
        if (result.ok) {
          lastSaved = body;
          dirty = JSON.stringify(collect(form)) !== lastSaved;
          savedText = "Draft saved " + timeText(savedAt(result.json));
          show(savedText, "saved");
          if (dirty) schedule(DELAY_MS);
        } else {
          var message = result.json && result.json.error && result.json.error.message;
          show("Not saved \u2014 " + (message || "the server said " + result.status), "error");
          if (result.status >= 500) retryLater();
        }
      }).catch(function () {
        inFlight = false;
        show("Not saved \u2014 offline? Retrying\u2026", "offline");
        retryLater();
      });
    }

    function retryLater() {
      window.clearTimeout(retry);
      retry = window.setTimeout(save, RETRY_MS);
    }

    function changed() {
      if (stopped) return;
      dirty = true;
      show("Unsaved changes", "dirty");
      schedule(DELAY_MS);
    }

    form.addEventListener("input", changed);
    form.addEventListener("change", changed);
    window.addEventListener("online", function () { if (dirty) schedule(0); });
    window.addEventListener("offline", function () {
      if (dirty) show("Not saved \u2014 offline? Retrying\u2026", "offline");
    });
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden" && dirty) save();
    });
    form.addEventListener("answers:submitting", function () {
      stopped = true;  // the submission replaces the draft
      window.clearTimeout(timer);
      window.clearTimeout(retry);
    });
  }

  function start() {
    document.querySelectorAll("form[data-answer-form][data-autosave-url]").forEach(init);
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
