// A scorecard's trend (#scorecard-trend): services at each level per day, one line per level,
// drawn with uPlot from GET /api/v1/scorecards/<slug>/trend (same origin, the session's cookie).
// No user string becomes HTML: labels are set with textContent or drawn on the canvas.
(function () {
  "use strict";
  var root = document.getElementById("scorecard-trend");
  if (!root || !window.uPlot) return;
  var PALETTE = ["#7f7f7f", "#8c564b", "#1f77b4", "#2ca02c", "#ff7f0e", "#9467bd", "#d62728", "#17becf",
    "#e377c2", "#bcbd22", "#000000"];
  var status = root.querySelector(".trend-status");
  var holder = root.querySelector(".trend-chart");
  fetch(root.dataset.url, { credentials: "same-origin", headers: { Accept: "application/json" } })
    .then(function (r) { if (!r.ok) throw new Error("HTTP " + r.status); return r.json(); })
    .then(function (data) {
      if (!data.points.length) { status.textContent = "No history yet: the first recompute writes today's counts."; return; }
      var xs = data.points.map(function (p) { return Date.parse(p.day + "T00:00:00Z") / 1000; });
      var series = [{}], columns = [xs];
      data.levels.forEach(function (name, i) {
        series.push({ label: name, stroke: PALETTE[i % PALETTE.length], width: 2 });
        columns.push(data.points.map(function (p) { return i < p.counts.length ? p.counts[i] : null; }));
      });
      status.textContent = data.points.length + " days; services at each level.";
      new uPlot({
        width: Math.min(900, holder.clientWidth || 900), height: 260, series: series,
        axes: [{}, { label: "services" }], scales: { x: { time: true } },
      }, columns, holder);
    })
    .catch(function (e) { status.textContent = "The trend could not be loaded (" + e.message + ")."; });
})();
