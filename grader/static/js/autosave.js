/* Drafts: what the student types is saved (debounced) to the item's draft URL, with a
   visible status: "Saving…", "Saved", or "Not saved — offline?" (retried when back online).

   When the session has ended (signed out elsewhere: the draft URL answers 401), what is
   typed is kept in this tab's sessionStorage under the user and the item, and put back in
   the form when that user opens the item again in this tab (after signing in again), then
   saved as a draft. Nothing is kept for anyone else, nor beyond the tab. */
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

  // The form's answer fields as [name, value] pairs, in document order (a grid's cells,
  // a part's several checkboxes): what `restore` puts back field by field.
  function entries(form) {
    var pairs = [];
    new FormData(form).forEach(function (value, name) {
      if (/^answers\[/.test(name)) pairs.push([name, String(value)]);
    });
    return pairs;
  }

  function restore(form, pairs) {
    var byName = {};
    pairs.forEach(function (pair) { (byName[pair[0]] = byName[pair[0]] || []).push(pair[1]); });
    var changedAny = false;
    Object.keys(byName).forEach(function (name) {
      var values = byName[name];
      var fields = Array.prototype.filter.call(form.elements, function (el) { return el.name === name; });
      fields.forEach(function (el, i) {
        var before = el.type === "checkbox" || el.type === "radio" ? el.checked : el.value;
        if (el.type === "checkbox" || el.type === "radio") el.checked = values.indexOf(el.value) >= 0;
        else if (i < values.length) el.value = values[i];
        var after = el.type === "checkbox" || el.type === "radio" ? el.checked : el.value;
        if (after !== before) {
          changedAny = true;
          el.dispatchEvent(new Event("input", { bubbles: true }));
          el.dispatchEvent(new Event("change", { bubbles: true }));
        }
      });
    });
    return changedAny;
  }

  function storage() {
    try { return window.sessionStorage; } catch (e) { return null; }  // blocked by settings
  }

  function init(form) {
    var url = form.getAttribute("data-autosave-url");
    var keyOfTab = "cnnquiz-unsent:" + (form.getAttribute("data-autosave-user") || "") + ":" + url;
    var sessionEnded = false;
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

    function keepInTab() {
      var store = storage();
      if (!store) return;
      try { store.setItem(keyOfTab, JSON.stringify(entries(form))); } catch (e) { /* full */ }
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
          if (result.status === 401) {  // signed out elsewhere: keep it for after signing in
            sessionEnded = true;
            keepInTab();
            message = (message || "Your session has ended.") +
              " What you typed is kept in this tab until you sign in again.";
          }
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
      if (sessionEnded) keepInTab();
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
    // What this user typed in this tab while signed out: back in the form, then saved.
    var store = storage();
    var kept = store && store.getItem(keyOfTab);
    if (kept) {
      store.removeItem(keyOfTab);
      var pairs = null;
      try { pairs = JSON.parse(kept); } catch (e) { pairs = null; }
      if (Array.isArray(pairs) && restore(form, pairs)) {
        show("Put back what you typed before signing in again: saving\u2026", "dirty");
        schedule(0);
      }
    }

    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden" && dirty) save();
    });
    form.addEventListener("answers:submitting", function () {
      // Kept whatever autosave last heard: a session ended elsewhere since is found out only
      // by this submission, which then meets the sign-in page. After a submission that
      // was recorded, the page shows these answers anyway, so putting them back changes
      // nothing.
      keepInTab();
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
