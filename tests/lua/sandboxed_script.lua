-- sandboxed_script.lua: run by `loom lua --sandbox`; checks from the inside that the
-- host's capabilities are absent and that loom still works.
assert(os == nil and io == nil and debug == nil and package == nil, "no host libraries")
assert(dofile == nil and loadfile == nil and string.dump == nil, "no file loaders")
assert(not pcall(require, "io"), "require of a host library refused")
assert(load("\27Lua") == nil, "binary chunks refused")
assert(select("#", ...) == 0 and arg[0]:find("sandboxed_script.lua", 1, true), "arg table")
assert(loom.load == nil and loom.session == nil, "no file access through loom")
local ok, err = pcall(string.rep, "x", 1 << 30)
assert(not ok and tostring(err):find("not enough memory"), "memory limit applies")
local wf = loom.graph()
local show = wf:add("PreviewAny", {source = wf:add("PrimitiveInt", {value = 9}):out(0)})
assert(wf:run().outputs[show.id].text[1] == "9", "runs graphs")
print("sandboxed_script: ok")
