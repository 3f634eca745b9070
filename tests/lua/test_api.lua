-- test_api.lua: workflows from Lua — build, load, edit, validate, run, read results.
local check = dofile(os.getenv("LOOM_LUA_TEST_DIR") .. "/check.lua")
local loom = require "loom"

-- The module and the default session.
check.eq(type(loom.version), "string", "loom.version")
check.eq(loom.default_session(), loom.default_session(), "default session is reused")
check.contains(loom.nodes(), "PrimitiveInt", "built-in nodes")
check.contains(loom.nodes(), "PreviewAny", "built-in nodes")

-- Build a graph; handles know their id, class and title; links by index or name.
local wf = loom.graph()
local n = wf:add("PrimitiveInt", {value = 5})
local text = wf:add("PrimitiveString", {value = "hello"})
local cat = wf:add("StringConcatenate", {string_a = text:out(0), string_b = "world",
                                         delimiter = " "})
local show = wf:add("PreviewAny", {source = cat:out("STRING")})
local show_n = wf:add("PreviewAny", {source = n})          -- a handle links slot 0
check.eq(n.class, "PrimitiveInt", "class")
check.eq(n.inputs.value, 5, "input read back")
check.eq(math.type(n.inputs.value), "integer", "integers stay integers")
check.eq(#wf, 5, "#wf")
local link = show.inputs.source
check.eq(link.node, cat.id, "link node")
check.eq(link.slot, 0, "link slot")
check.eq(tostring(link), "link [" .. cat.id .. ", 0]", "link tostring")
check.eq(wf:node(n.id), n, "lookup by id gives an equal handle")

-- Iterate in id order.
local ids = {}
for node in wf:nodes() do ids[#ids + 1] = node.id end
check.eq(#ids, 5, "nodes() count")

-- Edit: set with node:set (chains) and through inputs.
n:set("value", 6)
check.eq(n.inputs.value, 6, "node:set")
n.inputs.value = 7
check.eq(n:get("value"), 7, "inputs.x = v")
wf:set(n.id .. ".value=8")
check.eq(n.inputs.value, 8, "wf:set (the CLI's --set)")

-- Validate: ok, then an error with ComfyUI's fields.
local ok, errs = wf:validate()
check.ok(ok, "valid graph")
check.eq(#errs, 0, "no errors")
show_n.inputs.source = nil                                  -- remove a required input
ok, errs = wf:validate()
check.eq(ok, false, "invalid after removing an input")
check.eq(errs[1].type, "required_input_missing", "error type")
check.eq(errs[1].node_id, show_n.id, "error node")
check.eq(errs[1].class_type, "PreviewAny", "error class")
check.eq(errs[1].input_name, "source", "error input")
check.ok(errs[1].message and errs[1].line, "message and readable line")
show_n.inputs.source = n:out(0)

-- Run: outputs per node, what ran, values.
local seen = {}
local r = wf:run{
  on_start = function(prompt_id) seen.start = prompt_id end,
  on_executing = function(id, class) seen[#seen + 1] = class end,
  on_executed = function(id, ui) if ui then seen.ui = (seen.ui or 0) + 1 end end,
}
check.ok(r.success, "success")
check.eq(r.prompt_id, seen.start, "prompt id")
check.eq(r.outputs[show.id].text[1], "hello world", "concatenated text")
check.eq(r.outputs[show_n.id].text[1], "8", "previewed int")
check.eq(#r.executed, 5, "all ran")
check.eq(seen.ui, 2, "two UI outputs")
check.eq(#r.files, 0, "no files")
check.eq(loom.value(n.id, 0), 8, "loom.value")
check.eq(wf:value(cat, 0), "hello world", "wf:value")
check.eq(loom.default_session():value("nope", 0), nil, "value of an unknown node")

-- Save and load back; titles find nodes.
local dir = check.tmpdir()
wf:save(dir .. "/wf.json")
local wf2 = loom.load(dir .. "/wf.json")
check.eq(wf2:node(cat.id).inputs.string_b, "world", "round trip")
local wf3 = loom.load_string([[{
  "1": {"class_type": "PrimitiveInt", "inputs": {"value": 3}, "_meta": {"title": "Seed"}},
  "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}]])
local seed = wf3:node("Seed")
check.eq(seed.id, "1", "lookup by title")
check.eq(seed.title, "Seed", "title")
check.eq(wf3:node("nothing"), nil, "missing node is nil")
wf3:remove(seed)
check.eq(#wf3, 1, "removed")
check.eq(wf3:node("1"), nil, "removed node is gone")

-- A clone is independent.
local c = wf:clone()
c:node(n.id).inputs.value = 99
check.eq(n.inputs.value, 8, "clone does not alias")

-- A separate session has its own registry and cache.
local s = loom.session{cache_budget = 1 << 20}
local w = s:graph()
w:add("PreviewAny", {source = w:add("PrimitiveBoolean", {value = true}):out(0)})
local rr = w:run()
check.eq(#rr.executed, 2, "own session runs")
check.ok(s:cache().entries >= 1, "own cache holds entries")
check.eq(s:node_info("PrimitiveInt").output[1], "INT", "node_info")
print("test_api: ok")
