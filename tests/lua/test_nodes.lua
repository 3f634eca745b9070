-- test_nodes.lua: node types written in Lua — declaration, UI, progress, custom types,
-- interrupt, and failures that name the Lua file and line.
local check = dofile(os.getenv("LOOM_LUA_TEST_DIR") .. "/check.lua")
local loom = require "loom"

check.eq(loom.register_node{
  name = "LuaAdd", category = "lua/math", display_name = "Add (Lua)",
  inputs = {{name = "a", type = "INT", default = 1, min = 0, max = 10},
            {name = "b", type = "INT", default = 2},
            {name = "mode", choices = {"sum", "diff"}},
            {name = "bias", type = "FLOAT", optional = true}},
  outputs = {{type = "INT", name = "sum"}, "FLOAT"},
  run = function(i, node)
    assert(node.class == "LuaAdd" and node.id)
    local v = i.mode == "diff" and i.a - i.b or i.a + i.b
    return v, v + (i.bias or 0.5)
  end,
}, "LuaAdd", "register_node returns the class name")

-- The declaration reaches /object_info like a C node's.
local info = loom.node_info("LuaAdd")
check.eq(info.category, "lua/math", "category")
check.eq(info.display_name, "Add (Lua)", "display name")
check.eq(info.input.required.a[2].max, 10, "max")
check.eq(info.input.required.mode[1][2], "diff", "choices")
check.ok(info.input.optional.bias, "optional input")
check.eq(info.output_name[1], "sum", "output name")

-- Runs like any node; a value over max fails validation before anything runs.
local wf = loom.graph()
local add = wf:add("LuaAdd", {a = 3, b = 4, mode = "sum"})
local show = wf:add("PreviewAny", {source = add:out("sum")})
local showf = wf:add("PreviewAny", {source = add:out(1)})
local r = wf:run()
check.eq(r.outputs[show.id].text[1], "7", "sum")
check.eq(r.outputs[showf.id].text[1], "7.5", "float output")
add.inputs.a = 11
local ok, errs = wf:validate()
check.eq(errs[1].type, "value_bigger_than_max", "max is enforced")
add.inputs.a = 3

-- An output node with UI, progress and per-step statistics.
loom.register_node{
  name = "LuaReport", output_node = true,
  inputs = {{name = "value", type = "*"}, {name = "steps", type = "INT", default = 3}},
  run = function(i)
    for s = 1, i.steps do loom.progress(s, i.steps, {mean = s / 2}) end
    loom.ui("text", "got " .. tostring(i.value))
    loom.ui("numbers", {1, 2, 3})
  end,
}
wf = loom.graph()
local rep = wf:add("LuaReport", {value = wf:add("LuaAdd", {a = 1, b = 1, mode = "sum"}):out(0),
                                  steps = 4})
