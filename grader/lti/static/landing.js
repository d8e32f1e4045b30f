// After a launch whose browser sent no cookie to the LMS frame: ask /lti/session whether the
// session cookie set by the launch came back. Yes: open the page of the launch. No: the
// frame cannot keep the student signed in, so point at "Open in a new window" (its form
// carries a single-use ticket). Without JavaScript both ways are shown.
(function () {
  "use strict";
  var box = document.getElementById("lti-landing");
  if (!box) { return; }
  var status = document.getElementById("lti-landing-status");
  var blocked = document.getElementById("lti-landing-blocked");
  var onward = document.getElementById("lti-landing-onward");
  blocked.hidden = true;

  function cookieBlocked() {
    status.textContent = "Your browser does not keep CNN Quiz's sign-in inside the LMS " +
      "page (third-party cookies are blocked).";
    var why = document.getElementById("lti-landing-why");
    if (why) { why.textContent = "Open it in a new window: you stay signed in there."; }
    if (onward) { onward.hidden = true; }
    blocked.hidden = false;
    var button = blocked.querySelector("button");
    if (button) { button.focus(); }
  }

  var form = document.getElementById("lti-open-window");
  if (form) {
    form.addEventListener("submit", function () {
      status.textContent = "Opened in a new window.";
    });
  }

  fetch(box.dataset.check, {
    credentials: "same-origin", cache: "no-store", headers: { Accept: "application/json" }
  }).then(function (response) {
    return response.ok ? response.json() : {};
  }).then(function (body) {
    if (body && body.signed_in === true) {
      window.location.replace(box.dataset.next);
    } else {
      cookieBlocked();
    }
  }, cookieBlocked);
})();
