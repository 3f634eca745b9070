-- test_errors.lua: every C failure surfaces as a Lua error with the engine's message, and
-- the host keeps working afterwards.
local check = dofile(os.getenv("LOOM_LUA_TEST_DIR") .. "/check.lua")
local loom = require "loom"

-- Loading.
check.fails(function() loom.load("/nonexistent/dir/wf.json") end, "/nonexistent/dir/wf.json")
check.fails(function() loom.load_string("{not json") end)
check.fails(function() loom.load_string('{"1": {"inputs": {}}}') end)

-- Editing.
local wf = loom.graph()
local n = wf:add("PrimitiveInt", {value = 1})
check.fails(function() n.inputs.valeu = 2 end, "has no input 'valeu'", "inputs: value")
check.fails(function() n:set("seed", 2) end, "has no input 'seed'")
check.fails(function() wf:set(n.id .. ".valeu=2") end, "has no input 'valeu'; its inputs are: value")
check.fails(function() return n.inputs.nope end, "has no input 'nope'")
check.fails(function() wf:add("NoSuchNode", {}) end, "unknown node type 'NoSuchNode'")
check.fails(function() wf:add("PrimitiveInt", {bogus = 1}) end, "has no input 'bogus'")
check.fails(function() n:out(3) end, "has no output 3")
check.fails(function() n:out("LATENT") end, "has no output named 'LATENT'")
check.fails(function() n.inputs.value = print end, "cannot be written as JSON")
check.fails(function() n.inputs.value = {1, {2, {3, print}}} end, "cannot be written as JSON")
check.fails(function() n.id = "9" end, "read-only")
check.fails(function() wf:remove("404") end)
wf:remove(n)
check.fails(function() return n.inputs.value end, "no node '" .. n.id .. "'")

-- Running: an invalid workflow, and a callback that fails.
wf = loom.graph()
local show = wf:add("PreviewAny", {})
check.fails(function() wf:run() end, "not valid", "Required input is missing")
show.inputs.source = wf:add("PrimitiveInt", {value = 3}):out(0)
local LINE = debug.getinfo(1, "l").currentline + 1
check.fails(function() wf:run{on_executing = function() error("callback broke") end} end,
            "callback failed", "test_errors.lua:" .. LINE .. ": callback broke")
check.eq(wf:run().outputs[show.id].text[1], "3", "runs after a failed callback")

-- A closed session refuses politely.
local s = loom.session{}
local g = s:graph()
s:close()
check.fails(function() g:add("PrimitiveInt", {}) end, "session is closed")
print("test_errors: ok")
