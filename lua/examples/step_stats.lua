-- step_stats.lua: a per-step callback that prints statistics while a sampler runs.
-- on_step fires for every progress report of a run; info.stats carries what the node
-- published for that step. Here a Lua "sampler" (a random walk on a small vector)
-- publishes mean and standard deviation; a real sampler's steps arrive the same way.
--
--   loom lua lua/examples/step_stats.lua [steps]
local loom = require "loom"

loom.register_node{
  name = "LuaRandomWalk", category = "lua/sampling",
  inputs = {{name = "seed", type = "INT", default = 0, min = 0},
            {name = "steps", type = "INT", default = 8, min = 1, max = 1000},
            {name = "size", type = "INT", default = 256, min = 1, max = 1 << 20}},
  outputs = {{type = "FLOAT", name = "mean"}},
  run = function(i)
    math.randomseed(i.seed)
    local x = {}
    for k = 1, i.size do x[k] = 0.0 end
    local mean, std
    for step = 1, i.steps do
      local sum, sq = 0.0, 0.0
      for k = 1, i.size do
        x[k] = x[k] * 0.9 + (math.random() - 0.5)
        sum = sum + x[k]
        sq = sq + x[k] * x[k]
      end
      mean = sum / i.size
      std = math.sqrt(math.max(sq / i.size - mean * mean, 0))
      loom.progress(step, i.steps, {mean = mean, std = std, min = math.min(table.unpack(x))})
    end
    return mean
  end,
}

local wf = loom.graph()
local sampler = wf:add("LuaRandomWalk", {seed = 7, steps = tonumber(arg and arg[1]) or 8})
wf:add("PreviewAny", {source = sampler:out(0)})
-- The one line to change for the real model (a KSampler's progress drives on_step):
-- wf = loom.load("../shared/workflows/comfyui/comfyui_examples_wan_text_to_video_wan.json")

local n = 0
wf:run{
  on_step = function(info)
    n = n + 1
    local s = info.stats
    if s then
      print(("step %2d/%d  mean %+.4f  std %.4f  min %+.4f"):format(info.step, info.steps,
            s.mean, s.std, s.min))
    else   -- a node that reports progress without statistics
      print(("step %2d/%d  (%s)"):format(info.step, info.steps, info.class_type))
    end
  end,
}
assert(n > 0, "on_step was called")
