-- check.lua: tiny assertion helpers shared by the Lua tests (loaded with dofile).
local check = {}

local function fail(msg, level)
  error(msg, level + 1)
end

function check.eq(got, want, what)
  if got ~= want then
    fail(("%s: expected %s, got %s"):format(what or "value", tostring(want), tostring(got)), 2)
  end
end

function check.ok(v, what)
  if not v then fail((what or "condition") .. " is false", 2) end
  return v
end

-- fn must raise an error whose text contains every fragment (plain find).
function check.fails(fn, ...)
  local ok, err = pcall(fn)
  if ok then fail("expected an error, the call succeeded", 2) end
  err = tostring(err)
  for _, want in ipairs({...}) do
    if not err:find(want, 1, true) then
      fail(("error %q does not contain %q"):format(err, want), 2)
    end
  end
  return err
end

function check.contains(list, item, what)
  for _, v in ipairs(list) do if v == item then return end end
  fail(("%s: %s not in {%s}"):format(what or "list", tostring(item), table.concat(list, ", ")), 2)
end

function check.not_contains(list, item, what)
  for _, v in ipairs(list) do
    if v == item then fail(("%s: %s should not be there"):format(what or "list", tostring(item)), 2) end
  end
end

function check.tmpdir()
  local d = os.tmpname()
  os.remove(d)
  assert(os.execute("mkdir -p '" .. d .. "'"))
  return d
end

function check.write(path, text)
  local f = assert(io.open(path, "w"))
  f:write(text)
  f:close()
end

function check.read(path)
  local f = assert(io.open(path))
  local s = f:read("a")
  f:close()
  return s
end

-- The command that runs a Lua script the way this test is being run, as a quoted shell
-- prefix: `loom lua` when under the embedded interpreter (it preloads the global `loom`),
-- else the stock interpreter from arg[<lowest>].
local embedded = rawget(_G, "loom") ~= nil
function check.interpreter()
  if embedded then
    return "'" .. assert(os.getenv("LOOM_BIN"), "LOOM_BIN not set") .. "' lua"
  end
  local i = -1
  while arg[i - 1] do i = i - 1 end
  return "'" .. arg[i] .. "'"
end

return check
