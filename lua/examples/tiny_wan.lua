-- tiny_wan.lua: what the examples share — a session on the tiny Wan2.1 models bundled
-- in tests/fixtures/models and the default text-to-video workflow, made small (5 frames)
-- so a run takes a moment. For the real 1.3B model, point `models` at your model root
-- and load workflows/wan2.1_t2v_1.3B.json instead (see README.md).
local loom = require "loom"

local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local root = here .. "/../.."
local M = {}

function M.session()
  return loom.session{models = root .. "/tests/fixtures/models",
                      output = os.getenv("LOOM_OUT") or "output"}
end

function M.workflow(session)
  local wf = session:load(root .. "/workflows/default.json")
  wf:set("EmptyHunyuanLatentVideo.length=5")
  return wf
end

return M
