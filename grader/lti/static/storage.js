// LTI client-side postMessage storage (1EdTech "LTI Client Side postMessages" and "OIDC Login
// with LTI Client Side postMessages"), for LMS frames where our cookies are blocked.
//
// #lti-storage carries: data-mode "put" (login: store state and nonce, then go to data-next,
// the platform's authorization URL) or "get" (launch: read them back and post them with the
// launch form #lti-storage-launch); data-target, the login's lti_storage_target ("_parent" or
// the name of a frame of the platform's window); data-origin, the origin of the platform's
// OIDC authorization URL: every message goes to that origin only (no wildcard), and only
// answers from it, with our message_id and the ".response" subject, are read.
(function () {
  "use strict";
  var TIMEOUT_MS = 2000;
  var box = document.getElementById("lti-storage");
  if (!box) { return; }
  var cfg = box.dataset;
  var origin = cfg.origin;
  var status = document.getElementById("lti-storage-status");

  function say(text) { if (status) { status.textContent = text; } }

  function messageId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return "cnnquiz-" + Array.prototype.map.call(bytes, function (b) {
      return ("0" + b.toString(16)).slice(-2);
    }).join("");
  }

  // The platform's window is our parent (in a frame) or our opener (in a new window); the
  // storage is that window ("_parent") or its frame named by lti_storage_target.
  function storageFrame() {
    var host = window.parent !== window ? window.parent : window.opener;
    if (!host) { return null; }
    if (cfg.target === "_parent") { return host; }
    try {
      if (host.frames[cfg.target]) { return host.frames[cfg.target]; }
    } catch (e) { /* not reachable: use the platform's window itself */ }
    return host;
  }

  function send(frame, message) {
    return new Promise(function (resolve, reject) {
      var id = messageId();
      var timer = null;
      message.message_id = id;
      function onMessage(event) {
        if (event.origin !== origin) { return; }
        var data = event.data;
        if (!data || typeof data !== "object" || data.message_id !== id) { return; }
        if (data.subject !== message.subject + ".response") { return; }
        window.removeEventListener("message", onMessage);
        clearTimeout(timer);
        if (data.error) { reject(data.error); } else { resolve(data); }
      }
      window.addEventListener("message", onMessage);
      timer = setTimeout(function () {
        window.removeEventListener("message", onMessage);
        reject({ code: "timeout", message: "The LMS page did not answer." });
      }, TIMEOUT_MS);
      try {
        frame.postMessage(message, origin);
      } catch (e) {
        window.removeEventListener("message", onMessage);
        clearTimeout(timer);
        reject({ code: "postmessage_failed", message: String(e) });
      }
    });
  }

  function put(frame, key, value) {
    return send(frame, { subject: "lti.put_data", key: key, value: value });
  }

  function get(frame, key) {
    return send(frame, { subject: "lti.get_data", key: key }).then(function (data) {
      return typeof data.value === "string" ? data.value : "";
    });
  }

  var frame = storageFrame();

  if (cfg.mode === "put") {
    var go = function () { window.location.replace(cfg.next); };
    if (!frame) { go(); return; }
    put(frame, cfg.stateKey, cfg.state)
      .then(function () { return put(frame, cfg.nonceKey, cfg.nonce); })
      .then(go, function () {
        // Not stored: our state cookie may still come back; the launch says if not.
        say("The LMS page did not keep this sign-in; trying with a cookie.");
        go();
      });
    return;
  }

  if (cfg.mode === "get") {
    var form = document.getElementById("lti-storage-launch");
    if (!form) { return; }
    var submit = function (state, nonce) {
      if (form.dataset.sent) { return; }
      form.dataset.sent = "1";
      form.elements.namedItem("stored_state").value = state;
      form.elements.namedItem("stored_nonce").value = nonce;
      form.submit();
    };
    if (!frame) { submit("", ""); return; }
    var state = "";
    get(frame, cfg.stateKey)
      .then(function (value) { state = value; return get(frame, cfg.nonceKey); })
      .then(function (nonce) { submit(state, nonce); },
            function () { submit(state, ""); });
  }
})();
