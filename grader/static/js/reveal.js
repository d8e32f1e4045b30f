/* "Show the password" boxes: a checkbox with data-reveal-for="<input id>" shows that
   password field's text while ticked (an instructor checking a password before giving it
   out). The box stays hidden without JavaScript, where it could do nothing. */
(function () {
  "use strict";

  function start() {
    document.querySelectorAll("input[data-reveal-for]").forEach(function (box) {
      var field = document.getElementById(box.getAttribute("data-reveal-for"));
      if (!field) return;
      var holder = box.closest("[hidden]");
      if (holder) holder.hidden = false;
      box.addEventListener("change", function () {
        field.type = box.checked ? "text" : "password";
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
