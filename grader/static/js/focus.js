/* A form that comes back with fields to fix (marked data-focus-invalid) puts the focus on
   the first of them, in page order, so the keyboard and the screen reader start where the
   work is and the browser scrolls to it. A field the page already focused (autofocus) or
   one the user has reached meanwhile keeps the focus. */
(function () {
  "use strict";

  function start() {
    var active = document.activeElement;
    if (active && active !== document.body && active !== document.documentElement) return;
    var field = document.querySelector("form[data-focus-invalid] [aria-invalid=\"true\"]");
    if (field) field.focus();
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
