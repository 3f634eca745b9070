-- test_plugin_nodes.lua: Lua node files in $LOOM_PLUGIN_PATH load when a session starts
-- (through the loom_lua_nodes plugin), show up in `loom nodes --json`, run from JSON
-- workflows, and name their file and line when they fail. A broken file is skipped.
local check = dofile(os.getenv("LOOM_LUA_TEST_DIR") .. "/check.lua")

local dir = check.tmpdir()        -- the plugin directory: only node files go here
local work = check.tmpdir()       -- everything else
check.write(dir .. "/add_nodes.lua", [[
local loom = require "loom"
loom.register_node{
  name = "PluginLuaAdd", category = "lua/test",
  inputs = {{name = "a", type = "INT", default = 1}, {name = "b", type = "INT", default = 2}},
  outputs = {{type = "INT", name = "sum"}},
  run = function(i) return i.a + i.b end,
}
loom.register_node{
  name = "PluginLuaFail", inputs = {{name = "x", type = "INT"}}, outputs = {"INT"},
  run = function(i)
    error("plugin node failed with " .. i.x)
  end,
}
]])
check.write(dir .. "/broken.lua", "this is not Lua\n")
check.write(work .. "/wf.json", [[{
  "1": {"class_type": "PluginLuaAdd", "inputs": {"a": 20, "b": 22}},
  "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}]])
check.write(work .. "/fail.json", [[{
  "1": {"class_type": "PluginLuaFail", "inputs": {"x": 7}},
  "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}]])

local env = "LOOM_PLUGIN_PATH='" .. dir .. "' "
local function sh(cmd) return os.execute(env .. cmd) end

-- In a fresh process with the plugin path set: the nodes are there and run.
check.write(work .. "/child.lua", [[
local loom = require "loom"
local info = assert(loom.node_info("PluginLuaAdd"), "PluginLuaAdd not loaded")
assert(info.category == "lua/test")
assert(info.python_module == "loom_lua_nodes", info.python_module)
local wf = loom.load(arg[1] .. "/wf.json")
local r = wf:run()
assert(r.outputs["2"].text[1] == "42", r.outputs["2"].text[1])
wf = loom.load(arg[1] .. "/fail.json")
local ok, err = pcall(wf.run, wf)
assert(not ok and err:find("add_nodes.lua:11: plugin node failed with 7", 1, true), err)
print("child: ok")
]])
check.ok(sh(check.interpreter() .. " '" .. work .. "/child.lua' '" .. work .. "' 2>'" ..
            work .. "/child.err'"), "child run: " .. check.read(work .. "/child.err"))
check.ok(check.read(work .. "/child.err"):find("broken.lua", 1, true), "broken file reported")

-- Through the CLI, when it is built.
local loom_bin = os.getenv("LOOM_BIN")
if loom_bin and io.open(loom_bin) then
  check.ok(sh("'" .. loom_bin .. "' nodes --json > '" .. work .. "/nodes.json' 2>/dev/null"), "loom nodes")
  local nodes = check.read(work .. "/nodes.json")
  check.ok(nodes:find('"PluginLuaAdd"', 1, true), "PluginLuaAdd in loom nodes --json")
  check.ok(nodes:find('"PluginLuaFail"', 1, true), "PluginLuaFail in loom nodes --json")
  check.ok(sh("'" .. loom_bin .. "' run '" .. work .. "/wf.json' --out '" .. work ..
              "/out' > '" .. work .. "/run.out' 2>&1"), "loom run: " .. check.read(work .. "/run.out"))
  check.ok(not sh("'" .. loom_bin .. "' run '" .. work .. "/fail.json' --out '" .. work ..
                  "/out' > '" .. work .. "/fail.out' 2>&1"), "failing run exits non-zero")
  local out = check.read(work .. "/fail.out")
  check.ok(out:find("add_nodes.lua:11", 1, true), "CLI error names file and line: " .. out)
else
  print("test_plugin_nodes: loom CLI not built, CLI checks skipped")
end
print("test_plugin_nodes: ok")
