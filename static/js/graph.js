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

  function elements(data) {
    var inCycle = {};
    (data.cycles || []).forEach(function (c) {
      for (var i = 0; i < c.length - 1; i++) inCycle[c[i] + ">" + c[i + 1]] = true;
    });
    var nodes = data.nodes.map(function (n) {
      return { group: "nodes", data: { id: n.id, label: n.name || n.id, team: n.team || "", tier: n.tier, kind: n.kind } };
    });
    var edges = data.edges.map(function (e, i) {
      return { group: "edges", data: {
        id: "e" + i, source: e.source, target: e.target,
        width: 1 + Math.min(7, Math.log10(1 + (e.rate_per_min || 0)) * 2.5),
        colour: errorColour(e.error_rate), stale: e.stale ? 1 : 0, cycle: inCycle[e.source + ">" + e.target] ? 1 : 0,
      } };
    });
    return nodes.concat(edges);
  }

  var style = [
    { selector: "node", style: { "label": "data(label)", "font-size": 9, "background-color": "#3b6ea5",
      "width": 14, "height": 14, "text-valign": "bottom", "color": "#1f2933", "min-zoomed-font-size": 7 } },
    { selector: "node[tier = 1]", style: { "background-color": "#b83232", "width": 18, "height": 18 } },
    { selector: "node[kind = 'endpoint']", style: { "shape": "diamond", "background-color": "#8d6e00" } },
    { selector: "edge", style: { "width": "data(width)", "line-color": "data(colour)", "target-arrow-color": "data(colour)",
      "target-arrow-shape": "triangle", "curve-style": "haystack", "arrow-scale": 0.6, "opacity": 0.8 } },
    { selector: "edge[stale = 1]", style: { "line-style": "dashed", "opacity": 0.5 } },
    { selector: "edge[cycle = 1]", style: { "line-color": "#e8870e", "target-arrow-color": "#e8870e" } },
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
    var load = function () {
      var params = new URLSearchParams(new FormData(form));
      var query = new URLSearchParams();
      ["org", "team", "tier"].forEach(function (k) { if (params.get(k)) query.set(k, params.get(k)); });
      if (current) current.destroy();
      draw(explorer, explorer.dataset.url + "?" + query.toString(), params.get("focus"), function (cy) {
        current = cy;
        cy.on("tap", "node", function (ev) {
          htmx.ajax("GET", explorer.dataset.panel.replace("SLUG", encodeURIComponent(ev.target.id())), "#side-panel");
        });
        if (params.get("from") && params.get("to")) showPath(cy, params.get("from"), params.get("to"));
      });
    };
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
