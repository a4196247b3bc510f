// Dependency graphs with Cytoscape.js: the explorer (#cy) and a service's neighbourhood
// (#neighbourhood). Labels are drawn on a canvas, so no user string becomes HTML here.
(function () {
  "use strict";
  if (window.cytoscapeFcose) cytoscape.use(window.cytoscapeFcose);

  // Errors: grey (none or unknown) -> amber (1%) -> dark red (10% and up). Tiers colour nodes with
  // purple, blue, teal and slate, so no tier shares the errors' red.
  function errorColour(rate) {
    if (rate === null || rate === undefined || rate < 0.01) return "#7c8ba1";  // 3.5:1 on white
    var r = Math.min(1, (rate - 0.01) / 0.09);
    return "rgb(" + Math.round(217 - 32 * r) + "," + Math.round(119 - 91 * r) + "," + Math.round(6 + 22 * r) + ")";
  }
  var TIER = { 1: "#6b21a8", 2: "#1d4ed8", 3: "#0f766e", 4: "#475569" };

  // p95 latency: green up to 50 ms, red from 1 s (log scale); grey when unknown.
  function latencyColour(ms) {
    if (ms === null || ms === undefined) return "#c3c9d0";
    var r = Math.max(0, Math.min(1, (Math.log10(Math.max(ms, 1)) - Math.log10(50)) / (Math.log10(1000) - Math.log10(50))));
    return "rgb(" + Math.round(46 + 184 * r) + "," + Math.round(158 - 118 * r) + "," + Math.round(68 - 28 * r) + ")";
  }

  function ms(v) { return v === null || v === undefined ? "–" : (v < 10 ? v.toFixed(1) : Math.round(v)) + " ms"; }
  function num(v, digits) { return v === null || v === undefined ? "–" : v.toFixed(digits); }
  function pct(v) { return v === null || v === undefined ? "–" : (v * 100).toFixed(1) + "%"; }
  function ago(epochMs) {
    if (!epochMs) return "–";
    var s = Math.max(0, (Date.now() - epochMs) / 1000);
    if (s < 90) return Math.round(s) + " s ago";
    if (s < 5400) return Math.round(s / 60) + " min ago";
    if (s < 129600) return Math.round(s / 3600) + " h ago";
    return new Date(epochMs).toISOString().slice(0, 16).replace("T", " ");
  }

  // What an edge's tooltip says (plain text: set with textContent).
  function edgeText(e) {
    var lines = [e.source + " → " + e.target];
    lines.push(num(e.rate_per_min, 1) + " calls/min · " + pct(e.error_rate) + " errors" + (e.edges > 1 ? " (worst)" : ""));
    if (e.edges !== undefined && e.edges > 1) {
      lines.push(e.edges + " call edges · worst p95 " + ms(e.p95_ms));
    } else {
      lines.push(e.p50_ms === null || e.p50_ms === undefined ? "latency unknown"
        : "p50 " + ms(e.p50_ms) + " · p95 " + ms(e.p95_ms) + " · p99 " + ms(e.p99_ms));
    }
    if (e.last_seen !== undefined) lines.push("last seen " + ago(e.last_seen));
    if (e.sources && e.sources.length) lines.push("sources: " + e.sources.join(", "));
    if (e.stale) lines.push("stale");
    return lines.join("\n");
  }

  function nodeData(n) {
    var group = n.kind === "org" || n.kind === "team" || n.kind === "system";
    var d = { id: n.id, label: (n.name || n.id) + (group && !n.expanded ? " (" + n.services + ")" : ""),
              name: n.name || n.id, team: n.team || "", org: n.org || "", tier: n.tier, kind: n.kind,
              system: n.system || "", services: n.services || 0, expanded: n.expanded ? 1 : 0,
              size: group ? Math.round(24 + 10 * Math.log10(1 + (n.services || 1))) : 14 };
    if (n.parent) d.parent = n.parent;
    return d;
  }

  function elements(data) {
    var inCycle = {};
    (data.cycles || []).forEach(function (c) {
      for (var i = 0; i < c.length - 1; i++) inCycle[c[i] + ">" + c[i + 1]] = true;
    });
    var nodes = data.nodes.map(function (n) { return { group: "nodes", data: nodeData(n) }; });
    var edges = data.edges.map(function (e) {
      return { group: "edges", data: {
        id: "e:" + e.source + ">" + e.target, source: e.source, target: e.target,
        width: 1 + Math.min(7, Math.log10(1 + (e.rate_per_min || 0)) * 2.5),
        colour: errorColour(e.error_rate), stale: e.stale ? 1 : 0, cycle: inCycle[e.source + ">" + e.target] ? 1 : 0,
        latencyColour: latencyColour(e.p95_ms), p95: e.p95_ms === null || e.p95_ms === undefined ? -1 : e.p95_ms,
        tip: edgeText(e), raw: e,
      } };
    });
    return nodes.concat(edges);
  }

  var style = [
    { selector: "node", style: { "label": "data(label)", "font-size": 9, "background-color": "#475569",
      "width": 14, "height": 14, "text-valign": "bottom", "color": "#1f2933", "min-zoomed-font-size": 7 } },
    { selector: "node[tier = 1]", style: { "background-color": TIER[1], "width": 18, "height": 18 } },
    { selector: "node[tier = 2]", style: { "background-color": TIER[2] } },
    { selector: "node[tier = 3]", style: { "background-color": TIER[3] } },
    { selector: "node[tier = 4]", style: { "background-color": TIER[4] } },
    { selector: "node[kind = 'org'], node[kind = 'team'], node[kind = 'system']", style: { "shape": "round-rectangle",
      "background-color": "#e2e8f0", "border-width": 2, "border-color": "#475569", "width": "data(size)",
      "height": "data(size)", "font-size": 11, "font-weight": "bold" } },
    { selector: "node[expanded = 1]", style: { "text-valign": "top", "background-opacity": 0.35, "padding": 12 } },
    { selector: "node[kind = 'endpoint']", style: { "shape": "diamond", "background-color": "#8d6e00" } },
    { selector: "edge", style: { "width": "data(width)", "line-color": "data(colour)", "target-arrow-color": "data(colour)",
      "target-arrow-shape": "triangle", "curve-style": "bezier", "arrow-scale": 0.8, "opacity": 0.85 } },
    { selector: "edge[stale = 1]", style: { "line-style": "dashed", "opacity": 0.5 } },
    { selector: "edge[cycle = 1]", style: { "line-style": "dotted" } },
    { selector: "edge.by-latency", style: { "line-color": "data(latencyColour)", "target-arrow-color": "data(latencyColour)" } },
    { selector: ".focus", style: { "border-width": 4, "border-color": "#f5a623" } },
    { selector: "node.path", style: { "border-width": 4, "border-color": "#16a34a" } },
    { selector: "edge.path", style: { "line-color": "#16a34a", "target-arrow-color": "#16a34a", "width": 5, "opacity": 1 } },
    { selector: "edge.hover", style: { "opacity": 1, "width": 6 } },
    { selector: ".faded", style: { "opacity": 0.15 } },
  ];

  function layoutFor(count) {
    if (count > 600) {
      return { name: "fcose", quality: "draft", randomize: true, animate: false, numIter: 600,
               nodeRepulsion: 4500, idealEdgeLength: 40, packComponents: true, fit: true };
    }
    return { name: window.cytoscapeFcose ? "fcose" : "cose", animate: false, randomize: true, fit: true };
  }

  function getJSON(url) {
    return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { return r.json().then(function (body) { return { ok: r.ok, body: body }; }); });
  }

  // Where a draw or an expansion spends its time (ms since the page's navigation started), for
  // bench/explorer.py: request sent, first byte, body read, JSON parsed, elements built, Cytoscape
  // created (or elements added), layout stopped, first frame drawn. The data request's resource
  // timing gives the server's share (first byte minus request start).
  function marks(url) {
    var t = { start: performance.now() };
    t.fetch = function () {
      return fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } }).then(function (r) {
        t.headers = performance.now();
        return r.text().then(function (text) {
          t.body = performance.now();
          var body = JSON.parse(text);
          t.parsed = performance.now();
          var entry = performance.getEntriesByName(new URL(url, window.location.href).href).pop();
          if (entry) { t.requestStart = entry.requestStart; t.responseStart = entry.responseStart; t.responseEnd = entry.responseEnd; }
          return { ok: r.ok, body: body };
        });
      });
    };
    t.done = function () {
      var out = {};
      Object.keys(t).forEach(function (k) { if (typeof t[k] === "number") out[k] = Math.round(t[k]); });
      return out;
    };
    return t;
  }

  function draw(container, url, focus, onReady) {
    var status = document.getElementById("graph-status");
    var started = performance.now();
    var t = marks(url);
    return t.fetch().then(function (res) {
        if (!res.ok) {
          if (status) status.textContent = "Graph unavailable: " + (res.body.detail || "error");
          else container.textContent = "Graph unavailable: " + (res.body.detail || "error");
          return null;
        }
        var els = elements(res.body);
        t.elements = performance.now();
        var many = els.length > 3000;
        var edgeStyle = style.filter(function (x) { return x.selector === "edge"; })[0].style;
        // Past a few thousand elements, arrowheads cost seconds (each edge is clipped to its nodes'
        // shapes): edges are drawn as plain lines, and the tooltip and the list view give direction.
        if (many) { edgeStyle["curve-style"] = "haystack"; edgeStyle["target-arrow-shape"] = "none"; }
        var cy = cytoscape({ container: container, elements: els, style: style, wheelSensitivity: 0.3, maxZoom: 2.5,
                             textureOnViewport: true, hideEdgesOnViewport: many, pixelRatio: 1,
                             // not the default grid, which places every node and fits the view to
                             // every element's bounding box before the real layout does it again
                             layout: { name: "preset", fit: false } });
        edgeStyle["curve-style"] = "bezier";
        edgeStyle["target-arrow-shape"] = "triangle";
        cy.scratch("_body", res.body);
        tips(cy, container);
        t.created = performance.now();
        var finish = function () {
          t.laidOut = performance.now();
          cy.one("render", function () { t.rendered = performance.now(); window.__graphTimings = t.done(); });
          var ms = Math.round(performance.now() - started);
          window.__graphLayoutMs = ms;
          window.__graphReadyAt = Math.round(performance.now());  // since the page's navigation started
          container.dataset.layoutMs = ms;
          if (status) status.textContent = cy.nodes().length + " nodes, " + cy.edges().length + " edges; laid out in " + ms + " ms"
            + (many ? " (no arrowheads at this size: hover an edge or use the list view for its direction)" : "")
            + (res.body.message ? ". " + res.body.message : "");
          if (focus) focusOn(cy, focus);
          if (onReady) onReady(cy, res.body);
        };
        var layout = cy.layout(layoutFor(cy.nodes().length));
        layout.one("layoutstop", finish);
        layout.run();
        return cy;
      });
  }

  function nodeText(n) {
    var d = n.data();
    if (d.kind === "endpoint") return d.id + "\nunknown endpoint · " + n.indegree(false) + " callers";
    var lines = [d.name + (d.kind === "service" ? "" : " (" + d.kind + ", " + d.services + " services)")];
    if (d.team) lines.push("owner " + d.team + (d.org ? " (" + d.org + ")" : ""));
    if (d.tier !== null && d.tier !== undefined) lines.push((d.kind === "service" ? "tier " : "best tier ") + d.tier);
    lines.push(n.incomers("edge").length + " in · " + n.outgoers("edge").length + " out");
    return lines.join("\n");
  }

  // A tooltip for edges (calls/min, errors, p95, last seen, sources) and nodes (owner, tier, in/out).
  function tips(cy, container) {
    var tip = document.createElement("div");
    tip.className = "edge-tip";
    tip.id = container.id + "-tip";
    tip.setAttribute("role", "tooltip");
    tip.hidden = true;
    container.parentNode.insertBefore(tip, container.nextSibling);
    var show = function (text, p) {
      tip.textContent = text;
      tip.style.left = (container.offsetLeft + p.x + 12) + "px";
      tip.style.top = (container.offsetTop + p.y + 12) + "px";
      tip.hidden = false;
    };
    cy.on("mouseover", "edge", function (ev) { show(ev.target.data("tip"), ev.renderedPosition || ev.target.renderedMidpoint()); });
    cy.on("mouseover", "node", function (ev) { show(nodeText(ev.target), ev.renderedPosition || ev.target.renderedPosition()); });
    cy.on("mouseout", "edge, node", function () { tip.hidden = true; });
    cy.on("destroy", function () { tip.remove(); });
    cy.scratch("_show", function (ele) {
      cy.elements().removeClass("hover");
      ele.addClass("hover");
      show(ele.isEdge() ? ele.data("tip") : nodeText(ele), ele.isEdge() ? ele.renderedMidpoint() : ele.renderedPosition());
    });
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

  var explorer = document.getElementById("cy");
  if (explorer) {
    var form = document.getElementById("graph-filters");
    var status = document.getElementById("graph-status");
    var current = null;
    var shown = null;  // the state on screen
    var KEYS = ["group", "org", "team", "tier", "system", "errors", "isolated", "focus", "depth", "from", "to", "colour"];
    var latencyToggle = document.getElementById("colour-p95");

    var stateFromURL = function () {
      var q = new URLSearchParams(window.location.search);
      var st = { expand: q.getAll("expand") };
      KEYS.forEach(function (k) { st[k] = q.get(k) || ""; });
      if (!q.has("group")) st.group = "org";
      if (!st.depth) st.depth = "1";
      return st;
    };
    var query = function (st) {
      var q = new URLSearchParams();
      KEYS.forEach(function (k) { if (st[k] && !(k === "depth" && st[k] === "1")) q.set(k, st[k]); });
      if (!st.group) q.set("group", "");
      st.expand.forEach(function (x) { q.append("expand", x); });
      return q;
    };
    var toForm = function (st) {
      KEYS.forEach(function (k) {
        var f = form.elements[k];
        if (!f) return;
        if (f.type === "checkbox") f.checked = !!st[k]; else f.value = st[k];
      });
      scopeTeams();
    };
    var fromForm = function (keepExpand) {
      var st = { expand: keepExpand && shown ? shown.expand.slice() : [] };
      KEYS.forEach(function (k) {
        var f = form.elements[k];
        st[k] = !f ? "" : f.type === "checkbox" ? (f.checked ? f.value : "") : f.value.trim();
      });
      return st;
    };
    // The team list shows only the chosen org's teams.
    var scopeTeams = function () {
      var org = form.elements.org.value, team = form.elements.team;
      Array.prototype.forEach.call(team.options, function (o) { o.hidden = !!(org && o.value && o.dataset.org !== org); });
      if (team.selectedOptions[0] && team.selectedOptions[0].hidden) team.value = "";
    };
    form.elements.org.addEventListener("change", scopeTeams);

    var sameView = function (a, b) {
      return a && b && KEYS.every(function (k) { return k === "colour" || a[k] === b[k]; });
    };

    var say = function (text) { status.textContent = text; };

    // Names or slugs to slugs (find.json); null and a message when one is not found.
    var resolve = function (names) {
      return Promise.all(names.map(function (name) {
        if (!name) return Promise.resolve("");
        return getJSON(explorer.dataset.find + "?q=" + encodeURIComponent(name)).then(function (res) {
          return res.ok && res.body.exact ? res.body.exact : null;
        });
      })).then(function (slugs) {
        for (var i = 0; i < names.length; i++) if (slugs[i] === null) { say("Not found: no service named or slugged “" + names[i] + "”."); return null; }
        return slugs;
      });
    };

    var render = function (st) {
      if (current && shown && sameView(st, shown) && st.group && !st.focus && !st.from) {
        return update(st);
      }
      if (current) { current.destroy(); current = null; }
      shown = st;
      window.__graphLayoutMs = undefined;
      return draw(explorer, explorer.dataset.url + "?" + query(st).toString(), st.focus, function (cy, body) {
        current = cy;
        colourByLatency(cy, latencyToggle && latencyToggle.checked);
        if (body.path && body.path.length) {
          cy.elements().addClass("path");
          say("Path: " + body.path.join(" → "));
        }
        bind(cy);
        listView();
      }).then(function (cy) { if (!cy) { shown = null; listView(); } });
    };

    // Expanding or collapsing a group: the nodes already shown keep their places; new ones are
    // placed around the group that opened, and nodes in their way move outwards.
    var update = function (st) {
      var started = performance.now();
      var before = shown;
      shown = st;
      var opened = st.expand.filter(function (x) { return before.expand.indexOf(x) < 0; });
      var closed = before.expand.filter(function (x) { return st.expand.indexOf(x) < 0; });
      var q = query(st);
      var delta = opened.length === 1 && !closed.length && current.getElementById(st.group + ":" + opened[0]).nonempty();
      if (delta) q.set("only", opened[0]);  // just the group's services and the edges touching them
      var t = marks(explorer.dataset.url + "?" + q.toString());
      return t.fetch().then(function (res) {
        if (!res.ok) { say("Graph unavailable: " + (res.body.detail || "error")); return; }
        var cy = current;
        var els = elements(res.body);
        t.elements = performance.now();
        var want = {};
        els.forEach(function (e) { want[e.data.id] = e; });
        if (delta) {  // what is not in the answer stays as it is
          var group = cy.getElementById(res.body.only);
          cy.batch(function () { group.connectedEdges().remove(); });
          cy.nodes().forEach(function (n) { if (!want[n.id()]) want[n.id()] = { data: n.data() }; });
          cy.edges().forEach(function (e) { if (!want[e.id()]) want[e.id()] = { group: "edges", data: e.data() }; });
          els = els.filter(function (e) { return e.group === "nodes" || cy.getElementById(e.data.id).empty(); });
        }
        var anchors = {};
        opened.concat(closed).forEach(function (g) {
          var id = st.group + ":" + g, n = cy.getElementById(id);
          if (n.nonempty()) anchors[id] = { x: n.position("x"), y: n.position("y") };
          if (n.nonempty() && n.isParent()) anchors[id] = n.boundingBox();
        });
        cy.batch(function () {
          if (!delta) cy.edges().remove();
          cy.nodes().filter(function (n) { return !want[n.id()]; }).remove();
          var fresh = els.filter(function (e) { return e.group === "nodes" && cy.getElementById(e.data.id).empty(); });
          var parentsFirst = fresh.filter(function (e) { return !e.data.parent; }).concat(fresh.filter(function (e) { return e.data.parent; }));
          var added = cy.add(parentsFirst);
          cy.nodes().forEach(function (n) { var d = want[n.id()].data; n.data(d); });
          cy.add(els.filter(function (e) { return e.group === "edges"; }));
          Object.keys(anchors).forEach(function (id) {
            var a = anchors[id];
            var centre = a.x1 !== undefined ? { x: (a.x1 + a.x2) / 2, y: (a.y1 + a.y2) / 2 } : a;
            var kids = added.filter(function (n) { return n.data("parent") === id; });
            if (kids.empty()) {
              added.filter(function (n) { return n.id() === id; }).position(centre);
              return;
            }
            var cols = Math.ceil(Math.sqrt(kids.length)), gap = 36, w = cols * gap;
            kids.forEach(function (n, i) {
              n.position({ x: centre.x - w / 2 + (i % cols) * gap, y: centre.y - w / 2 + Math.floor(i / cols) * gap });
            });
            var half = w / 2 + gap + 40;  // the group's box with its padding and label, and a margin
            cy.nodes().not(kids).not(cy.getElementById(id)).forEach(function (n) {  // move what is in the way outwards
              if (n.isParent()) return;
              var dx = n.position("x") - centre.x, dy = n.position("y") - centre.y;
              if (Math.abs(dx) >= half || Math.abs(dy) >= half) return;
              if (Math.abs(dx) > Math.abs(dy)) n.position("x", centre.x + (dx < 0 ? -1 : 1) * (half + Math.abs(dx)));
              else n.position("y", centre.y + (dy < 0 ? -1 : 1) * (half + Math.abs(dy)));
            });
          });
          added.filter(function (n) { return !n.data("parent") && !anchors[n.id()] && !n.isParent(); }).forEach(function (n, i) {
            var bb = cy.nodes().not(added).boundingBox();
            n.position({ x: bb.x2 + 40, y: bb.y1 + i * 30 });
          });
        });
        colourByLatency(cy, latencyToggle && latencyToggle.checked);
        t.created = performance.now();
        cy.one("render", function () { t.rendered = performance.now(); window.__graphExpandTimings = t.done(); });
        var took = Math.round(performance.now() - started);
        window.__graphExpandMs = took;
        explorer.dataset.expandMs = took;
        var ext = cy.extent(), bb = cy.elements().boundingBox();
        if (bb.x1 < ext.x1 || bb.x2 > ext.x2 || bb.y1 < ext.y1 || bb.y2 > ext.y2) cy.fit(undefined, 30);  // zoom out only if needed
        say(cy.nodes().length + " nodes, " + cy.edges().length + " edges; updated in " + took + " ms");
        listView();
      });
    };

    var go = function (st, replace) {
      var url = window.location.pathname + "?" + query(st).toString();
      if (replace) window.history.replaceState(null, "", url); else window.history.pushState(null, "", url);
      return render(st);
    };

    var bind = function (cy) {
      cy.on("tap", "node", function (ev) {
        var d = ev.target.data();
        if (d.kind === "org" || d.kind === "team" || d.kind === "system") {
          toggleGroup(d.id);
          return;
        }
        if (d.kind === "service" || d.kind === "endpoint") {
          htmx.ajax("GET", explorer.dataset.panel.replace("SLUG", encodeURIComponent(d.id)), "#side-panel");
        }
      });
      cy.on("dbltap", "node[kind = 'service']", function (ev) { openNeighbourhood(ev.target.id()); });
    };

    var toggleGroup = function (id) {
      var key = id.slice(id.indexOf(":") + 1), st = fromForm(true);
      var i = st.expand.indexOf(key);
      if (i < 0) st.expand.push(key); else st.expand.splice(i, 1);
      return go(st);
    };
    var openNeighbourhood = function (slug) {
      var st = fromForm(false);
      st.focus = slug; st.from = ""; st.to = "";
      toForm(st);
      return go(st);
    };
    document.getElementById("side-panel").addEventListener("click", function (ev) {
      var b = ev.target.closest(".open-neighbourhood");
      if (b) openNeighbourhood(b.dataset.slug);
    });

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var st = fromForm(true);
      resolve([st.focus, st.from, st.to]).then(function (slugs) {
        if (!slugs) return;
        st.focus = slugs[0]; st.from = slugs[1]; st.to = slugs[2];
        if ((st.from && !st.to) || (st.to && !st.from)) { say("A path needs both ends: from and to."); return; }
        if (st.from) st.focus = "";
        if (st.focus || st.from || !sameView(st, shown)) st.expand = st.focus || st.from || (shown && st.group !== shown.group) ? [] : st.expand;
        toForm(st);
        go(st);
      });
    });
    document.getElementById("graph-reset").addEventListener("click", function () {
      var st = stateFromURL();
      KEYS.forEach(function (k) { st[k] = ""; });
      st.group = "org"; st.depth = "1"; st.expand = [];
      toForm(st);
      go(st);
    });
    if (latencyToggle) latencyToggle.addEventListener("change", function () { colourByLatency(current, latencyToggle.checked); });
    window.addEventListener("popstate", function () { var st = stateFromURL(); toForm(st); render(st); });

    // Suggestions for Find and the path's ends, as one types.
    var suggest = document.getElementById("find-suggestions"), pending = null;
    ["focus", "from", "to"].forEach(function (k) {
      form.elements[k].addEventListener("input", function (ev) {
        var q = ev.target.value.trim();
        clearTimeout(pending);
        if (q.length < 2) return;
        pending = setTimeout(function () {
          getJSON(explorer.dataset.find + "?q=" + encodeURIComponent(q)).then(function (res) {
            if (!res.ok) return;
            suggest.replaceChildren.apply(suggest, res.body.results.map(function (r) {
              var o = document.createElement("option");
              o.value = r.slug;
              o.label = r.name;
              return o;
            }));
          });
        }, 150);
      });
    });

    // The list view: the same graph as two tables, every row reachable by keyboard.
    var listToggle = document.getElementById("graph-list-toggle"), list = document.getElementById("graph-list");
    listToggle.addEventListener("click", function () {
      list.hidden = !list.hidden;
      listToggle.setAttribute("aria-expanded", String(!list.hidden));
      listView();
    });
    var cell = function (tr, text) { var td = document.createElement("td"); td.textContent = text; tr.appendChild(td); return td; };
    var listView = function () {
      if (list.hidden) return;
      var nodesBody = document.getElementById("graph-list-nodes"), edgesBody = document.getElementById("graph-list-edges");
      nodesBody.replaceChildren();
      edgesBody.replaceChildren();
      if (!current) return;
      current.nodes().forEach(function (n) {
        var d = n.data(), tr = document.createElement("tr");
        cell(tr, d.name); cell(tr, d.kind); cell(tr, d.team || ""); cell(tr, d.tier === null || d.tier === undefined ? "" : d.tier);
        cell(tr, n.incomers("edge").length); cell(tr, n.outgoers("edge").length);
        var td = cell(tr, ""), b = document.createElement("button");
        b.type = "button";
        if (d.kind === "service") { b.textContent = "Open neighbourhood"; b.addEventListener("click", function () { openNeighbourhood(d.id); }); }
        else if (d.kind !== "endpoint") { b.textContent = d.expanded ? "Collapse" : "Expand"; b.addEventListener("click", function () { toggleGroup(d.id); }); }
        if (b.textContent) td.appendChild(b);
        nodesBody.appendChild(tr);
      });
      current.edges().forEach(function (e) {
        var r = e.data("raw"), tr = document.createElement("tr");
        tr.tabIndex = 0;
        tr.dataset.edge = e.id();
        cell(tr, r.source + " → " + r.target); cell(tr, num(r.rate_per_min, 1)); cell(tr, pct(r.error_rate));
        cell(tr, ms(r.p95_ms)); cell(tr, ago(r.last_seen)); cell(tr, (r.sources || []).join(", "));
        tr.addEventListener("focus", function () { current.scratch("_show")(current.getElementById(tr.dataset.edge)); });
        edgesBody.appendChild(tr);
      });
    };

    var initial = stateFromURL();
    toForm(initial);
    go(initial, true);
    window.__graphExplorer = { toggleGroup: toggleGroup, openNeighbourhood: openNeighbourhood };
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
