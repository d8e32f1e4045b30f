/* Times are stored and shown in UTC (`2026-12-01 17:00 UTC`); a reader elsewhere also sees
   their own local time after it, e.g. "(Tue 1 Dec, 18:00 CET, your time)". Only where the
   local time differs from UTC; without JavaScript the UTC time stands alone. */
(function () {
  "use strict";

  function start() {
    var times = document.querySelectorAll("time[data-local]");
    if (!times.length || !window.Intl) return;
    var format = new Intl.DateTimeFormat(undefined, {
      weekday: "short", day: "numeric", month: "short",
      hour: "2-digit", minute: "2-digit", timeZoneName: "short"
    });
    times.forEach(function (el) {
      var when = new Date(el.getAttribute("datetime"));
      if (isNaN(when.getTime()) || when.getTimezoneOffset() === 0) return;
      if (el.nextElementSibling && el.nextElementSibling.classList.contains("local-time")) return;
      var local = document.createElement("span");
      local.className = "local-time muted";
      local.textContent = " (" + format.format(when) + ", your time)";
      el.insertAdjacentElement("afterend", local);
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
