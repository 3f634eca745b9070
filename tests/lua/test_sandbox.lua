-- test_sandbox.lua: every escape from loom.sandbox is closed; each attempt fails inside
-- the sandbox and the host carries on.
local check = dofile(os.getenv("LOOM_LUA_TEST_DIR") .. "/check.lua")
local loom = require "loom"

local function refused(code, fragment, limits)
  local ok, msg = loom.sandbox(code, limits)
  check.eq(ok, false, "sandbox should refuse: " .. code)
  check.ok(tostring(msg):find(fragment, 1, true), ("%q: message %q lacks %q"):format(code, tostring(msg), fragment))
end

-- Plain code works and returns its first value.
local ok, v = loom.sandbox("return 6 * 7")
check.ok(ok, "plain code runs")
check.eq(v, 42, "result")
check.eq(select(2, loom.sandbox("return ('x'):rep(3) .. #{1, 2}")), "xxx2", "string and table libs")

-- No os, io, debug, package; no file loaders; no C modules through require.
refused("return os.execute('true')", "global 'os'")
refused("return io.open('/etc/passwd')", "global 'io'")
refused("return debug.getregistry()", "global 'debug'")
refused("return package.loadlib('libc.so.6', 'system')", "global 'package'")
refused("return dofile('/etc/passwd')", "global 'dofile'")
refused("return loadfile('/etc/passwd')", "global 'loadfile'")
refused("return require('io')", "not available in the sandbox")
refused("return require('os')", "not available in the sandbox")
refused("return require('loom.so')", "not available in the sandbox")
refused("return string.dump(print)", "field 'dump'")
-- load refuses binary chunks, even when asked for them.
refused("local f = assert(load('\\27Lua\\84\\0', 'x', 'b')) return f()", "binary")
refused("return assert(load('\\27LuaT'))", "binary")
-- Text chunks still load.
check.eq(select(2, loom.sandbox("return load('return 1 + 1')()")), 2, "text load")
-- loom inside the sandbox has no file access.
refused("return loom.load('/etc/passwd')", "field 'load'")
refused("return loom.session{}", "field 'session'")
refused("return loom.sandbox_file('/etc/passwd')", "field 'sandbox_file'")
refused("return collectgarbage('stop')", "not available in the sandbox")

-- Memory limit: big strings and growing tables both hit it.
refused("return ('x'):rep(1 << 26)", "not enough memory", {memory = 4 << 20})
refused("local t = {} for i = 1, 1e8 do t[i] = i end", "not enough memory", {memory = 4 << 20})
refused("local t = {} while true do t[#t + 1] = {} end", "not enough memory", {memory = 4 << 20})
-- Instruction limit: loops stop, also when the script catches the error.
refused("while true do end", "instruction limit", {instructions = 1e6})
refused("while true do pcall(function() while true do end end) end", "instruction limit",
        {instructions = 1e6})
refused("local co = coroutine.wrap(function() while true do end end) co()",
        "instruction limit", {instructions = 1e6})

-- The sandbox's loom still builds and runs graphs (with its own session).
ok, v = loom.sandbox([[
  local wf = loom.graph()
  local show = wf:add("PreviewAny", {source = wf:add("PrimitiveInt", {value = 5}):out(0)})
  return wf:run().outputs[show.id].text[1] ]])
check.ok(ok, "graph in the sandbox: " .. tostring(v))
check.eq(v, "5", "sandbox run")

-- A file, read by the host and run sandboxed.
local dir = check.tmpdir()
check.write(dir .. "/s.lua", "return io == nil and os == nil")
check.eq(select(2, loom.sandbox_file(dir .. "/s.lua")), true, "sandbox_file")

-- The host is unaffected.
check.ok(io and os and debug and package, "host libraries intact")
local wf = loom.graph()
wf:add("PreviewAny", {source = wf:add("PrimitiveInt", {value = 1}):out(0)})
check.ok(wf:run().success, "host still runs graphs")
print("test_sandbox: ok")
