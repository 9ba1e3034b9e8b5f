-- zonelab.train — what the train recipe needs besides zl.train (the C step): the
-- reference's step count, the data order of the run (drawn epoch by epoch), the default micro-batch,
-- the train_log.csv rows and a dev-set decode. See docs/training.md ("Training loop").
--
--   local T = require "zonelab.train"
--   local steps = T.num_train_steps(n_examples, 64, 3)      -- int(n / batch * epochs)
--   local order = T.data_order(n_features, steps, 64, seed)
--   -- global step s (0-based) trains on order:batch(s), an i32 [64] of 1-based features
local zl = require "zonelab"

local M = {}

--- run_squad.py: num_train_steps = int(len(train_examples) / train_batch_size * num_train_epochs)
--- (EXAMPLES, not features; float arithmetic then truncation, as Python's int()).
function M.num_train_steps(n_examples, batch, epochs)
  return math.floor(n_examples / batch * epochs)
end

--- run_squad.py: num_warmup_steps = int(num_train_steps * warmup_proportion)
function M.num_warmup_steps(steps, proportion)
  return math.floor(steps * proportion)
end

--- The features of the whole run as one stream: epoch e is a seeded permutation of
--- all features (zl.train.permutation(n, seed, e)); the epochs follow each other and
--- global batches are consecutive slices of `batch` entries (the reference's
--- repeat() -> shuffle -> batch: a batch may straddle two epochs, none is dropped
--- short). Returns an order object and a function giving the (1-based) epoch of a global
--- step. order:batch(s) is the i32 tensor of the `batch` 1-based feature numbers of
--- global step s (0-based); the permutations are drawn when a step reaches them and
--- dropped when it has passed them, so memory is one epoch's (or one batch's) whatever
--- the number of steps. order.total = steps * batch entries.
function M.data_order(n_features, steps, batch, seed)
  assert(math.type(steps) == "integer" and steps >= 0, "data_order: steps must be an integer >= 0")
  local perms = {} -- epoch (0-based) -> its permutation as a Lua table
  local order = { total = steps * batch }
  function order:batch(s)
    local k0 = s * batch
    if math.type(s) ~= "integer" or s < 0 or k0 + batch > self.total then
      error(string.format("data order: step %s outside 0..%d", tostring(s), steps - 1), 2)
    end
    local e0, e1 = k0 // n_features, (k0 + batch - 1) // n_features
    for e in pairs(perms) do
      if e < e0 or e > e1 then perms[e] = nil end
    end
    local out = {}
    for k = k0, k0 + batch - 1 do
      local e = k // n_features
      local p = perms[e]
      if not p then
        p = zl.train.permutation(n_features, seed, e):totable()
        perms[e] = p
      end
      out[#out + 1] = p[k % n_features + 1]
    end
    return zl.tensor.from(out, { batch }, "i32")
  end
  local function epoch_of(step) -- step: 0-based global step
    return (step * batch) // n_features + 1
  end
  return order, epoch_of
end

M.MEMORY_BUDGET = 4 * 1024 ^ 3 -- bytes the default micro-batch may use (weights included)

--- Largest divisor of batch whose training memory (zl.train.estimate_bytes) fits the
--- budget; 1 when even that does not fit (the caller reports the estimate).
function M.default_micro_batch(m, batch, seq, budget)
  budget = budget or M.MEMORY_BUDGET
  for mb = batch, 1, -1 do
    if batch % mb == 0 and zl.train.estimate_bytes(m, mb, seq) <= budget then return mb end
  end
  return 1
end

M.LOG_HEADER = "step,epoch,loss,lr,grad_norm,tokens_per_s"

--- One train_log.csv row (no newline).
function M.log_row(step, epoch, r, tokens_per_s)
  return string.format("%d,%d,%.6f,%.6e,%.6f,%.1f", step, epoch, r.loss, r.lr, r.grad_norm,
    tokens_per_s)
end

--- The header and the rows of a log text whose step is <= last_step (for --resume).
function M.log_truncate(text, last_step)
  local lines = { M.LOG_HEADER }
  for line in (text or ""):gmatch("[^\n]+") do
    local s = tonumber(line:match("^(%d+),"))
    if s and s <= last_step then lines[#lines + 1] = line end
  end
  return lines
end

return M
