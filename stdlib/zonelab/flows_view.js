// flows_view.js — the Attention Flows viewer (docs/flows.md), inlined by recipes/flows.lua
// --html into one self-contained page. The data holds, per model, every attention weight
// above a floor on the graph built at that floor; the graph at any tau >= floor is rebuilt
// here exactly as core/flows.c builds it (backwards from the target, A > tau strictly, in
// float32), so the tau slider, the head switches and the traces need nothing else.
// Layers and heads are 0-based inside, 1-based on screen (as the PDF).
(function () {
  "use strict";
  var D = JSON.parse(document.getElementById("flows-data").textContent);
  var L = D.num_layers, NH = D.num_heads, S = D.tokens.length;
  var names = Object.keys(D.graphs); // ["a"] or ["a", "b"]
  var COLOR = { a: "#009e99", b: "#802ea8", shared: "#ed730d", none: "#bbbbbb" };
  var SVGNS = "http://www.w3.org/2000/svg";
  var state = { tau: D.tau, off: {}, hiddenLayers: {}, infLayer: 0, sel: null };
  var built = {}; // model -> {nodes: [Set per node layer], edges: [...]}

  function el(tag, attrs, parent, ns) {
    var e = ns ? document.createElementNS(SVGNS, tag) : document.createElement(tag);
    for (var k in attrs) e.setAttribute(k, attrs[k]);
    if (parent) parent.appendChild(e);
    return e;
  }
  function fmt(w) { return (Math.round(w * 1000) / 1000).toFixed(3); }

  // The graph at tau without the switched-off heads: node layer L is the target; an edge of
  // attention layer l joins `from` (node layer l+1) to `to` (node layer l).
  function build(g) {
    var tau = Math.fround(state.tau);
    var nodes = [], edges = [];
    for (var l = 0; l <= L; l++) nodes.push(new Set());
    g.target.forEach(function (t) { nodes[L].add(t); });
    for (l = L - 1; l >= 0; l--) {
      g.byLayer[l].forEach(function (e) {
        if (!nodes[l + 1].has(e[1])) return;
        var heads = [], ws = [];
        for (var i = 0; i < e[3].length; i++) {
          if (Math.fround(e[4][i]) > tau && !state.off[l + "," + e[3][i]]) { heads.push(e[3][i]); ws.push(e[4][i]); }
        }
        if (heads.length === 0) return;
        edges.push({ l: l, from: e[1], to: e[2], heads: heads, ws: ws });
        nodes[l].add(e[2]);
      });
    }
    return { nodes: nodes, edges: edges };
  }

  // c_l(w) and I_l(w) (paper eq. 3 and 4, 0-based as docs/flows.md).
  function influence(gr, l) {
    var c = [], I = new Array(S).fill(0), k;
    for (k = 0; k < L; k++) c.push(new Array(S).fill(0));
    gr.edges.forEach(function (e) { c[e.l][e.to] += e.heads.length; });
    for (var w = 0; w < S; w++) {
      var s = 0;
      for (k = l; k < L; k++) s += Math.pow(D.alpha, L - 1 - k) * c[k][w];
      I[w] = s / (L - l);
    }
    return I;
  }
  function circles(x) { return Math.max(0, Math.min(5, Math.ceil(x - 1e-12))); }

  // Tokens reached from (layer, pos): downwards (what feeds it) and upwards (what it feeds).
  function trace(gr, layer, pos) {
    var hl = new Set([layer + ":" + pos]), edges = new Set(), i;
    var front = new Set([pos]);
    for (var l = layer - 1; l >= 0 && front.size; l--) {
      var next = new Set();
      for (i = 0; i < gr.edges.length; i++) {
        var e = gr.edges[i];
        if (e.l === l && front.has(e.from)) { next.add(e.to); edges.add(e.l + ":" + e.from + ":" + e.to); }
      }
      next.forEach(function (t) { hl.add(l + ":" + t); });
      front = next;
    }
    front = new Set([pos]);
    for (l = layer; l < L && front.size; l++) {
      var up = new Set();
      for (i = 0; i < gr.edges.length; i++) {
        var f = gr.edges[i];
        if (f.l === l && front.has(f.to)) { up.add(f.from); edges.add(f.l + ":" + f.from + ":" + f.to); }
      }
      up.forEach(function (t) { hl.add((l + 1) + ":" + t); });
      front = up;
    }
    return { tokens: hl, edges: edges };
  }

  // ---- radial view: node layer L at the centre, node layer l on ring L - l ----
  var svg = document.getElementById("radial");
  var CX = 380, CY = 380, RMAX = 350;
  function radius(layer) {
    var k = L - layer;
    return k === 0 ? 0 : 30 + (k - 1) * (RMAX - 30) / Math.max(1, L - 1);
  }
  function positions() { // "layer:pos" -> [x, y, angle]
    var pos = {};
    for (var l = 0; l <= L; l++) {
      var u = new Set();
      names.forEach(function (m) { built[m].nodes[l].forEach(function (t) { u.add(t); }); });
      var toks = Array.from(u).sort(function (x, y) { return x - y; });
      var r = radius(l);
      if (l === L && toks.length > 1) r = 14;
      toks.forEach(function (t, i) {
        // a gap at the top keeps the ring's label clear (rings, not the centre)
        var gap = l === L ? 0 : 0.1;
        var th = -Math.PI / 2 + gap + (2 * Math.PI - 2 * gap) * (i + (l === L ? 0 : 0.5)) / toks.length;
        pos[l + ":" + t] = [CX + r * Math.cos(th), CY + r * Math.sin(th), th];
      });
    }
    return pos;
  }
  function membership(l, t) {
    var ina = built.a.nodes[l].has(t), inb = built.b ? built.b.nodes[l].has(t) : false;
    return built.b ? (ina && inb ? "shared" : ina ? "a" : inb ? "b" : "none") : (ina ? "a" : "none");
  }

  function drawRadial() {
    while (svg.firstChild) svg.removeChild(svg.firstChild);
    var pos = positions(), l;
    for (l = 0; l < L; l++) {
      el("circle", { cx: CX, cy: CY, r: radius(l), "class": "ring" }, svg, true);
      var lab = el("text", { x: CX, y: CY - radius(l) + 3, "text-anchor": "middle", "class": "ringlabel" }, svg, true);
      lab.textContent = "L" + (l + 1);
    }
    // edges: one path per (layer, from, to), coloured by the models carrying it
    var merged = {};
    names.forEach(function (m) {
      built[m].edges.forEach(function (e) {
        var k = e.l + ":" + e.from + ":" + e.to;
        if (!merged[k]) merged[k] = { e: e, by: {} };
        merged[k].by[m] = e;
      });
    });
    var shown = 0;
    Object.keys(merged).forEach(function (k) {
      var m = merged[k], e = m.e;
      if (state.hiddenLayers[e.l]) return;
      var p = pos[(e.l + 1) + ":" + e.from], q = pos[e.l + ":" + e.to];
      var who = m.by.a && m.by.b ? "shared" : m.by.a ? "a" : "b";
      var nh = Math.max(m.by.a ? m.by.a.heads.length : 0, m.by.b ? m.by.b.heads.length : 0);
      // a chord bowed towards the centre: the control point is the midpoint pulled inwards
      var mx = (p[0] + q[0]) / 2, my = (p[1] + q[1]) / 2;
      var cx = CX + (mx - CX) * 0.55, cy = CY + (my - CY) * 0.55;
      var path = el("path", { d: "M" + p[0].toFixed(1) + "," + p[1].toFixed(1) + " Q" + cx.toFixed(1) + "," +
        cy.toFixed(1) + " " + q[0].toFixed(1) + "," + q[1].toFixed(1), "class": "edge",
        stroke: COLOR[who], "stroke-width": (0.6 + 0.9 * nh).toFixed(1), "data-key": k, "data-who": who }, svg, true);
      var txt = "layer " + (e.l + 1) + ": " + D.tokens[e.from] + " (" + e.from + ") attends to " +
        D.tokens[e.to] + " (" + e.to + ")";
      names.forEach(function (mm) {
        var x = m.by[mm];
        if (x) txt += "\n  " + D.names[mm] + ": " + x.heads.map(function (h, i) { return "head " + (h + 1) + " " + fmt(x.ws[i]); }).join(", ");
      });
      el("title", {}, path, true).textContent = txt;
      path.addEventListener("mouseenter", function () { status(txt); });
      shown++;
    });
    // head glyphs: for a token of node layer l >= 1, the heads through which it attends
    // (attention layer l-1) in each model, with their largest weight
    var used = {};
    names.forEach(function (m) {
      built[m].edges.forEach(function (e) {
        var k = (e.l + 1) + ":" + e.from;
        if (!used[k]) used[k] = {};
        e.heads.forEach(function (h, i) {
          var u = used[k][h] || (used[k][h] = {});
          u[m] = Math.max(u[m] || 0, e.ws[i]);
        });
      });
    });
    for (l = 0; l <= L; l++) {
      for (var t = 0; t < S; t++) {
        var p2 = pos[l + ":" + t];
        if (!p2) continue;
        var who2 = membership(l, t);
        var g = el("g", { "class": "tok", "data-layer": l, "data-pos": t, "data-who": who2 }, svg, true);
        el("circle", { cx: p2[0].toFixed(1), cy: p2[1].toFixed(1), r: 4, fill: COLOR[who2] }, g, true);
        var hu = used[l + ":" + t];
        if (hu) { // NH small squares in a row towards the centre (below, at the centre)
          var dx = l === L ? 0 : -Math.cos(p2[2]), dy = l === L ? 1 : -Math.sin(p2[2]);
          for (var j = 0; j < NH; j++) {
            var u2 = hu[j] || {}, hw = u2.a !== undefined && u2.b !== undefined ? "shared" : u2.a !== undefined ? "a" :
              u2.b !== undefined ? "b" : "none";
            var hx = p2[0] + dx * (8 + 3.5 * j) - 1.5, hy = p2[1] + dy * (8 + 3.5 * j) - 1.5;
            var sq = el("rect", { x: hx.toFixed(1), y: hy.toFixed(1), width: 3, height: 3, "class": "hg",
              "data-head": j, fill: hw === "none" ? "#e4e4e4" : COLOR[hw] }, g, true);
            el("title", {}, sq, true).textContent = D.tokens[t] + " (" + t + "), layer " + l + ", head " + (j + 1) + ": " +
              names.map(function (m) { return D.names[m] + " " + (u2[m] === undefined ? "unused" : "max weight " + fmt(u2[m])); }).join(", ");
          }
        }
        if (l < L) {
          var out = p2[2], tx = p2[0] + 7 * Math.cos(out), ty = p2[1] + 7 * Math.sin(out);
          var deg = out * 180 / Math.PI, flip = Math.cos(out) < 0;
          var text = el("text", { x: tx.toFixed(1), y: ty.toFixed(1), "dominant-baseline": "middle",
            "text-anchor": flip ? "end" : "start",
            transform: "rotate(" + (flip ? deg + 180 : deg).toFixed(1) + " " + tx.toFixed(1) + " " + ty.toFixed(1) + ")" }, g, true);
          text.textContent = D.tokens[t].slice(0, 14);
        } else {
          var ct = el("text", { x: p2[0] + 6, y: p2[1] - 6 }, g, true);
          ct.textContent = D.tokens[t];
        }
        el("title", {}, g, true).textContent = D.tokens[t] + " (position " + t + ", node layer L" + (l + 1) + ")";
        g.addEventListener("click", select.bind(null, l, t));
      }
    }
    var counts = names.map(function (m) { return built[m].edges.length; });
    var ce = document.getElementById("edge-count");
    ce.textContent = names.map(function (m, i) { return D.names[m] + ": " + counts[i] + " edges"; }).join(", ") +
      " (" + shown + " drawn)";
    names.forEach(function (m, i) { ce.setAttribute("data-edges-" + m, counts[i]); });
    ce.setAttribute("data-drawn", shown);
    applySelection();
  }

  function applySelection() {
    var tokens = new Set(), edges = new Set();
    if (state.sel) {
      names.forEach(function (m) {
        var tr = trace(built[m], state.sel[0], state.sel[1]);
        tr.tokens.forEach(function (x) { tokens.add(x); });
        tr.edges.forEach(function (x) { edges.add(x); });
      });
    }
    svg.classList.toggle("tracing", !!state.sel);
    svg.querySelectorAll(".tok").forEach(function (g) {
      g.classList.toggle("hl", tokens.has(g.getAttribute("data-layer") + ":" + g.getAttribute("data-pos")));
    });
    svg.querySelectorAll("path.edge").forEach(function (p) { p.classList.toggle("hl", edges.has(p.getAttribute("data-key"))); });
    var inSentence = new Set();
    tokens.forEach(function (x) { inSentence.add(+x.split(":")[1]); });
    document.querySelectorAll(".sw").forEach(function (s) { s.classList.toggle("hl", inSentence.has(+s.getAttribute("data-pos"))); });
  }

  function select(layer, pos) {
    state.sel = state.sel && state.sel[0] === layer && state.sel[1] === pos ? null : [layer, pos];
    applySelection();
    if (state.sel) {
      var n = svg.querySelectorAll(".tok.hl").length;
      status("selected " + D.tokens[pos] + " (position " + pos + ") on ring L" + (layer + 1) + ": " + n +
        " tokens on its paths, highlighted");
    }
  }

  function status(s) { document.getElementById("status").textContent = s; }

  // ---- sentence view: influence circles above every wordpiece ----
  function drawSentence() {
    var box = document.getElementById("sentence");
    while (box.firstChild) box.removeChild(box.firstChild);
    var I = {};
    names.forEach(function (m) { I[m] = influence(built[m], state.infLayer); });
    var target = new Set(D.graphs.a.target.concat(D.graphs.b ? D.graphs.b.target : []));
    for (var t = 0; t < S; t++) {
      var ca = circles(I.a[t]), cb = built.b ? circles(I.b[t]) : 0;
      var inAny = false;
      for (var l = 0; l <= L; l++) if (membership(l, t) !== "none") inAny = true;
      var sw = el("span", { "class": "sw" + (inAny ? "" : " none") + (target.has(t) ? " target" : ""), "data-pos": t,
        "data-circles-a": ca, "data-circles-b": cb }, box);
      var cs = el("span", { "class": "circles" }, sw);
      var shared = built.b ? Math.min(ca, cb) : 0, more = built.b ? Math.max(ca, cb) : ca;
      for (var i = 0; i < more; i++) {
        var col = i < shared ? COLOR.shared : (!built.b || ca > cb ? COLOR.a : COLOR.b);
        el("span", { "class": "c", style: "background:" + col }, cs);
      }
      el("span", { "class": "t" }, sw).textContent = D.tokens[t];
      var tip = D.tokens[t] + " (" + t + "): influence I" + (state.infLayer + 1) + " " +
        names.map(function (m) { return D.names[m] + " " + fmt(I[m][t]); }).join(", ");
      sw.title = tip;
      sw.addEventListener("click", (function (pos) {
        return function () { // the token where it enters its deepest ring, else at the centre
          for (var l = 0; l <= L; l++) if (membership(l, pos) !== "none") { select(l, pos); return; }
        };
      })(t));
    }
  }

  // ---- head glyphs: one row per layer, one square per head ----
  function drawHeads() {
    var tb = document.getElementById("heads");
    while (tb.firstChild) tb.removeChild(tb.firstChild);
    var hdr = el("tr", {}, tb);
    el("td", {}, hdr).textContent = "";
    for (var j = 0; j < NH; j++) el("td", {}, hdr).textContent = j + 1;
    for (var l = L - 1; l >= 0; l--) {
      var tr = el("tr", {}, tb);
      el("td", {}, tr).textContent = "layer " + (l + 1);
      for (j = 0; j < NH; j++) {
        var use = {}, maxw = {};
        names.forEach(function (m) {
          use[m] = 0; maxw[m] = 0;
          built[m].edges.forEach(function (e) {
            if (e.l !== l) return;
            var i = e.heads.indexOf(j);
            if (i >= 0) { use[m]++; maxw[m] = Math.max(maxw[m], e.ws[i]); }
          });
        });
        var who = use.a && use.b ? "shared" : use.a ? "a" : use.b ? "b" : "none";
        var key = l + "," + j;
        var td = el("td", {}, tr);
        var sq = el("div", { "class": "hq" + (state.off[key] ? " off" : ""), "data-layer": l, "data-head": j,
          style: "background:" + (who === "none" ? "#eee" : COLOR[who]) }, td);
        var tip = "layer " + (l + 1) + ", head " + (j + 1) + (state.off[key] ? " (switched off)" : "") + ": " +
          names.map(function (m) { return D.names[m] + " " + use[m] + " edges, max weight " + fmt(maxw[m]); }).join("; ");
        sq.title = tip;
        sq.addEventListener("mouseenter", status.bind(null, tip));
        sq.addEventListener("click", (function (k) {
          return function () { if (state.off[k]) delete state.off[k]; else state.off[k] = true; refresh(); };
        })(key));
      }
    }
  }

  function refresh() {
    names.forEach(function (m) { built[m] = build(D.graphs[m]); });
    drawRadial();
    drawSentence();
    drawHeads();
    applySelection();
  }

  // ---- set-up ----
  names.forEach(function (m) {
    var g = D.graphs[m];
    g.byLayer = [];
    for (var l = 0; l < L; l++) g.byLayer.push([]);
    g.edges.forEach(function (e) { g.byLayer[e[0]].push(e); });
  });
  document.getElementById("title").textContent = "Attention Flows: " + D.qid + " (target " + D.target_kind + ")";
  document.getElementById("question").textContent = "Q: " + D.question + "   |   " +
    names.map(function (m) { return D.names[m] + ": " + (D.answers[m] || "(no span)"); }).join("   |   ");
  var tau = document.getElementById("tau");
  tau.min = D.floor; tau.max = 0.99; tau.step = "any"; tau.value = D.tau;
  document.getElementById("tau-value").textContent = fmt(D.tau);
  tau.addEventListener("input", function () {
    state.tau = +tau.value;
    document.getElementById("tau-value").textContent = fmt(state.tau);
    refresh();
  });
  var sel = document.getElementById("influence-layer");
  for (var l = 0; l < L; l++) el("option", { value: l }, sel).textContent = (l + 1) + (l === 0 ? " (all layers)" : "");
  sel.addEventListener("change", function () { state.infLayer = +sel.value; drawSentence(); applySelection(); });
  var lay = document.getElementById("layers");
  for (l = 0; l < L; l++) {
    var lb = el("label", {}, lay), cb = el("input", { type: "checkbox", "data-layer": l }, lb);
    cb.checked = true;
    lb.appendChild(document.createTextNode(" L" + (l + 1) + " "));
    cb.addEventListener("change", (function (k, box) {
      return function () { if (box.checked) delete state.hiddenLayers[k]; else state.hiddenLayers[k] = true; drawRadial(); };
    })(l, cb));
  }
  document.getElementById("clear").addEventListener("click", function () { state.sel = null; applySelection(); });
  var leg = document.getElementById("legend");
  function legend(color, text) {
    var d = el("div", {}, leg);
    if (color) el("span", { "class": "sw2", style: "background:" + color }, d);
    d.appendChild(document.createTextNode(text));
  }
  legend(COLOR.a, "model A: " + D.names.a + (D.graphs.b ? " only" : ""));
  if (D.graphs.b) { legend(COLOR.b, "model B: " + D.names.b + " only"); legend(COLOR.shared, "both models (shared)"); }
  legend(null, "Rings: the tokens entering layer k (L1 outermost); the centre holds the target. A curved line " +
    "is an edge: the token nearer the centre attends to the outer one above tau; its width grows with the " +
    "number of heads carrying it. Beside a token, towards the centre: a small square per head (head 1 " +
    "nearest), coloured by the models attending through it from that token. Circles above a word: its influence, rounded up, at most 5. Heads: a " +
    "square per head and layer, coloured by the models using it, hatched when switched off. The slider " +
    "refilters from the weights above " + fmt(D.floor) + " (the floor this file was written with).");
  refresh();
})();
