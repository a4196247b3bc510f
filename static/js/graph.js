// Dependency graphs with Cytoscape.js: the explorer (#cy) and a service's neighbourhood
// (#neighbourhood). Labels are drawn on a canvas, so no user string becomes HTML here.
(function () {
  "use strict";
  if (window.cytoscapeFcose) cytoscape.use(window.cytoscapeFcose);

  function errorColour(rate) {
    if (rate === null || rate === undefined) return "#9aa5b1";
    var r = Math.min(1, rate * 10);  // 10% errors is full red
    return "rgb(" + Math.round(120 + 135 * r) + "," + Math.round(130 - 100 * r) + "," + Math.round(140 - 110 * r) + ")";
  }

  // p95 latency: green up to 50 ms, red from 1 s (log scale); grey when unknown.
  function latencyColour(ms) {
    if (ms === null || ms === undefined) return "#c3c9d0";
    var r = Math.max(0, Math.min(1, (Math.log10(Math.max(ms, 1)) - Math.log10(50)) / (Math.log10(1000) - Math.log10(50))));
    return "rgb(" + Math.round(46 + 184 * r) + "," + Math.round(158 - 118 * r) + "," + Math.round(68 - 28 * r) + ")";
  }

  function ms(v) { return v === null || v === undefined ? "–" : (v < 10 ? v.toFixed(1) : Math.round(v)) + " ms"; }

  // What an edge's tooltip says (plain text: set with textContent).
  function edgeText(e) {
    var lines = [e.source + " → " + e.target];
    var rate = e.rate_per_min === null || e.rate_per_min === undefined ? "–" : e.rate_per_min.toFixed(1);
    var errors = e.error_rate === null || e.error_rate === undefined ? "–" : (e.error_rate * 100).toFixed(1) + "%";
    lines.push(rate + " calls/min · " + errors + " errors");
    if (e.edges !== undefined) {  // the graph grouped by system: a sum of call edges
      lines.push(e.edges + " call edge" + (e.edges === 1 ? "" : "s") + " · worst p95 " + ms(e.p95_ms));
      return lines.join("\n");
    }
    lines.push(e.p50_ms === null || e.p50_ms === undefined ? "latency unknown"
      : "p50 " + ms(e.p50_ms) + " · p95 " + ms(e.p95_ms) + " · p99 " + ms(e.p99_ms));
    if (e.stale) lines.push("stale");
    return lines.join("\n");
  }

  function elements(data) {
    var inCycle = {};
    (data.cycles || []).forEach(function (c) {
      for (var i = 0; i < c.length - 1; i++) inCycle[c[i] + ">" + c[i + 1]] = true;
    });
    var nodes = data.nodes.map(function (n) {
      return { group: "nodes", data: { id: n.id, label: n.name || n.id, team: n.team || "", tier: n.tier, kind: n.kind,
                                       system: n.system || "" } };
    });
    var edges = data.edges.map(function (e, i) {
      return { group: "edges", data: {
        id: "e" + i, source: e.source, target: e.target,
        width: 1 + Math.min(7, Math.log10(1 + (e.rate_per_min || 0)) * 2.5),
        colour: errorColour(e.error_rate), stale: e.stale ? 1 : 0, cycle: inCycle[e.source + ">" + e.target] ? 1 : 0,
        latencyColour: latencyColour(e.p95_ms), p95: e.p95_ms === null || e.p95_ms === undefined ? -1 : e.p95_ms,
        tip: edgeText(e),
      } };
    });
    return nodes.concat(edges);
  }

  var style = [
    { selector: "node", style: { "label": "data(label)", "font-size": 9, "background-color": "#3b6ea5",
      "width": 14, "height": 14, "text-valign": "bottom", "color": "#1f2933", "min-zoomed-font-size": 7 } },
    { selector: "node[tier = 1]", style: { "background-color": "#b83232", "width": 18, "height": 18 } },
    { selector: "node[kind = 'system']", style: { "shape": "round-rectangle", "background-color": "#5b4a9e",
      "width": 30, "height": 22, "font-size": 11, "font-weight": "bold" } },
    { selector: "node[kind = 'endpoint']", style: { "shape": "diamond", "background-color": "#8d6e00" } },
    { selector: "edge", style: { "width": "data(width)", "line-color": "data(colour)", "target-arrow-color": "data(colour)",
      "target-arrow-shape": "triangle", "curve-style": "haystack", "arrow-scale": 0.6, "opacity": 0.8 } },
    { selector: "edge[stale = 1]", style: { "line-style": "dashed", "opacity": 0.5 } },
    { selector: "edge[cycle = 1]", style: { "line-color": "#e8870e", "target-arrow-color": "#e8870e" } },
    { selector: "edge.by-latency", style: { "line-color": "data(latencyColour)", "target-arrow-color": "data(latencyColour)" } },
    { selector: ".focus", style: { "border-width": 4, "border-color": "#f5a623" } },
    { selector: ".path", style: { "line-color": "#2e9e44", "target-arrow-color": "#2e9e44", "background-color": "#2e9e44", "width": 6 } },
    { selector: ".faded", style: { "opacity": 0.15 } },
  ];

  function layoutFor(count) {
    if (count > 600) {
      return { name: "fcose", quality: "draft", randomize: true, animate: false, numIter: 600,
               nodeRepulsion: 4500, idealEdgeLength: 40, packComponents: true, fit: true };
    }
    return { name: window.cytoscapeFcose ? "fcose" : "cose", animate: false, randomize: true, fit: true };
  }

  function draw(container, url, focus, onReady) {
    var status = document.getElementById("graph-status");
    var started = performance.now();
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); })
      .then(function (res) {
        if (!res.ok) {
          container.textContent = "Graph unavailable: " + (res.body.detail || "error");
          if (status) status.textContent = container.textContent;
          return null;
        }
        var els = elements(res.body);
        var cy = cytoscape({ container: container, elements: els, style: style, wheelSensitivity: 0.3, maxZoom: 2.5,
                             textureOnViewport: true, hideEdgesOnViewport: els.length > 3000, pixelRatio: 1 });
        edgeTips(cy, container);
        var layout = cy.layout(layoutFor(cy.nodes().length));
        layout.one("layoutstop", function () {
          var ms = Math.round(performance.now() - started);
          window.__graphLayoutMs = ms;
          container.dataset.layoutMs = ms;
          if (status) status.textContent = cy.nodes().length + " nodes, " + cy.edges().length + " edges; laid out in " + ms + " ms";
          if (focus) focusOn(cy, focus);
          if (onReady) onReady(cy);
        });
        layout.run();
        return cy;
      });
  }

  // A tooltip per edge (rate, errors, p50/p95/p99) on hover, in a div beside the graph.
  function edgeTips(cy, container) {
    var tip = document.createElement("div");
    tip.className = "edge-tip";
    tip.setAttribute("role", "tooltip");
    tip.hidden = true;
    container.parentNode.insertBefore(tip, container.nextSibling);
    cy.on("mouseover", "edge", function (ev) {
      var p = ev.renderedPosition || ev.target.renderedMidpoint();
      tip.textContent = ev.target.data("tip");
      tip.style.left = (container.offsetLeft + p.x + 12) + "px";
      tip.style.top = (container.offsetTop + p.y + 12) + "px";
      tip.hidden = false;
    });
    cy.on("mouseout", "edge", function () { tip.hidden = true; });
    cy.on("destroy", function () { tip.remove(); });
  }

  function colourByLatency(cy, on) {
    if (!cy) return;
    if (on) cy.edges().addClass("by-latency"); else cy.edges().removeClass("by-latency");
  }

  function focusOn(cy, slug) {
    var node = cy.getElementById(slug);
    cy.elements().removeClass("focus faded");
    if (node.nonempty()) {
      node.addClass("focus");
      cy.elements().not(node.closedNeighborhood()).addClass("faded");
      cy.animate({ center: { eles: node }, zoom: Math.max(cy.zoom(), 1.2) }, { duration: 200 });
    }
  }

  function showPath(cy, from, to) {
    cy.elements().removeClass("path");
    var result = cy.elements().aStar({ root: cy.getElementById(from), goal: cy.getElementById(to), directed: true });
    var status = document.getElementById("graph-status");
    if (result.found) { result.path.addClass("path"); status.textContent = "Path: " + result.path.nodes().map(function (n) { return n.id(); }).join(" → "); }
    else { status.textContent = "No observed path from " + from + " to " + to + "."; }
  }

  var explorer = document.getElementById("cy");
  if (explorer) {
    var form = document.getElementById("graph-filters");
    var current = null;
    var expanded = [];  // systems shown as their services while grouped by system
    var groupToggle = document.getElementById("group-system");
    var load = function () {
      var params = new URLSearchParams(new FormData(form));
      var query = new URLSearchParams();
      ["org", "team", "tier"].forEach(function (k) { if (params.get(k)) query.set(k, params.get(k)); });
      if (groupToggle && groupToggle.checked) {
        query.set("group", "system");
        expanded.forEach(function (slug) { query.append("expand", slug); });
      }
      if (current) current.destroy();
      draw(explorer, explorer.dataset.url + "?" + query.toString(), params.get("focus"), function (cy) {
        current = cy;
        colourByLatency(cy, latencyToggle && latencyToggle.checked);
        cy.on("tap", "node", function (ev) {
          if (ev.target.data("kind") === "system") {  // expand the system to its services
            expanded.push(ev.target.data("system"));
            load();
            return;
          }
          htmx.ajax("GET", explorer.dataset.panel.replace("SLUG", encodeURIComponent(ev.target.id())), "#side-panel");
        });
        if (params.get("from") && params.get("to")) showPath(cy, params.get("from"), params.get("to"));
      });
    };
    var latencyToggle = document.getElementById("colour-p95");
    if (latencyToggle) latencyToggle.addEventListener("change", function () { colourByLatency(current, latencyToggle.checked); });
    if (groupToggle) groupToggle.addEventListener("change", function () { expanded = []; load(); });
    form.addEventListener("submit", function (ev) { ev.preventDefault(); load(); });
    load();
  }

  var teams = document.getElementById("team-graph");
  if (teams) {
    var coupling = JSON.parse(document.getElementById("coupling-data").textContent);
    var seen = {}, els = [];
    coupling.forEach(function (c, i) {
      [c.caller_team, c.callee_team].forEach(function (t) {
        if (!seen[t]) { seen[t] = 1; els.push({ group: "nodes", data: { id: t, label: t, kind: "team" } }); }
      });
      els.push({ group: "edges", data: { id: "c" + i, source: c.caller_team, target: c.callee_team,
        width: 1 + Math.min(7, c.edges), colour: "#9aa5b1", stale: 0, cycle: 0 } });
    });
    var tcy = cytoscape({ container: teams, elements: els, style: style, maxZoom: 2.5 });
    tcy.getElementById(teams.dataset.team).addClass("focus");
    tcy.layout({ name: "circle", animate: false }).run();
    tcy.on("tap", "node", function (ev) { window.location = teams.dataset.url.replace("SLUG", encodeURIComponent(ev.target.id())); });
  }

  var mini = document.getElementById("neighbourhood");
  if (mini) {
    draw(mini, mini.dataset.url, null, function (cy) {
      var centre = cy.getElementById(mini.dataset.focus);
      if (centre.nonempty()) {
        cy.elements().not(centre.closedNeighborhood()).remove();
        cy.layout({ name: "concentric", concentric: function (n) { return n.same(centre) ? 2 : 1; }, animate: false,
                    minNodeSpacing: 40 }).run();
        centre.addClass("focus");
      }
      cy.on("tap", "node[kind = 'service']", function (ev) { window.location = "/services/" + encodeURIComponent(ev.target.id()) + "/"; });
    });
  }
})();
