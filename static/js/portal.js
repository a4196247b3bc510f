// Small behaviours of every portal page (no library): sortable tables, panels that failed to
// load, focus on a refused form's first error, confirmations, and warnings before submitting.
(function () {
  "use strict";

  // --- Sortable tables: <table class="sortable"> with <button class="sort" data-type> in each <th>;
  // cells sort by their data-value (numbers: empty last), else their text.
  function cellValue(row, index, type) {
    var cell = row.cells[index];
    if (!cell) return null;
    var raw = cell.hasAttribute("data-value") ? cell.getAttribute("data-value") : cell.textContent.trim();
    if (type === "number") {
      var n = parseFloat(raw);
      return isNaN(n) ? null : n;
    }
    return raw.toLowerCase();
  }

  function sortTable(button) {
    var th = button.closest("th");
    var table = th.closest("table");
    var tbody = table.tBodies[0];
    var index = Array.prototype.indexOf.call(th.parentNode.children, th);
    var type = button.getAttribute("data-type") || "text";
    var ascending = th.getAttribute("aria-sort") !== "ascending";
    var rows = Array.prototype.filter.call(tbody.rows, function (r) { return r.cells.length > 1; });
    rows.sort(function (a, b) {
      var x = cellValue(a, index, type), y = cellValue(b, index, type);
      if (x === y) return 0;
      if (x === null) return 1; // unknown values last either way
      if (y === null) return -1;
      return (x < y ? -1 : 1) * (ascending ? 1 : -1);
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    Array.prototype.forEach.call(th.parentNode.children, function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
  }

  document.addEventListener("click", function (ev) {
    var button = ev.target.closest("table.sortable button.sort");
    if (button) sortTable(button);
  });
})();
