/* A form that comes back with fields to fix (marked data-focus-invalid) puts the focus on
   the first of them, in page order, so the keyboard and the screen reader start where the
   work is; the field is scrolled to the middle of the window, its message under it in view.
   A field the page already focused (autofocus) or one the user has reached meanwhile keeps
   the focus. A page whose address ends in a #fragment (the export form's) is scrolled to
   it by the browser after loading, which drops the focus: it is set again then. */
(function () {
  "use strict";

  function unfocused() {
    var active = document.activeElement;
    return !active || active === document.body || active === document.documentElement;
  }

  function focusFirst() {
    if (!unfocused()) return;
    var field = document.querySelector("form[data-focus-invalid] [aria-invalid=\"true\"]");
    if (!field) return;
    field.focus({ preventScroll: true });
    field.scrollIntoView({ block: "center" });
  }

  function start() {
    focusFirst();
    window.addEventListener("load", function () {
      window.requestAnimationFrame(focusFirst);
    }, { once: true });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
