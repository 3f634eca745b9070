-- seed_sweep.lua: run one workflow with several seeds. The session's cache keeps every
-- node that does not depend on the seed, so only the seed's downstream re-runs (with the
-- real model: the text encoder and model loads happen once, only sampling repeats).
--
--   loom lua lua/examples/seed_sweep.lua [first_seed] [count]
--   LUA_CPATH='build/lib/lua/5.4/?.so' lua5.4 lua/examples/seed_sweep.lua
local loom = require "loom"

-- A model-free stand-in: Seed (PrimitiveInt) -> PreviewAny, plus a "prompt" branch that
-- does not depend on the seed and therefore comes from the cache after the first run.
local function demo_workflow()
  local wf = loom.graph()
  local seed = wf:add("PrimitiveInt", {value = 0})
  local prompt = wf:add("StringConcatenate", {string_a = "a fox", string_b = "in the snow",
                                              delimiter = " "})
  wf:add("PreviewAny", {source = seed:out(0)})
  wf:add("PreviewAny", {source = prompt:out(0)})
  wf:add("PreviewAny", {source = wf:add("StringConcatenate", {string_a = prompt:out(0),
    string_b = wf:add("PrimitiveString", {value = "seeded"}):out(0), delimiter = ", "}):out(0)})
  return wf, {seed.id, "value"}
end

-- The one line to change for the real model (the workflow, and the seed's node and input):
local wf, SEED = demo_workflow()
-- local wf, SEED = loom.load("../shared/workflows/comfyui/comfyui_examples_wan_text_to_video_wan.json"), {"KSampler", "seed"}

local first, count = tonumber(arg and arg[1]) or 1, tonumber(arg and arg[2]) or 4
local node = assert(wf:node(SEED[1]), "no seed node " .. SEED[1])
for seed = first, first + count - 1 do
  node.inputs[SEED[2]] = seed
  local r = wf:run{on_executing = function(id, class) io.write("  ran ", id, " ", class, "\n") end}
  print(("seed %d: %d node(s) ran, %d cached, %d file(s), %.3fs"):format(
        seed, #r.executed, #r.cached, #r.files, r.seconds or 0))
  for _, f in ipairs(r.files) do print("  wrote " .. f.path) end
  if seed > first then
    assert(#r.cached > 0, "later seeds reuse the cache")
  end
end
