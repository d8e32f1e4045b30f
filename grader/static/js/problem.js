/* Answer inputs: grid parts as one input per cell (arrow keys move, Enter never submits,
   a pasted block of numbers fills the cells; the cells are joined into the part's answer
   text), "None of these" exclusive with the other choices, and after grading the input
   window of a wrong grid cell highlighted while the cell is focused or hovered. */
(function () {
  "use strict";

  // Cells are joined with ", " (rendering.CELL_JOIN): a cell may hold spaces (5 1/2), and an
  // empty cell stays empty between its commas so the server can name it.
  var JOIN = ", ";
  var MIXED = /^[+-]?\d+\s+\d+\s*\/\s*\d+$/;

  function cellsOf(grid) {
    var rows = parseInt(grid.getAttribute("data-rows"), 10);
    var cols = parseInt(grid.getAttribute("data-cols"), 10);
    var inputs = grid.querySelectorAll("input.grid-cell");
    return { rows: rows, cols: cols, inputs: inputs };
  }

  function cellAt(info, r, c) {
    if (r < 0 || c < 0 || r >= info.rows || c >= info.cols) return null;
    return info.inputs[r * info.cols + c] || null;
  }

  function gridText(grid) {
    var info = cellsOf(grid);
    var any = false;
    var lines = [];
    for (var r = 0; r < info.rows; r++) {
      var row = [];
      for (var c = 0; c < info.cols; c++) {
        var input = cellAt(info, r, c);
        var value = input ? input.value.trim().split(/\s+/).join(" ") : "";
        if (value) any = true;
        row.push(value);
      }
      lines.push(row.join(JOIN));
    }
    return any ? lines.join("\n") : "";
  }

  function syncGrid(grid) {
    var hidden = grid.querySelector("input[data-grid-text]");
    if (hidden) hidden.value = gridText(grid);
  }

  function focusCell(input) {
    if (!input) return;
    input.focus();
    input.select();
  }

  function onKey(grid, event) {
    var input = event.target;
    if (!input.classList || !input.classList.contains("grid-cell")) return;
    var info = cellsOf(grid);
    var r = parseInt(input.getAttribute("data-row"), 10);
    var c = parseInt(input.getAttribute("data-col"), 10);
    var atStart = input.selectionStart === 0 && input.selectionEnd === 0;
    var atEnd = input.selectionStart === input.value.length && input.selectionEnd === input.value.length;
    var whole = input.selectionStart === 0 && input.selectionEnd === input.value.length;
    var target = null;
    switch (event.key) {
      case "ArrowUp": target = cellAt(info, r - 1, c); break;
      case "ArrowDown": target = cellAt(info, r + 1, c); break;
      case "ArrowLeft": if (atStart || whole) target = cellAt(info, r, c - 1); else return; break;
      case "ArrowRight": if (atEnd || whole) target = cellAt(info, r, c + 1); else return; break;
      case "Enter":
        event.preventDefault();  // never submit the attempt from a cell
        target = cellAt(info, r, c + 1) || cellAt(info, r + 1, 0);
        break;
      default: return;
    }
    event.preventDefault();
    focusCell(target);
  }

  function onPaste(grid, event) {
    var input = event.target;
    if (!input.classList || !input.classList.contains("grid-cell")) return;
    var text = (event.clipboardData || window.clipboardData).getData("text");
    if (!text || !/[\s,;]/.test(text.trim()) || MIXED.test(text.trim())) return;  // one value
    event.preventDefault();
    var info = cellsOf(grid);
    var r0 = parseInt(input.getAttribute("data-row"), 10);
    var c0 = parseInt(input.getAttribute("data-col"), 10);
    var rows = text.trim().replace(/[\[\]]/g, " ").split(/\r?\n|;/);
    function split(line) {  // at commas if there are any (a cell may be 5 1/2), else at spaces
      line = line.trim();
      return line.indexOf(",") >= 0 ? line.split(/\s*,\s*/) : line.split(/\s+/);
    }
    if (rows.length === 1) {  // a flat list fills the cells row by row
      var flat = split(rows[0]);
      flat.forEach(function (value, k) {
        var index = r0 * info.cols + c0 + k;
        var cell = info.inputs[index];
        if (cell) cell.value = value;
      });
    } else {
      rows.forEach(function (line, dr) {
        split(line).forEach(function (value, dc) {
          var cell = cellAt(info, r0 + dr, c0 + dc);
          if (cell && value) cell.value = value;
        });
      });
    }
    syncGrid(grid);
    input.dispatchEvent(new Event("input", { bubbles: true }));
  }

  function setWindow(source) {
    var target = document.querySelector("[data-window-target]");
    if (!target) return;
    var spec = source.getAttribute("data-window") || "";
    var wanted = {};
    spec.split(/\s+/).forEach(function (rc) { if (rc) wanted[rc] = true; });
    target.querySelectorAll("td[data-rc]").forEach(function (td) {
      td.classList.toggle("in-window", !!wanted[td.getAttribute("data-rc")]);
    });
    document.querySelectorAll("input.window-source").forEach(function (el) {
      el.classList.remove("window-source");
    });
    source.classList.add("window-source");
  }

  function initGrid(grid) {
    grid.addEventListener("keydown", function (event) { onKey(grid, event); });
    grid.addEventListener("paste", function (event) { onPaste(grid, event); });
    grid.addEventListener("input", function () { syncGrid(grid); });
    grid.addEventListener("focusin", function (event) {
      if (event.target.hasAttribute && event.target.hasAttribute("data-window")) setWindow(event.target);
    });
    grid.querySelectorAll("input[data-window]").forEach(function (input) {
      input.addEventListener("mouseenter", function () { setWindow(input); });
    });
    var first = grid.querySelector("input[data-window]");
    if (first) first.classList.add("window-source");
    syncGrid(grid);
  }

  function initChoices(root) {
    root.querySelectorAll("input[data-choice-none]").forEach(function (none) {
      var box = none.closest("fieldset");
      if (!box) return;
      none.addEventListener("change", function () {
        if (none.checked) {
          box.querySelectorAll("input[data-choice]").forEach(function (other) { other.checked = false; });
        }
      });
      box.querySelectorAll("input[data-choice]").forEach(function (other) {
        other.addEventListener("change", function () { if (other.checked) none.checked = false; });
      });
    });
  }

  function boxState(box) {
    return Array.prototype.map.call(box.querySelectorAll("input, textarea, select"), function (el) {
      if (el.type === "hidden") return "";
      if (el.type === "checkbox" || el.type === "radio") return el.checked ? "1" : "0";
      return el.value.trim().split(/\s+/).join(" ");
    }).join("\u0000");
  }

  // A grid cell says its mark in its label ("row 0, column 1 (not right)"): an edited cell
  // no longer does, until the graded value is typed back.
  var SPOKEN_MARK = / \(not right\)$/;
  function speakMark(box, changed) {
    if (box.tagName !== "TD") return;
    var cell = box.querySelector("input.grid-cell");
    if (!cell) return;
    var label = cell.getAttribute("aria-label") || "";
    if (!cell.hasAttribute("data-graded-label")) {
      if (!SPOKEN_MARK.test(label)) return;  // a right cell's label names no mark
      cell.setAttribute("data-graded-label", label);
    }
    var graded = cell.getAttribute("data-graded-label");
    cell.setAttribute("aria-label", changed ? graded.replace(SPOKEN_MARK, "") : graded);
  }

  function watchMarks(form) {
    // A mark belongs to the answer that was graded: once a box is edited its mark is hidden
    // (and comes back if the graded answer is typed again).
    var boxes = Array.prototype.slice.call(form.querySelectorAll("[data-marked]"));
    if (!boxes.length) return;
    var graded = boxes.map(boxState);
    function check(event) {
      boxes.forEach(function (box, i) {
        if (!box.contains(event.target)) return;
        var changed = boxState(box) !== graded[i];
        box.classList.toggle("is-changed", changed);
        speakMark(box, changed);
      });
    }
    form.addEventListener("input", check);
    form.addEventListener("change", check);
  }

  // On a phone a summary table is stacked (problem.css): each row's layer above its cells,
  // each cell after its column's title (data-label), so that nothing scrolls sideways. The
  // footer's cells have their own row titles. Without this script the table scrolls.
  function labelColumns(table) {
    var head = table.tHead && table.tHead.rows[0];
    if (!head) return;
    var titles = [];
    Array.prototype.forEach.call(head.cells, function (cell) {
      var title = cell.textContent.trim().split(/\s+/).join(" ");
      for (var k = 0; k < cell.colSpan; k++) titles.push(title);
    });
    Array.prototype.forEach.call(table.tBodies, function (body) {
      Array.prototype.forEach.call(body.rows, function (row) {
        var col = 0;
        Array.prototype.forEach.call(row.cells, function (cell) {
          if (cell.tagName === "TD" && cell.colSpan === 1 && titles[col]) {
            cell.setAttribute("data-label", titles[col]);
          }
          col += cell.colSpan;
        });
      });
    });
    table.classList.add("stackable");
  }

  function guardEnter(form) {
    // Enter in an answer box moves to the next box: an attempt is only spent by the button.
    form.addEventListener("keydown", function (event) {
      if (event.key !== "Enter" || event.defaultPrevented) return;
      var input = event.target;
      if (!(input instanceof HTMLInputElement) || input.type === "submit") return;
      event.preventDefault();
      var boxes = Array.prototype.filter.call(
        form.querySelectorAll("input[type=text], input[type=radio], input[type=checkbox], textarea"),
        function (el) { return !el.disabled && !el.readOnly && el.offsetParent !== null; });
      var next = boxes[boxes.indexOf(input) + 1];
      if (next) { next.focus(); if (next.select) next.select(); }
    });
  }

  function init() {
    document.querySelectorAll("[data-grid-answer]").forEach(initGrid);
    document.querySelectorAll("[data-problem]").forEach(initChoices);
    document.querySelectorAll("table.summary-table").forEach(labelColumns);
    document.querySelectorAll("form").forEach(function (form) {
      if (!form.querySelector("[data-problem]")) return;
      guardEnter(form);
      watchMarks(form);
      form.addEventListener("submit", function () {
        form.querySelectorAll("[data-grid-answer]").forEach(syncGrid);
      });
    });
  }

  window.cnnquizGridText = gridText;
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", init);
  } else {
    init();
  }
})();
