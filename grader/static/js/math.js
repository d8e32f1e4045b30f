/* Formulas: KaTeX renders \[...\] and \(...\) inside every [data-math] region (vendored
   KaTeX, loaded before this file; without it the LaTeX source stays readable). */
(function () {
  "use strict";
  function render() {
    if (typeof window.renderMathInElement !== "function") return;
    document.querySelectorAll("[data-math]").forEach(function (region) {
      window.renderMathInElement(region, {
        delimiters: [
          { left: "\\[", right: "\\]", display: true },
          { left: "\\(", right: "\\)", display: false }
        ],
        ignoredTags: ["script", "noscript", "style", "textarea", "pre", "code", "option", "input"],
        throwOnError: false
      });
    });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", render);
  } else {
    render();
  }
})();
