-- inspect.lua — lists a checkpoint's tensors, one line each:
-- name<TAB>dtype<TAB>[d0,d1,...], sorted by name (byte order). Reads only headers
-- and indexes, so a TensorFlow checkpoint's .index alone is enough.
local cli = require "zonelab.cli"
local lfs = require "lfs"
local zl = require "zonelab"

local p = cli.parser("recipes/inspect.lua", [[
  List the tensors of a checkpoint: one line per tensor, name<TAB>dtype<TAB>[d0,d1,...], sorted by
  name (byte order). dtype is the stored type (F32, F16, BF16, I32, I64, ...); a scalar's shape is
  [].]], [[
Examples:
  zonelab recipes/inspect.lua model.safetensors
  zonelab recipes/inspect.lua chinese_L-12_H-768_A-12/bert_model.ckpt
  zonelab recipes/inspect.lua chinese_L-12_H-768_A-12/bert_model.ckpt.index
  zonelab recipes/inspect.lua chinese_L-12_H-768_A-12/   (model.safetensors or the TF checkpoint inside)]])
p:argument("checkpoint",
  "A .safetensors file, a TensorFlow checkpoint prefix (.../bert_model.ckpt) or its .index " ..
  "file, or a model folder.")
local args = cli.parse(p)
local path = args.checkpoint

local TF_MAGIC = "\x57\xfb\x80\x8b\x24\x75\x47\xdb" -- LevelDB table footer, little-endian

-- A TensorFlow index ends with the table magic; anything else is taken for safetensors.
local function is_tf_index(file)
  local f = io.open(file, "rb")
  if not f then return false end
  local size = f:seek("end")
  local tail = size and size >= 8 and f:seek("set", size - 8) and f:read(8)
  f:close()
  return tail == TF_MAGIC
end

local function has_index_file(dir)
  for name in lfs.dir(dir) do
    if name:match(".%.index$") then return true end
  end
  return false
end

local function list(target)
  local mode = lfs.attributes(target, "mode")
  if mode == "directory" then
    local st = target:gsub("/+$", "") .. "/model.safetensors"
    if lfs.attributes(st, "mode") == "file" then return zl.tensor.list(st) end
    if not has_index_file(target) then
      cli.fail("%s: no model.safetensors and no TensorFlow checkpoint (*.ckpt.index) in this folder",
               target)
    end
    return zl.tfckpt.list(target)
  elseif mode == "file" then
    if target:match("%.index$") or target:match("%.data%-%d+%-of%-%d+$") or is_tf_index(target) then
      return zl.tfckpt.list(target)
    end
    return zl.tensor.list(target)
  elseif mode == nil then
    if lfs.attributes(target .. ".index", "mode") == "file" then return zl.tfckpt.list(target) end
    cli.fail("%s: no such file, folder or checkpoint prefix (no %s.index)", target, target)
  end
  cli.fail("%s: not a file or folder", target)
end

local out = {}
for _, t in ipairs(list(path)) do
  out[#out + 1] = string.format("%s\t%s\t[%s]\n", t.name, t.dtype, table.concat(t.shape, ","))
end
io.stdout:write(table.concat(out))
