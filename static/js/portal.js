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

  // --- Panels (htmx GETs) that fail: an error answer, no answer, or a timeout. The panel says
  // so and offers a retry instead of "Loading…" forever.
  function panelFailed(ev, reason) {
    var detail = ev.detail || {};
    var config = detail.requestConfig || {};
    var target = detail.target;
    var source = detail.elt;
    if (!target || !source || (config.verb && config.verb !== "get")) return;
    var path = config.path || (detail.pathInfo && detail.pathInfo.requestPath);
    var box = document.createElement("div");
    box.className = "panel-error";
    box.setAttribute("role", "alert");
    var text = document.createElement("p");
    text.textContent = reason;
    var retry = document.createElement("button");
    retry.type = "button";
    retry.className = "retry";
    retry.textContent = "Retry";
    retry.addEventListener("click", function () {
      retry.disabled = true;
      retry.textContent = "Retrying…";
      window.htmx.ajax("GET", path, {
        source: source,
        target: target,
        swap: source.getAttribute("hx-swap") || "innerHTML",
      });
    });
    box.appendChild(text);
    box.appendChild(retry);
    target.replaceChildren(box);
  }

  document.addEventListener("htmx:responseError", function (ev) {
    var xhr = ev.detail && ev.detail.xhr;
    var status = xhr ? xhr.status : 0;
    panelFailed(
      ev,
      status === 404
        ? "This panel could not be loaded: not found (404). It may have been deleted or renamed."
        : "This panel could not be loaded: the server answered " + status + "."
    );
  });
  document.addEventListener("htmx:sendError", function (ev) {
    panelFailed(ev, "This panel could not be loaded: the server could not be reached.");
  });
  document.addEventListener("htmx:timeout", function (ev) {
    panelFailed(ev, "This panel could not be loaded: the server took too long.");
  });

  // --- The service form: a team at its service limit is named as soon as it is chosen, with
  // what to do (the page carries those teams as JSON in #team-limits).
  function teamLimitWarning() {
    var data = document.getElementById("team-limits");
    var select = document.getElementById("id_team");
    if (!data || !select) return;
    var full = JSON.parse(data.textContent);
    var old = document.getElementById("team-full");
    if (old) old.remove();
    var team = full[select.value];
    if (!team) return;
    var note = document.createElement("p");
    note.id = "team-full";
    note.className = "warning";
    note.setAttribute("role", "status");
    note.textContent =
      "Team " + team.slug + " is at its limit of " + team.max + " services (" + team.current +
      " now), so registering this one there will be refused. Ask an admin of org " + team.org +
      " to raise the team's limit, or transfer one of its services to another team first. ";
    var link = document.createElement("a");
    link.href = team.url;
    link.textContent = "See " + team.slug + "'s services";
    note.appendChild(link);
    select.insertAdjacentElement("afterend", note);
  }
  document.addEventListener("change", function (ev) {
    if (ev.target && ev.target.id === "id_team") teamLimitWarning();
  });
  document.addEventListener("DOMContentLoaded", teamLimitWarning);

  // --- A refused form: focus its first error (the field, else the form's message).
  function focusFirstError(root) {
    var field = root.querySelector(
      ".has-error input, .has-error select, .has-error textarea, [aria-invalid='true']"
    );
    if (!field) {
      field = root.querySelector("form .form-error, form [role='alert']");
      if (field && !field.hasAttribute("tabindex")) field.setAttribute("tabindex", "-1");
    }
    if (field) field.focus();
  }
  document.addEventListener("DOMContentLoaded", function () {
    focusFirstError(document);
  });
  document.addEventListener("htmx:afterSwap", function (ev) {
    if (ev.detail && ev.detail.target && ev.detail.target.querySelector("form")) focusFirstError(ev.detail.target);
  });
})();
