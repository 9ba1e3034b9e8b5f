-- tests/golden_grad.lua — the gradient and training golden cases, run by tests/golden.lua
-- (which dofile()s this file; see the ctx fields documented at its top).
--
--   grads(ctx): case none: d loss / d param of every parameter against
--               grads.safetensors, |got - want| <= 1e-3 |want| + 1e-5 elementwise
--               (the zero-gradient tensors with the absolute term only).
--   train(ctx): case train_steps: the optimizer steps of tests/fixtures/README.md
--               ("Training case train_steps"): per-step lr (relative 1e-6), loss (abs
--               1e-4), grad_norm (relative 1e-4), final weights (abs 3e-5; abs 1e-3 on
--               the case's zero_gradient_params).
-- Each returns ok, max_err, msg (max_err: the largest error on the main quantity).
local M = {}

local function flat(t) return t:reshape({ t:numel() }):totable() end

-- Tensors whose exact gradient is zero (stored values are rounding residue).
local function zero_gradient_set(ctx)
  local set = {}
  for _, c in pairs(ctx.manifest.cases) do
    if c.model == ctx.model_name and type(c.zero_gradient_params) == "table" then
      for _, n in ipairs(c.zero_gradient_params) do set[n] = true end
    end
  end
  return set
end

local function batch_inputs(ctx)
  local t = {}
  for k, v in pairs(ctx.inputs) do t[k] = v end
  return t
end

local function sorted_keys(t)
  local ks = {}
  for k in pairs(t) do ks[#ks + 1] = k end
  table.sort(ks)
  return ks
end

function M.grads(ctx)
  local zl = ctx.zl
  local m = ctx.load_model()
  local loss, grads = zl.optim.loss_and_grads(m, batch_inputs(ctx))
  local want = zl.tensor.load(ctx.path(ctx.case.grads_safetensors))
  local zero = zero_gradient_set(ctx)
  local worst, bad, nparams = 0, {}, 0
  for _, name in ipairs(sorted_keys(want)) do
    nparams = nparams + 1
    local g = grads[name]
    if not g then
      bad[#bad + 1] = name .. " missing"
    elseif g:numel() ~= want[name]:numel() then
      bad[#bad + 1] = name .. " has the wrong size"
    else
      local gv, wv = flat(g), flat(want[name])
      local rel = zero[name] and 0 or 1e-3
      local over = 0
      for i = 1, #wv do
        local e = math.abs(gv[i] - wv[i])
        if e > worst then worst = e end
        if not (e <= rel * math.abs(wv[i]) + 1e-5) then over = over + 1 end
      end
      if over > 0 then bad[#bad + 1] = string.format("%s: %d elements out of tolerance", name, over) end
    end
  end
  for name in pairs(grads) do
    if not want[name] then bad[#bad + 1] = name .. " not in the fixture" end
  end
  local loss_err = math.abs(loss - ctx.case.loss)
  if not (loss_err <= 1e-4) then bad[#bad + 1] = string.format("loss off by %.3g", loss_err) end
  if nparams == 0 then bad[#bad + 1] = "no gradients in the fixture" end
  local msg = string.format("%d parameters, loss %.7f", nparams, loss)
  if #bad > 0 then msg = msg .. "; " .. table.concat(bad, "; ") end
  return #bad == 0, worst, msg
end

function M.train(ctx)
  local zl = ctx.zl
  local tr = ctx.case.train
  -- a fresh model: the steps change its weights (ctx.load_model's copy is shared)
  local m = zl.bert.load(ctx.path(ctx.model_info.weights))
  local opt = zl.optim.new(m, {
    lr = tr.init_lr, total_steps = tr.num_train_steps, warmup_steps = tr.num_warmup_steps,
    weight_decay = tr.weight_decay_rate, clip = tr.clip_norm,
    beta1 = tr.beta_1, beta2 = tr.beta_2, eps = tr.epsilon,
  })
  local cname = ctx.case_id:match("/(.*)$")
  local want_lr, want_loss, want_norm =
    flat(ctx.array(cname, "lr")), flat(ctx.array(cname, "loss")), flat(ctx.array(cname, "grad_norm"))
  local bad = {}
  local inputs = batch_inputs(ctx)
  local nsteps = tr.num_steps or #want_lr
  if nsteps ~= #want_lr then bad[#bad + 1] = "num_steps differs from the stored arrays" end
  for step = 1, nsteps do
    local loss, grads = zl.optim.loss_and_grads(m, inputs)
    local info = opt:step(grads)
    local checks = {
      { "lr", info.lr, want_lr[step], 1e-6 * math.abs(want_lr[step]) },
      { "loss", loss, want_loss[step], 1e-4 },
      { "grad_norm", info.grad_norm, want_norm[step], 1e-4 * math.abs(want_norm[step]) },
    }
    for _, c in ipairs(checks) do
      if not (math.abs(c[2] - c[3]) <= c[4]) then
        bad[#bad + 1] = string.format("step %d: %s %.9g, expected %.9g", step - 1, c[1], c[2], c[3])
      end
    end
    if info.step ~= step then bad[#bad + 1] = string.format("step counter %d after update %d", info.step, step) end
  end
  local final = zl.tensor.load(ctx.path(ctx.case.final_weights_safetensors))
  local zero = {}
  for _, n in ipairs(ctx.case.zero_gradient_params or {}) do zero[n] = true end
  local params = m:params()
  local worst, worst_zero = 0, 0
  for _, name in ipairs(sorted_keys(final)) do
    local p = params[name]
    if not p then
      bad[#bad + 1] = name .. " missing from the model"
    else
      local e = p:max_abs_diff(final[name])
      if zero[name] then
        worst_zero = math.max(worst_zero, e)
        if not (e <= 1e-3) then bad[#bad + 1] = string.format("%s off by %.3g (zero-gradient)", name, e) end
      else
        worst = math.max(worst, e)
        if not (e <= 3e-5) then bad[#bad + 1] = string.format("%s off by %.3g", name, e) end
      end
    end
  end
  local msg = string.format("%d steps; final weights max abs err %.3g (zero-gradient tensors %.3g)",
                            nsteps, worst, worst_zero)
  if #bad > 0 then msg = msg .. "; " .. table.concat(bad, "; ") end
  m:close()
  return #bad == 0, worst, msg
end

return M