local progress, steps = {}, {}
r = wf:run{
  on_progress = function(id, v, max) progress[#progress + 1] = v .. "/" .. max end,
  on_step = function(s) steps[#steps + 1] = s.stats.mean; check.eq(s.node, rep.id, "step node") end,
}
check.eq(table.concat(progress, " "), "1/4 2/4 3/4 4/4", "progress events")
check.eq(table.concat(steps, " "), "0.5 1.0 1.5 2.0", "step stats")
check.eq(r.outputs[rep.id].text[1], "got 2", "UI text")
check.eq(r.outputs[rep.id].numbers[1][3], 3, "UI table")
check.fails(function() loom.progress(1, 2) end, "inside a node's run function")

-- Files an output node reports (ComfyUI's {filename, subfolder, type}) land in r.files.
loom.register_node{name = "LuaSaveText", output_node = true,
  inputs = {{name = "text", type = "STRING"}, {name = "prefix", type = "STRING", default = "note"}},
  run = function(i)
    loom.ui("texts", {filename = i.prefix .. "_00001_.txt", subfolder = "notes", type = "output"})
  end}
wf = loom.graph()
local save = wf:add("LuaSaveText", {text = "hi"})
r = wf:run()
local _, out_dir = loom.default_session():dirs()
check.eq(#r.files, 1, "one file")
check.eq(r.files[1].path, out_dir .. "/notes/note_00001_.txt", "file path")
check.eq(r.files[1].node, save.id, "file node")
check.eq(save.inputs.prefix, "note", "wf:add filled the default")

-- Custom socket types carry any Lua value between Lua nodes.
loom.register_node{name = "LuaMakeList", inputs = {{name = "n", type = "INT"}},
  outputs = {"LIST"}, run = function(i) local t = {} for k = 1, i.n do t[k] = k * k end return t end}
loom.register_node{name = "LuaSumList", inputs = {{name = "list", type = "LIST"}},
  outputs = {"INT"}, run = function(i) local s = 0 for _, v in ipairs(i.list) do s = s + v end return s end}
wf = loom.graph()
local mk = wf:add("LuaMakeList", {n = 3})
show = wf:add("PreviewAny", {source = wf:add("LuaSumList", {list = mk:out(0)}):out(0)})
r = wf:run()
check.eq(r.outputs[show.id].text[1], "14", "1 + 4 + 9")
check.eq(loom.value(mk.id, 0)[3], 9, "a Lua object reads back as the same Lua value")

-- Interrupt from a callback: the run raises, the session goes on.
loom.register_node{name = "LuaSlow", never_cache = true, inputs = {{name = "n", type = "INT"}},
  outputs = {"INT"}, run = function(i) for s = 1, i.n do loom.progress(s, i.n) end return i.n end}
wf = loom.graph()
wf:add("PreviewAny", {source = wf:add("LuaSlow", {n = 100}):out(0)})
local last = 0
check.fails(function()
  wf:run{on_progress = function(_, v) last = v if v == 5 then loom.interrupt() end end}
end, "interrupt")
check.eq(last, 5, "stopped at the interrupt")
check.eq(#wf:run().executed, 2, "runs again after an interrupt")

-- Failures name the file and line.
local LINE = debug.getinfo(1, "l").currentline + 3
loom.register_node{name = "LuaBoom", inputs = {{name = "x", type = "INT"}}, outputs = {"INT"},
  run = function(i)
    error("boom " .. i.x)
  end}
local DEF = debug.getinfo(1, "l").currentline + 2
loom.register_node{name = "LuaBoomNoPos", inputs = {{name = "x", type = "INT"}}, outputs = {"INT"},
  run = function() error({code = 1}) end}
loom.register_node{name = "LuaWrongType", inputs = {{name = "x", type = "INT"}},
  outputs = {"INT"}, run = function() return "not a number" end}
for class, want in pairs{
    LuaBoom = {"test_nodes.lua:" .. LINE .. ": boom 1"},
    LuaBoomNoPos = {"error object is a table", "test_nodes.lua:" .. DEF},
    LuaWrongType = {"output 0 (INT)", "expected an integer"}} do
  wf = loom.graph()
  local node = wf:add(class, {x = 1})
  wf:add("PreviewAny", {source = node:out(0)})
  local err = check.fails(function() wf:run() end, table.unpack(want))
  check.ok(err:find("node " .. node.id .. " (" .. class .. ")", 1, true), "names the node: " .. err)
end

-- Declarations are checked.
check.fails(function() loom.register_node{name = "LuaAdd", run = print} end, "already registered")
check.fails(function() loom.register_node{name = "NoRun"} end, "'run' must be a function")
check.fails(function() loom.register_node{run = print} end, "'name' is required")
check.fails(function() loom.register_node{name = "BadIn", inputs = {{name = "x"}}, run = print} end,
            "needs a name and a type")

-- A node registered into one session only.
local s = loom.session{}
s:register_node{name = "OnlyHere", outputs = {"INT"}, run = function() return 42 end}
check.ok(s:node_info("OnlyHere"), "in its session")
check.eq(loom.node_info("OnlyHere"), nil, "not in the default session")
local g = s:graph()
show = g:add("PreviewAny", {source = g:add("OnlyHere", {}):out(0)})
check.eq(g:run().outputs[show.id].text[1], "42", "runs in its session")
print("test_nodes: ok")
