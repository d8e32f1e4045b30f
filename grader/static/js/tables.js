/* Wide tables: a table wider than its frame (.table-wrap scrolls sideways) gets a note above
   it saying that more columns are to the right, updated when the window is resized. */
(function () {
  "use strict";

  function update(wrap) {
    var wide = wrap.scrollWidth > wrap.clientWidth + 1;
    wrap.classList.toggle("is-scrollable", wide);
    var note = wrap.previousElementSibling;
    var hasNote = note && note.classList.contains("scroll-note");
    if (wide && !hasNote) {
      note = document.createElement("p");
      note.className = "scroll-note";
      note.textContent = "The table is wider than the page: scroll it sideways for more columns";
      wrap.parentNode.insertBefore(note, wrap);
      if (!wrap.hasAttribute("tabindex")) wrap.setAttribute("tabindex", "0");  // keyboard scrolling
    } else if (!wide && hasNote) {
      note.parentNode.removeChild(note);
    }
  }

  function updateAll() {
    document.querySelectorAll(".table-wrap").forEach(update);
  }

  function init() {
    updateAll();
    var timer = null;
    window.addEventListener("resize", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(updateAll, 150);
    });
    window.addEventListener("load", updateAll);  // after fonts and math have their widths
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
