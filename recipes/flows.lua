-- recipes/flows.lua — Attention Flows for one question: the attention graph built
-- backwards from [CLS] (or the predicted answer), token influence, and optionally the
-- comparison with a second model, written as flows_<qid>.json and drawn as
-- flows_<qid>.pdf (sentence view, radial view, legend). See docs/flows.md.
--
-- Also usable from another recipe: `require("flows").run{model =, predict =, qid =, out =,
-- compare =, tau =, alpha =, heads = {...}, target = "cls"|"answer"|"answer-b", mask = {...}, cmrc =,
-- precision = "fp32"|"bf16" (m:forward's), ...}`:
-- layers and heads 1-based; `mask` holds m:forward's masking options (zone, layer, mask,
-- heads, layers, head_mask): with `compare`, applied to both models' forward passes
-- unchanged; without it, the model is compared with itself under the mask (A unmasked, B
-- masked). `html = true` also writes flows_<qid>.html, the interactive viewer, holding the
-- attention weights above `html_floor` (default min(tau, 0.05)).
local cli = require "zonelab.cli"
local qa = require "zonelab.qa"
local zl = require "zonelab"

local M = {}

local function forward(model, feats, i, masking, precision)
  local b = feats:batch(i, 1)
  local f = { input_ids = b.input_ids, token_type_ids = b.token_type_ids,
    input_mask = b.input_mask, qmask = b.qmask, pmask = b.pmask, attentions = true,
    precision = precision }
  for k, v in pairs(masking or {}) do f[k] = v end -- checked by m:forward itself
  return model.bert:forward(f)
end

local function pieces(tok, f)
  local t = {}
  for i = 1, f.length do t[i] = tok:piece(f.input_ids[i]) or "[UNK]" end
  return t
end

-- A file beside the stdlib's modules (zonelab/flows_view.html, .js), found on package.path.
local function stdlib_file(name, ext)
  local path = package.searchpath(name, (package.path:gsub("%.lua", "." .. ext)))
  if not path then cli.fail("zonelab.%s.%s: not found on the stdlib path (an incomplete install)", name, ext) end
  return zl.io.read(path)
end

