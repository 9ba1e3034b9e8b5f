-- zonelab.shard — splitting a sweep over machines (sweep.lua --shard I/N) and merging the
-- shards back (aggregate.lua --merge). See docs/scale.md.
--
--   local shard = require "zonelab.shard"
--   local i, n = shard.parse("2/8")                     -- 1-based shard of N
--   local plan = shard.plan(#configs, #questions, i, n) -- {split = "configs", configs = {k...}}
--                                                       -- or {split = "questions", first =, last =}
--   shard.write_manifest(dir, manifest)                 -- after the shard's decodes
--   shard.merge("run/preds", {dataset = nil})           -- checks every shard, writes the files
--
-- The split is a pure function of (number of configurations, number of questions, I, N):
-- configuration k (1-based, in sweep.lua's order: the baseline, then every zone of layer
-- 1, of layer 2, ...) goes to shard ((k - 1) mod N) + 1, so every shard mixes cheap (late
-- layer) and dear (early layer) configurations. With more shards than configurations, every
-- shard runs every configuration on a contiguous range of the questions instead.
-- Shard I of N writes into OUT/shard-I-of-N/ and finishes with manifest.json: what it ran,
-- the sha256 of the model folder's files, of the dataset and of every file it wrote, and the
-- options that shape the numbers. merge() refuses missing shards, shards that disagree on
-- model, data or options, and files changed since their manifest.
local cli = require "zonelab.cli"
local lfs = require "lfs"
local zl = require "zonelab"

local M = {}

-- /2: layers (options.layers and each configuration's layer) count from 1
M.FORMAT = "zonelab-sweep-shard/2"

--- "I/N" -> i, n (1 <= i <= n).
function M.parse(spec)
  local i, n = tostring(spec):match("^%s*(%d+)%s*/%s*(%d+)%s*$")
  i, n = tonumber(i), tonumber(n)
  if not i or n < 1 or i < 1 or i > n then
    cli.fail("--shard: '%s' is not I/N with 1 <= I <= N (1-based, e.g. 2/8)", tostring(spec))
  end
  return i, n
end

function M.dirname(out, i, n) return string.format("%s/shard-%d-of-%d", out, i, n) end

--- sha256 of files (a list of paths) with coreutils' sha256sum: {path = hex}. Started
--- from an argument vector (zl.proc), never through a shell: paths are user text.
function M.sha256_files(paths)
  local out = {}
  if #paths == 0 then return out end
  local argv = { "sha256sum", "--" }
  for _, p in ipairs(paths) do argv[#argv + 1] = p end
  local listing = os.tmpname() -- created by mkstemp: a new file of ours
  local ran, how, code = pcall(function() return zl.proc.wait(zl.proc.spawn(argv, { log = listing })) end)
  local read, text = pcall(zl.io.read, listing)
  os.remove(listing)
  local ok = ran and how == "exit" and code == 0
  text = not ran and tostring(how) or read and text or ""
  local k = 0
  for hex in text:gmatch("([0-9a-f]+)  [^\n]*\n") do
    k = k + 1
    if #hex == 64 and paths[k] then out[paths[k]] = hex end
  end
  if not ok or k ~= #paths then
    cli.fail("sha256sum failed on %s%s: %s", paths[1], #paths > 1 and " and others" or "",
      text:gsub("\n.*", ""))
  end
  return out
end

--- The model folder's regular files (not hidden), each with its sha256: {name = hex}.
function M.model_digest(dir)
  local names = {}
  for name in lfs.dir(dir) do
    if name:sub(1, 1) ~= "." and lfs.attributes(dir .. "/" .. name, "mode") == "file" then
      names[#names + 1] = name
    end
  end
  table.sort(names)
  local paths = {}
  for k, name in ipairs(names) do paths[k] = dir .. "/" .. name end
  local h = M.sha256_files(paths)
  local t = {}
  for k, name in ipairs(names) do t[name] = h[paths[k]] end
  return t
end

--- The deterministic split (see the header). by: "auto" (configurations, unless there are
--- fewer than shards), "configs" or "questions".
function M.plan(nconfigs, nquestions, i, n, by)
  by = by or "auto"
  if by == "configs" and n > nconfigs then
    cli.fail("--shard %d/%d --shard-by configs: only %d configurations", i, n, nconfigs)
  end
  if by == "configs" or (by == "auto" and n <= nconfigs) then
    local mine = {}
    for k = i, nconfigs, n do mine[#mine + 1] = k end
    return { split = "configs", configs = mine }
  end
  if n > nquestions then
    cli.fail("--shard %d/%d: more shards than %squestions (%d)", i, n,
      by == "auto" and string.format("configurations (%d) and than ", nconfigs) or "", nquestions)
  end
  return { split = "questions", first = (i - 1) * nquestions // n + 1, last = i * nquestions // n }
end

--- Counts the questions of a SQuAD-format JSON value.
function M.count_questions(json)
  local n = 0
  for _, article in ipairs(json.data or {}) do
    for _, par in ipairs(article.paragraphs or {}) do n = n + #(par.qas or {}) end
  end
  return n
end

--- The same file with only questions first..last (1-based, file order) kept.
function M.subset(json, first, last)
  local out, k = { version = json.version, data = {} }, 0
  for _, article in ipairs(json.data or {}) do
    local pars = {}
    for _, par in ipairs(article.paragraphs or {}) do
      local qas = {}
      for _, qa in ipairs(par.qas or {}) do
        k = k + 1
        if k >= first and k <= last then qas[#qas + 1] = qa end
      end
      if #qas > 0 then
        local p = {}
        for key, v in pairs(par) do p[key] = v end
        p.qas = qas
        pars[#pars + 1] = p
      end
    end
    if #pars > 0 then
      local a = {}
      for key, v in pairs(article) do a[key] = v end
      a.paragraphs = pars
      out.data[#out.data + 1] = a
    end
  end
  return out
end

--- The output files of a configuration list that exist in dir (names).
local function outputs(dir, names)
  local have = {}
  for _, name in ipairs(names) do
    if lfs.attributes(dir .. "/" .. name, "mode") == "file" then have[#have + 1] = name end
  end
  return have
end

--- Writes dir/manifest.json: m plus the sha256 of every file named in m.outputs.
function M.write_manifest(dir, m)
  local names = outputs(dir, m.outputs)
  local paths = {}
  for k, name in ipairs(names) do paths[k] = dir .. "/" .. name end
  local h = M.sha256_files(paths)
  m.files = {}
  for k, name in ipairs(names) do m.files[name] = h[paths[k]] end
  m.outputs = nil
  m.format = M.FORMAT
  zl.json.write(dir .. "/manifest.json", m, { pretty = true })
end

--- Refuses to reuse a shard folder decoded with another model, data or options.
function M.check_rerun(dir, m, force)
  local path = dir .. "/manifest.json"
  if lfs.attributes(path, "mode") ~= "file" then return end
  local ok, old = pcall(zl.json.read, path)
  if ok and type(old) == "table" then
    for _, key in ipairs { "model", "dataset", "options" } do
      if zl.json.encode(old[key]) ~= zl.json.encode(m[key]) and not force then
        cli.fail("%s: this shard was decoded with another %s; use another --out, or --force to redo it",
          path, key == "dataset" and "dataset" or key)
      end
    end
  end
  os.remove(path) -- rewritten when the shard finishes: until then it is not complete
end

--- Merges a cJSON object file's members into one text (shard order = question order).
local function concat_objects(texts)
  local bodies, pretty = {}, false
  for _, t in ipairs(texts) do
    local body = t:match("^{(.*)}$")
    if not body then return nil end
    if body:sub(1, 1) == "\n" then pretty = true end
    body = body:gsub("^\n", ""):gsub("\n$", "")
    if body ~= "" then bodies[#bodies + 1] = body end
  end
  if #bodies == 0 then return pretty and "{\n}" or "{}" end
  if pretty then return "{\n" .. table.concat(bodies, ",\n") .. "\n}" end
  return "{" .. table.concat(bodies, ",") .. "}"
end

local function describe(key, a, b)
  if key == "model" then
    local names = {}
    for name in pairs(a) do if a[name] ~= b[name] then names[#names + 1] = name end end
    for name in pairs(b) do if a[name] == nil then names[#names + 1] = name end end
    table.sort(names)
    return "model (" .. table.concat(names, ", ") .. " differ)"
  elseif key == "dataset" then
    return string.format("dataset (sha256 %s vs %s)", a.sha256:sub(1, 12), b.sha256:sub(1, 12))
  end
  local keys = {}
  for k2, v in pairs(a) do if zl.json.encode(v) ~= zl.json.encode(b[k2]) then keys[#keys + 1] = k2 end end
  for k2 in pairs(b) do if a[k2] == nil then keys[#keys + 1] = k2 end end
  table.sort(keys)
  return "options (" .. table.concat(keys, ", ") .. ")"
end

--- Containment: a file name from a manifest is trusted only as a plain relative path
--- (no absolute path, no "." / ".." / empty component, no control character) whose
--- existing components under base are not symbolic links (lstat), so that nothing a
--- shard folder holds can make the merge read or write outside it.
local function contained(manifest, name, base)
  local why
  if type(name) ~= "string" or name == "" then why = "not a file name"
  elseif name:sub(1, 1) == "/" then why = "an absolute path"
  elseif name:find("%c") then why = "a control character in it"
  else
    for part in (name .. "/"):gmatch("([^/]*)/") do
      if part == "" or part == "." or part == ".." then why = "'" .. part .. "' in its path" end
    end
  end
  if not why and base then
    local acc = base
    for part in name:gmatch("[^/]+") do
      acc = acc .. "/" .. part
      if lfs.symlinkattributes(acc, "mode") == "link" then
        why = "its path goes through the symbolic link " .. acc
        break
      end
    end
  end
  if why then
    cli.fail("%s: entry '%s' is not a plain relative path inside its shard (%s): refusing to merge",
      manifest, tostring(name), why)
  end
  return name
end

--- Checks the shards in out and merges their files into out. Returns the first shard's
--- manifest (model, dataset, options) and the list of merged predictions names.
--- opts.dataset: the dataset's path on this machine when it moved (checked by sha256).
function M.merge(out, opts)
  zl.check_options(opts, { "dataset" }, "shard.merge")
  opts = opts or {}
  out = out:gsub("/+$", "")
  if lfs.attributes(out, "mode") ~= "directory" then cli.fail("%s: not a folder", out) end
  local counts, seen = {}, {}
  for name in lfs.dir(out) do
    local i, n = name:match("^shard%-(%d+)%-of%-(%d+)$")
    if i and lfs.attributes(out .. "/" .. name, "mode") == "directory" then
      n = tonumber(n)
      if not seen[n] then seen[n] = true; counts[#counts + 1] = n end
    end
  end
  table.sort(counts)
  if #counts == 0 then
    cli.fail("%s: no shard-I-of-N folders (written by recipes/sweep.lua --shard I/N --out %s)", out, out)
  elseif #counts > 1 then
    cli.fail("%s: shard folders of different splits (of %s shards): keep the folders of one split only",
      out, table.concat(counts, " and of "))
  end
  local n = counts[1]
  local missing, mans = {}, {}
  for i = 1, n do
    local path = M.dirname(out, i, n) .. "/manifest.json"
    if lfs.attributes(path, "mode") ~= "file" then
      missing[#missing + 1] = tostring(i)
    else
      local ok, m = pcall(zl.json.read, path)
      if not ok or type(m) ~= "table" or m.format ~= M.FORMAT then
        cli.fail("%s: not a zonelab shard manifest (%s)", path, ok and "format" or tostring(m))
      end
      if m.shard ~= i or m.shards ~= n then
        cli.fail("%s: records shard %s of %s, not %d of %d", path, tostring(m.shard), tostring(m.shards), i, n)
      end
      mans[i] = m
    end
  end
  if #missing > 0 then
    cli.fail("%s: shard%s %s of %d missing or unfinished (no manifest.json): run recipes/sweep.lua " ..
      "--shard %s/%d with the same options", out, #missing > 1 and "s" or "", table.concat(missing, ", "), n,
      missing[1], n)
  end
  local m1 = mans[1]
  for i = 2, n do
    if mans[i].split ~= m1.split then
      cli.fail("%s and %s disagree on the split (%s vs %s, --shard-by): they cannot be merged",
        M.dirname(out, 1, n), M.dirname(out, i, n), tostring(m1.split), tostring(mans[i].split))
    end
    for _, key in ipairs { "model", "dataset", "options" } do
      if zl.json.encode(mans[i][key]) ~= zl.json.encode(m1[key]) then
        cli.fail("%s and %s disagree on the %s: they cannot be merged", M.dirname(out, 1, n),
          M.dirname(out, i, n), describe(key, m1[key], mans[i][key]))
      end
    end
  end
  -- every recorded file, as it was when its shard finished
  local paths, want = {}, {}
  for i = 1, n do
    local dir = M.dirname(out, i, n)
    if type(mans[i].files) ~= "table" or type(mans[i].configs) ~= "table" then
      cli.fail("%s/manifest.json: not a zonelab shard manifest (files, configs)", dir)
    end
    for name, hex in pairs(mans[i].files) do
      contained(dir .. "/manifest.json", name, dir)
      local p = dir .. "/" .. name
      if lfs.attributes(p, "mode") ~= "file" then cli.fail("%s: missing (listed in its manifest)", p) end
      paths[#paths + 1] = p; want[p] = hex
    end
  end
  table.sort(paths)
  local got = M.sha256_files(paths)
  for _, p in ipairs(paths) do
    if got[p] ~= want[p] then cli.fail("%s: changed since its shard finished (sha256 differs from manifest.json)", p) end
  end
  -- every name the merge writes into out: contained in out as in the shards
  for _, c in ipairs(m1.configs) do
    if type(c.files) ~= "table" then cli.fail("%s/manifest.json: configuration without files", M.dirname(out, 1, n)) end
    for _, f in ipairs(c.files) do contained(M.dirname(out, 1, n) .. "/manifest.json", f, out) end
  end
  -- coverage, then the merged files
  local all = m1.configs
  local names = {}
  if m1.split == "configs" then
    local owner = {}
    for i = 1, n do
      for _, k in ipairs(mans[i].config_indexes) do
        if owner[k] then cli.fail("%s: configuration %d is in shards %d and %d", out, k, owner[k], i) end
        owner[k] = i
      end
    end
    for k, c in ipairs(all) do
      if not owner[k] then cli.fail("%s: no shard ran configuration %s", out, c.label) end
      for _, f in ipairs(c.files) do
        local src = M.dirname(out, owner[k], n) .. "/" .. f
        if want[src] then zl.io.write_atomic(out .. "/" .. f, zl.io.read(src)) end
      end
      names[#names + 1] = c.files[1]
    end
  else
    local next_q = 1
    for i = 1, n do
      local m = mans[i]
      if m.questions.first ~= next_q then
        cli.fail("%s: shard %d starts at question %d, expected %d", out, i, m.questions.first, next_q)
      end
      next_q = m.questions.last + 1
    end
    if next_q ~= m1.total_questions + 1 then
      cli.fail("%s: the shards cover questions 1..%d of %d", out, next_q - 1, m1.total_questions)
    end
    for _, c in ipairs(all) do
      for f = 1, 2 do -- predictions, nbest: members concatenated in question order
        local texts = {}
        for i = 1, n do
          local src = M.dirname(out, i, n) .. "/" .. c.files[f]
          if not want[src] then cli.fail("%s: missing (shard %d did not write it)", src, i) end
          texts[i] = zl.io.read(src)
        end
        local merged = concat_objects(texts)
        if not merged then cli.fail("%s: not a JSON object file", M.dirname(out, 1, n) .. "/" .. c.files[f]) end
        zl.io.write_atomic(out .. "/" .. c.files[f], merged)
      end
      names[#names + 1] = c.files[1]
    end
  end
  return m1, names
end

return M
