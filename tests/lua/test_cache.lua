-- test_cache.lua: one engine session per Lua state, so a seed sweep re-runs only what is
-- downstream of the seed. Checked through the events and through run counters.
local check = dofile(os.getenv("LOOM_LUA_TEST_DIR") .. "/check.lua")
local loom = require "loom"

local loads, samples = 0, 0
loom.register_node{                     -- stands in for a model loader
  name = "TestLoadModel",
  inputs = {{name = "file", type = "STRING"}},
  outputs = {{type = "MODEL"}},
  run = function(i) loads = loads + 1; return {file = i.file} end,
}
loom.register_node{                     -- stands in for a sampler
  name = "TestSample",
  inputs = {{name = "model", type = "MODEL"}, {name = "seed", type = "INT", min = 0}},
  outputs = {{type = "STRING"}},
  run = function(i) samples = samples + 1; return i.model.file .. "#" .. i.seed end,
}

local wf = loom.graph()
local name = wf:add("PrimitiveString", {value = "wan.safetensors"})
local model = wf:add("TestLoadModel", {file = name:out(0)})
local sampler = wf:add("TestSample", {model = model:out("MODEL"), seed = 0})
local show = wf:add("PreviewAny", {source = sampler:out(0)})

for seed = 1, 3 do
  sampler.inputs.seed = seed
  local ran, cached = {}, {}
  local r = wf:run{
    on_executing = function(id) ran[#ran + 1] = id end,
    on_cached = function(ids) for _, id in ipairs(ids) do cached[#cached + 1] = id end end,
  }
  check.eq(r.outputs[show.id].text[1], "wan.safetensors#" .. seed, "output of seed " .. seed)
  check.contains(ran, sampler.id, "sampler ran")
  check.contains(ran, show.id, "preview ran")
  if seed == 1 then
    check.eq(#ran, 4, "first run runs everything")
  else
    check.eq(#ran, 2, "later runs run only the sampler and what follows")
    check.not_contains(ran, model.id, "loader")
    check.not_contains(ran, name.id, "name")
    check.contains(cached, model.id, "loader came from the cache")
    check.eq(#r.executed, 2, "result.executed agrees")
  end
end
check.eq(loads, 1, "the model loaded once")
check.eq(samples, 3, "sampled once per seed")

-- The same seed again: nothing runs; the output node re-reports its UI.
local r = wf:run()
check.eq(#r.executed, 0, "identical run is fully cached")
check.eq(r.outputs[show.id].text[1], "wan.safetensors#3", "cached output")
print("test_cache: ok")