--- Writes the interactive viewer: the template with its data and script inlined. `v.graphs`
--- holds per model the graph built at the floor and the attentions it came from; every
--- edge of that graph carries the weights of its heads, so the page can rebuild the graph
--- at any tau >= floor (docs/flows.md, "The viewer").
function M.write_html(path, v)
  local parts = {}
  local function graph_json(m)
    local g, att = m.graph, m.attentions
    local info = g:info()
    local out = { string.format('{"target": %s, "edges": [', zl.json.encode(info.target)) }
    for i, e in ipairs(g:edges()) do
      local hs, ws = {}, {}
      for k, h in ipairs(e[4]) do
        hs[k] = tostring(h - 1)
        ws[k] = string.format("%.9g", att:get(e[1], 1, h, e[2] + 1, e[3] + 1))
      end
      out[#out + 1] = string.format('%s[%d,%d,%d,[%s],[%s]]', i > 1 and "," or "", e[1] - 1, e[2], e[3],
        table.concat(hs, ","), table.concat(ws, ","))
    end
    out[#out + 1] = "]}"
    return table.concat(out), info
  end
  local ga, info = graph_json(v.graphs.a)
  parts[#parts + 1] = '"a": ' .. ga
  if v.graphs.b then parts[#parts + 1] = '"b": ' .. graph_json(v.graphs.b) end
  local head = zl.json.encode({ tokens = v.tokens, num_layers = info.num_layers, num_heads = info.num_heads,
    first_segment = info.first_segment, tau = v.tau, floor = v.floor, alpha = v.alpha, qid = v.qid,
    question = v.question, target_kind = v.target_kind, names = v.names, answers = v.answers })
  local data = head:sub(1, -2) .. ', "graphs": {' .. table.concat(parts, ", ") .. "}}"
  -- inside <script>, "</" would end the element: JSON allows the escape "<\/" in strings
  data = data:gsub("</", "<\\/")
  local page = stdlib_file("zonelab.flows_view", "html")
  local function put(key, text)
    local i, j = page:find(key, 1, true)
    page = page:sub(1, i - 1) .. text .. page:sub(j + 1)
  end
  local title = v.qid:gsub("&", "&amp;"):gsub("<", "&lt;"):gsub(">", "&gt;")
  -- the script's placeholder comes last in the page and the title's first: this order never
  -- finds a placeholder inside text already put in
  put("{{SCRIPT}}", stdlib_file("zonelab.flows_view", "js"))
  put("{{DATA}}", data)
  put("{{TITLE}}", title)
  zl.io.write_atomic(path, page)
end

--- Runs the whole recipe from an options table (the parsed command line).
function M.run(o)
  local tau, alpha = o.tau or 0.3, o.alpha or 0.5
  local target = o.target or "cls"
  local model = qa.load_model(o.model, { lower = o.lower, gelu = o.gelu, cmrc = o.cmrc })
  local other = o.compare and qa.load_model(o.compare, { lower = model.lower, gelu = o.gelu, cmrc = o.cmrc })
    or nil
  -- a mask without a second model: the model against itself under the mask (A = unmasked,
  -- B = masked), how attention reroutes when the zone is removed
  local self_mask = o.mask ~= nil and not o.compare
  local mask_a = (not self_mask) and o.mask or nil
  if self_mask then other = model end
  local floor = o.html_floor or math.min(tau, 0.05)
  if o.html and (floor <= 0 or floor > tau) then
    cli.fail("--html-floor must be in (0, tau = %g], got %g", tau, floor)
  end
  if o.say_gelu then
    local qa_cli = require "zonelab.qa_cli"
    qa_cli.say_gelu(model.bert, o.model)
    if o.compare then qa_cli.say_gelu(other.bert, o.compare) end
  end
  local cfg = model.config
  if other then
    local c2 = other.config
    if c2.num_hidden_layers ~= cfg.num_hidden_layers or c2.num_attention_heads ~= cfg.num_attention_heads then
      cli.fail("%s has %d layers x %d heads but %s has %d x %d: flows compare models of one shape",
        o.compare, c2.num_hidden_layers, c2.num_attention_heads, o.model, cfg.num_hidden_layers,
        cfg.num_attention_heads)
    end
  end
  for _, h in ipairs(o.heads or {}) do
    if h < 1 or h > cfg.num_attention_heads then
      cli.fail("--heads: head %d is outside 1..%d (the model has %d heads)", h, cfg.num_attention_heads,
        cfg.num_attention_heads)
    end
  end
  if o.mask ~= nil then
    if type(o.mask) ~= "table" then cli.fail("flows: mask must be a table of m:forward's masking options") end
    zl.check_options(o.mask, qa.MASK_KEYS, "flows mask")
    if math.type(o.mask.layer) == "integer" then -- as decode.lua says it; m:forward checks the rest
      require("zonelab.qa_cli").mask_layer(tostring(o.mask.layer), cfg.num_hidden_layers)
    end
  end
  if o.layer and (o.layer < 1 or o.layer > cfg.num_hidden_layers) then
    cli.fail("--layer %d is outside 1..%d (the model has %d layers)", o.layer, cfg.num_hidden_layers,
      cfg.num_hidden_layers)
  end
  local seq = o.max_seq_length
  if not seq then
    seq = math.min(384, cfg.max_position_embeddings)
    if seq < 384 then
      io.stderr:write(string.format("zonelab: using --max-seq-length %d: the model has %d positions, " ..
        "fewer than the default 384\n", seq, seq))
    end
  end
  local data = qa.load_data(o.predict, model, {
    max_seq_length = seq, doc_stride = o.doc_stride or 128,
    max_query_length = o.max_query_length or 64 })
  local feats = data.feats
  local idx = {}
  for i = 1, #feats do
    if feats:get(i).qid == o.qid then idx[#idx + 1] = i end
  end
  if #idx == 0 then cli.fail("%s: no question with id '%s'", o.predict, o.qid) end
  local example
  for i = 1, #data.ds do
    local ex = data.ds:example(i)
    if ex.qid == o.qid then example = ex; break end
  end
  local span_opts = { n_best_size = o.n_best_size or 20, max_answer_length = o.max_answer_length or 30 }

  -- The feature drawn: the one holding model A's best answer (one window for most
  -- questions), or model B's with --target answer-b (a pretrained model A has a freshly
  -- initialised QA head whose answer means nothing; the fine-tuned B's answer does).
  if target == "answer-b" and not o.compare then
    cli.fail("--target answer-b starts from model B's answer: it needs --compare")
  end
  local chooser, chooser_mask = model, mask_a
  if target == "answer-b" then chooser, chooser_mask = other, o.mask end
  local chosen, out_c, span_c
  for _, i in ipairs(idx) do
    local out = forward(chooser, feats, i, chooser_mask, o.precision)
    -- the decoder's choice of the best span within this window (core/squad.c)
    local s, e, score = feats:best_span(i, out.start_logits, out.end_logits, span_opts)
    if not chosen or (score and (not span_c.score or score > span_c.score)) then
      chosen, out_c, span_c = i, out, { s, e, score = score }
    end
  end
  local out_a, span_a
  if target == "answer-b" then
    out_a = forward(model, feats, chosen, mask_a, o.precision)
    local s, e, score = feats:best_span(chosen, out_a.start_logits, out_a.end_logits, span_opts)
    span_a = { s, e, score = score }
  else
    out_a, span_a = out_c, span_c
  end
  local f = feats:get(chosen)
  local toks = pieces(model.tok, f)

  local function graph(out, span)
    local tgt = { 0 }
    if target == "answer" then
      if not span[1] then cli.fail("question %s: no valid answer span in its window to start from", o.qid) end
      tgt = { span[1], span[2] }
    elseif target == "answer-b" then -- both graphs start from B's answer tokens
      if not span_c[1] then
        cli.fail("question %s: model B has no valid answer span in its window to start from", o.qid)
      end
      tgt = { span_c[1], span_c[2] }
    end
    return zl.flows.build(out.attentions, { tau = tau, alpha = alpha, heads = o.heads, tokens = toks,
      target = tgt, length = f.length, first_segment = f.query_length + 2 })
  end
  local ga = graph(out_a, span_a)
  local gb, span_b, out_b
  if other then
    if target == "answer-b" then
      out_b, span_b = out_c, span_c
    else
      out_b = forward(other, feats, chosen, o.mask, o.precision)
      local s, e, score = feats:best_span(chosen, out_b.start_logits, out_b.end_logits, span_opts)
      span_b = { s, e, score = score }
    end
    gb = graph(out_b, span_b)
  end

  cli.ensure_dir(o.out)
  local safe = cli.file_part(o.qid)
  local json_path = string.format("%s/flows_%s.json", o.out, safe)
  local pdf_path = string.format("%s/flows_%s.pdf", o.out, safe)
  -- the decoder's answer text (wordpieces joined, mapped back onto the passage's words)
  local function answer_text(span)
    return span[1] and feats:span_text(chosen, span[1], span[2], { lower = model.lower }) or nil
  end
  local function answer(span)
    return { start = span[1] or zl.json.null, ["end"] = span[2] or zl.json.null,
      text = answer_text(span) or zl.json.null }
  end
  -- The core's JSON (possibly millions of edges) with the question's fields spliced in,
  -- rather than decoded and re-encoded in Lua.
  local extra = { qid = o.qid, question = example.question, doc_span_index = f.doc_span_index,
    target_kind = target }
  if o.mask then -- what was masked: B alone (the model against itself) or both models
    extra.mask = {}
    for k, v in pairs(o.mask) do -- a tensor option (mask, head_mask) is named, not copied
      extra.mask[k] = type(v) == "userdata" and "tensor" or v
    end
    extra.mask_applies_to = self_mask and "b" or "both"
  end
  if gb then
    extra.models = { a = o.model, b = o.compare or o.model }
    extra.answers = { a = answer(span_a), b = answer(span_b) }
  else
    extra.model, extra.answer = o.model, answer(span_a)
  end
  local core = gb and zl.flows.compare_json(ga, gb) or ga:json()
  zl.io.write_atomic(json_path, core:sub(1, -2) .. "," .. zl.json.encode(extra):sub(2) .. "\n")

  local name_a = o.name_a or o.model:gsub("/+$", ""):match("[^/]+$") or o.model
  local name_b = o.compare and (o.name_b or o.compare:gsub("/+$", ""):match("[^/]+$") or o.compare)
  if name_b == name_a then name_a, name_b = o.model, o.compare end
  if self_mask then
    local what = o.mask.zone and string.format("%s masked at layer %s", o.mask.zone, tostring(o.mask.layer))
      or "masked"
    name_b = o.name_b or (name_a .. ", " .. what)
    name_a = o.name_a or (name_a .. ", unmasked")
  end
  local sub = "Q: " .. example.question
  if #sub > 160 then sub = sub:sub(1, 157) .. "..." end
  local ans = answer_text(span_a)
  sub = sub .. "   |   " .. name_a .. ": " .. (ans or "(no span)")
  if gb then sub = sub .. "   |   " .. name_b .. ": " .. (answer_text(span_b) or "(no span)") end
  local heads = o.heads and #o.heads > 0 and (", heads " .. table.concat(o.heads, ",")) or ""
  zl.flows.draw(pdf_path, ga, gb, {
    title = string.format("Attention Flows: %s (target %s, tau %g, alpha %g%s)", o.qid,
      target == "cls" and "[CLS]" or target == "answer-b" and ("answer of " .. name_b) or "answer",
      tau, alpha, heads),
    subtitle = sub, name_a = name_a, name_b = name_b, layer = o.layer or 1,
    max_ring_tokens = o.max_ring_tokens or 0, max_edges = o.max_edges,
  })
  local html_path
  if o.html then
    html_path = string.format("%s/flows_%s.html", o.out, safe)
    local function floor_graph(out, g)
      local gf = zl.flows.build(out.attentions, { tau = floor, alpha = alpha, heads = o.heads, tokens = toks,
        target = g:info().target, length = f.length, first_segment = f.query_length + 2 })
      return gf
    end
    M.write_html(html_path, {
      tokens = toks, floor = floor, tau = tau, alpha = alpha, qid = o.qid, question = example.question,
      target_kind = target, names = { a = name_a, b = gb and name_b or nil },
      answers = { a = answer_text(span_a), b = gb and answer_text(span_b) or nil },
      graphs = { a = { graph = floor_graph(out_a, ga), attentions = out_a.attentions },
        b = gb and { graph = floor_graph(out_b, gb), attentions = out_b.attentions } or nil },
    })
  end
  return { json = json_path, pdf = pdf_path, html = html_path, graph_a = ga, graph_b = gb, feature = f }
end

-- Required as a module ("flows"): hand out M; run as a script: parse the command line.
if ... == "flows" then return M end

local p = cli.parser("recipes/flows.lua", [[
  Attention Flows (DeRose et al.) for one question: the attention graph from [CLS] or the
  predicted answer backwards through the layers (edges where a head's attention > tau), each
  token's influence, and with --compare the tokens and heads shared by or specific to each model.
  Writes flows_<qid>.json and flows_<qid>.pdf into --out.]], [[
Example:
  zonelab recipes/flows.lua --model runs/init --compare runs/model --predict dev.json --qid dev-3-1 --out flows/
Layers and heads count from 1; token positions (and everything in the JSON file) from 0 (docs/flows.md).]])
p:option("--model", "Model folder (bert_config.json, weights, vocab.txt): model A (turquoise)."):count(1)
p:option("--compare", "Second model folder to compare with: model B (purple).")
p:option("--predict", "SQuAD-format JSON file holding the question."):count(1)
p:option("--qid", "The question's id."):count(1)
p:option("--tau", "Edge threshold: a head's attention must be strictly greater.", "0.3")
p:option("--alpha", "Decay of earlier layers in the influence (paper eq. 4).", "0.5")
p:option("--heads", "Only these heads (1-based, comma-separated, e.g. 1,4,8) carry edges.")
p:option("--target", "Where the graph starts: cls ([CLS], as the paper), answer (each model's " ..
  "predicted start and end tokens) or answer-b (model B's predicted start and end tokens, for " ..
  "both graphs and the window; needs --compare: a pretrained model A has no trained QA head).",
  "cls"):choices { "cls", "answer", "answer-b" }
p:option("--layer", "Layer whose influence I_k the sentence view shows (1-based; 1, the " ..
  "default, summarises every layer).", "1")
p:option("--max-ring-tokens", "Tokens labelled per ring at most (0 = as many as fit; the rest " ..
  "are counted next to the ring's label).", "0")
p:option("--max-edges", "Edges drawn in the PDF at most: the strongest (carried by the most " ..
  "heads, then nearest the target); the legend says how many were cut.", "200")
p:option("--max-seq-length", "Tokens per window (default 384, or the model's " ..
  "max_position_embeddings when it has fewer positions).")
p:option("--mask-zone", "Decode with this zone masked (as decode.lua): " .. qa.zone_list() .. ". " ..
  "Without --compare, model A is the model unmasked and model B the same model masked; with " ..
  "--compare, both models are masked.")
p:option("--mask-layer", "Layer of --mask-zone, 1-based, or 'all' (as decode.lua).")
p:option("--doc-stride", "Stride between the passage windows.", "128")
p:option("--max-query-length", "Question tokens kept.", "64")
p:option("--max-answer-length", "Longest answer in tokens (--target answer).", "30")
require("zonelab.qa_cli").add_gelu(p)
require("zonelab.qa_cli").add_precision(p)
p:flag("--lower", "Lower-case text (default: guessed from vocab.txt).")
p:flag("--cased", "Keep case (default: guessed from vocab.txt).")
p:flag("--cmrc", "CMRC 2018 (Chinese): run_cmrc2018.py's tokenizer variant.")
p:flag("--html", "Also write flows_<qid>.html, the interactive viewer (one self-contained file).")
p:option("--html-floor", [[Attention weights kept in the viewer for its tau slider: those above
  this floor (default: the smaller of tau and 0.05).]])
p:option("--out", "Output folder."):count(1)
cli.add_threads(p)
local args = cli.parse(p)
cli.apply_threads(args)
require("zonelab.qa_cli").check_precision(args)
if args.lower and args.cased then cli.fail("--lower and --cased exclude each other") end

local function number(v, name, lo, hi, open_hi)
  local x = tonumber(v)
  if not x or x ~= x or x < lo or x > hi or (open_hi and x == hi) then
    cli.fail("%s must be a number in [%g, %g%s, got '%s'", name, lo, hi, open_hi and ")" or "]", tostring(v))
  end
  return x
end
local heads
if args.heads then
  heads = {}
  for part in args.heads:gmatch("[^,]+") do
    heads[#heads + 1] = cli.integer(part:match("^%s*(.-)%s*$"), "--heads entry", 1, 64)
  end
  if #heads == 0 then cli.fail("--heads lists no head") end
end
local opts = {
  model = args.model, compare = args.compare, predict = args.predict, qid = args.qid,
  tau = number(args.tau, "--tau", 0, 1, true), alpha = number(args.alpha, "--alpha", 1e-9, 1),
  heads = heads, target = args.target, layer = cli.integer(args.layer, "--layer", 1),
  max_ring_tokens = cli.integer(args.max_ring_tokens, "--max-ring-tokens", 0),
  max_edges = cli.integer(args.max_edges, "--max-edges", 1, 1000000),
  max_seq_length = args.max_seq_length and cli.integer(args.max_seq_length, "--max-seq-length", 8, 100000),
  doc_stride = cli.integer(args.doc_stride, "--doc-stride", 1, 100000),
  max_query_length = cli.integer(args.max_query_length, "--max-query-length", 1, 100000),
  max_answer_length = cli.integer(args.max_answer_length, "--max-answer-length", 1, 100000),
  lower = args.lower and true or (args.cased and false or nil), out = args.out,
  gelu = args.gelu, say_gelu = true, cmrc = args.cmrc, html = args.html, precision = args.precision,
}
if args.html_floor then
  if not args.html then cli.fail("--html-floor needs --html") end
  opts.html_floor = number(args.html_floor, "--html-floor", 0, opts.tau)
end
if args.mask_zone then
  local qa_cli = require "zonelab.qa_cli"
  qa_cli.zone(args.mask_zone)
  if not args.mask_layer then cli.fail("--mask-zone needs --mask-layer (a 1-based layer or 'all')") end
  local layer = args.mask_layer
  if layer ~= "all" then layer = cli.integer(layer, "--mask-layer", 1) end
  opts.mask = { zone = args.mask_zone, layer = layer } -- the range is m:forward's check
elseif args.mask_layer then
  cli.fail("--mask-layer needs --mask-zone (%s)", qa.zone_list())
end
if not cli.exists(opts.predict) then cli.fail("%s: no such file (--predict)", opts.predict) end
local r = M.run(opts)
local graphs = { { opts.model, r.graph_a } }
if r.graph_b then graphs[2] = { opts.compare or (opts.model .. " (masked)"), r.graph_b } end
for _, ng in ipairs(graphs) do
  local name, g = ng[1], ng[2]
  if g:info().num_edges == 0 then
    io.stderr:write(string.format("warning: %s: no head attends above tau %g from the target; an " ..
      "untrained or small model attends diffusely, try a lower --tau (docs/flows.md)\n", name, opts.tau))
  end
end
local info = r.graph_a:info()
print(string.format("question %s: %d tokens, %d edges%s", opts.qid, info.length, info.num_edges,
  r.graph_b and string.format(" (model B: %d)", r.graph_b:info().num_edges) or ""))
cli.wrote(r.json, "attention graph")
cli.wrote(r.pdf, "drawing")
if r.html then cli.wrote(r.html, "viewer") end
