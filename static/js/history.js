// Edge history charts on a service page (#edge-history): calls per minute, error % and p95
// latency of the service's inbound and outbound edges over 1 h / 24 h / 7 d, drawn with uPlot,
// with the service's deploys as labelled vertical lines. Everything is readable without
// hovering: axes with units, a legend naming each edge, deploy versions written on the chart.
// Data comes from GET /api/v1/services/<slug>/history (same origin, the session's cookie).
// No user string becomes HTML: labels are set with textContent or drawn on the canvas.
(function () {
  "use strict";
  var root = document.getElementById("edge-history");
  if (!root || !window.uPlot) return;
  var PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2",
    "#7f7f7f", "#bcbd22"];
  var MAX_LINES = 10;  // per chart: the busiest edges (the API lists them busiest first per direction)
  var METRICS = [
    { key: "calls_per_min", title: "Calls per minute", unit: "calls/min", scale: function (v) { return v; } },
    { key: "error_rate", title: "Errors", unit: "% of calls", scale: function (v) { return v * 100; } },
    { key: "p95_ms", title: "Latency (p95)", unit: "ms", scale: function (v) { return v; } },
  ];
  var charts = [];
  var status = root.querySelector(".history-status");
  var holder = root.querySelector(".history-charts");

  function label(edge) {
    return edge.direction === "out" ? "→ " + edge.dst : "← " + edge.src;
  }

  // One x axis for every edge: times rounded to the window's step (edges are fetched at
  // slightly different moments in a crawl), lines drawn across gaps.
  function aligned(edges, metric, step) {
    var xs = {}, rows = [];
    edges.forEach(function (e) {
      var byT = {};
      e.points.forEach(function (p) {
        var t = Math.round(p.t / 1000 / step) * step;
        xs[t] = true;
        if (p[metric.key] !== null && p[metric.key] !== undefined) byT[t] = metric.scale(p[metric.key]);
      });
      rows.push(byT);
    });
    var times = Object.keys(xs).map(Number).sort(function (a, b) { return a - b; });
    return [times].concat(rows.map(function (byT) {
      return times.map(function (t) { return t in byT ? byT[t] : null; });
    }));
  }

  // Deploys: a dashed vertical line each, with the version written at the top.
  function deployPlugin(deploys) {
    return {
      hooks: {
        draw: [function (u) {
          var ctx = u.ctx;
          ctx.save();
          ctx.strokeStyle = "#444";
          ctx.fillStyle = "#222";
          ctx.setLineDash([4, 3]);
          ctx.lineWidth = 1;
          ctx.font = Math.round(11 * devicePixelRatio) + "px sans-serif";
          deploys.forEach(function (d) {
            var x = Math.round(u.valToPos(d.t / 1000, "x", true));
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
            ctx.beginPath();
            ctx.moveTo(x, u.bbox.top);
            ctx.lineTo(x, u.bbox.top + u.bbox.height);
            ctx.stroke();
            var text = "deploy " + d.version + (d.status === "succeeded" ? "" : " (" + d.status + ")");
            var w = ctx.measureText(text).width;
            // Written right of the line, or left of it where it would run off the plot.
            var tx = x + 3 + w > u.bbox.left + u.bbox.width ? x - 3 - w : x + 3;
            ctx.fillText(text, tx, u.bbox.top + 12 * devicePixelRatio);
          });
          ctx.restore();
        }],
      },
    };
  }

  function draw(data) {
    charts.forEach(function (c) { c.destroy(); });
    charts = [];
    holder.textContent = "";
    var step = data.resolution_seconds || 60;
    var groups = [["out", "Outbound (calls it makes)"], ["in", "Inbound (calls it receives)"]];
    var any = false;
    groups.forEach(function (g) {
      var edges = data.edges.filter(function (e) { return e.direction === g[0]; }).slice(0, MAX_LINES);
      if (!edges.length) return;
      any = true;
      var h = document.createElement("h3");
      h.textContent = g[1];
      holder.appendChild(h);
      METRICS.forEach(function (m) {
        var box = document.createElement("div");
        box.className = "history-chart";
        box.setAttribute("data-direction", g[0]);
        box.setAttribute("data-metric", m.key);
        holder.appendChild(box);
        var series = [{ label: "time" }].concat(edges.map(function (e, i) {
          return { label: label(e), stroke: PALETTE[i % PALETTE.length], width: 1.5, spanGaps: true,
            points: { show: false }, value: function (u, v) { return v === null ? "–" : v.toFixed(m.key === "p95_ms" ? 1 : 2) + " " + m.unit; } };
        }));
        var opts = {
          title: m.title + " (" + m.unit + ")",
          width: Math.max(320, Math.min(holder.clientWidth || 640, 900)),
          height: 200,
          scales: { x: { time: true, range: [data.from / 1000, data.to / 1000] }, y: { range: function (u, lo, hi) { return [0, hi > 0 ? hi * 1.1 : 1]; } } },
          axes: [{}, { label: m.unit, size: 60 }],
          series: series,
          legend: { show: true, live: false },
          plugins: [deployPlugin(data.deploys)],
        };
        charts.push(new uPlot(opts, aligned(edges, m, step), box));
      });
    });
    status.textContent = any
      ? (data.truncated ? "Showing the first edges only. " : "") +
        (data.deploys.length ? data.deploys.length + " deploy(s) marked by dashed lines." : "No deploys in this window.")
      : "No history for this window yet: it fills as discovery crawls.";
  }

  function load(window_) {
    status.textContent = "Loading…";
    root.querySelectorAll("button[data-window]").forEach(function (b) {
      b.setAttribute("aria-pressed", b.getAttribute("data-window") === window_ ? "true" : "false");
    });
    fetch(root.getAttribute("data-url") + "?window=" + encodeURIComponent(window_), {
      credentials: "same-origin", headers: { Accept: "application/json" },
    }).then(function (r) {
      if (!r.ok) throw new Error("HTTP " + r.status);
      return r.json();
    }).then(draw).catch(function (err) {
      status.textContent = "History unavailable (" + err.message + ").";
    });
  }

  root.querySelectorAll("button[data-window]").forEach(function (b) {
    b.addEventListener("click", function () { load(b.getAttribute("data-window")); });
  });
  load(root.getAttribute("data-window") || "24h");
})();
