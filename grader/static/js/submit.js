/* One click, one attempt: the submit button is disabled after the first click (the server
   also refuses a second submission of the same attempt number). */
(function () {
  "use strict";
  function init() {
    document.querySelectorAll("form[data-answer-form]").forEach(function (form) {
      var button = form.querySelector("[data-submit-once]");
      if (!button) return;
      var label = button.textContent;
      form.addEventListener("submit", function (event) {
        if (form.getAttribute("data-submitting") === "1") {
          event.preventDefault();
          return;
        }
        form.setAttribute("data-submitting", "1");
        form.dispatchEvent(new CustomEvent("answers:submitting"));
        window.setTimeout(function () {
          button.disabled = true;
          button.textContent = "Submitting\u2026";
        }, 0);
      });
      // Back/forward cache: a page shown again must be usable again.
      window.addEventListener("pageshow", function (event) {
        if (event.persisted) {
          form.removeAttribute("data-submitting");
          button.disabled = false;
          button.textContent = label;
        }
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
