-- prompt_grid.lua: every prompt x every cfg value, one run per cell. Prompts are the outer
-- loop so each prompt's encoding is computed once and reused from the cache for its
-- whole row (with the real model: the umT5 text encoder runs once per prompt).
--
--   loom lua lua/examples/prompt_grid.lua
local loom = require "loom"

local prompts = {"a red fox in the snow", "a lighthouse at dusk"}
local cfgs = {3.0, 5.0, 7.5}

-- Model-free stand-in: Prompt -> StringConcatenate("encoded: ..") ; CFG -> PreviewAny.
local function demo_workflow()
  local wf = loom.graph()
  local prompt = wf:add("PrimitiveStringMultiline", {value = ""})
  local encode = wf:add("StringConcatenate", {string_a = "encoded:", string_b = prompt:out(0),
                                              delimiter = " "})
  local cfg = wf:add("PrimitiveFloat", {value = 1.0})
  wf:add("PreviewAny", {source = encode:out(0)})
  wf:add("PreviewAny", {source = cfg:out(0)})
  return wf, {prompt.id, "value"}, {cfg.id, "value"}
end

-- The one line to change for the real model:
local wf, PROMPT, CFG = demo_workflow()
-- local wf, PROMPT, CFG = loom.load("../shared/workflows/comfyui/comfyui_examples_wan_text_to_video_wan.json"), {"CLIP Text Encode (Positive Prompt)", "text"}, {"KSampler", "cfg"}

local prompt_node, cfg_node = assert(wf:node(PROMPT[1])), assert(wf:node(CFG[1]))
local cells = 0
for row, prompt in ipairs(prompts) do
  prompt_node.inputs[PROMPT[2]] = prompt
  for col, cfg in ipairs(cfgs) do
    cfg_node.inputs[CFG[2]] = cfg
    local r = wf:run()
    cells = cells + 1
    local texts = {}
    for _, ui in pairs(r.outputs) do
      for _, t in ipairs(ui.text or {}) do texts[#texts + 1] = t end
    end
    table.sort(texts)
    print(("[%d,%d] cfg=%.1f ran=%d cached=%d | %s"):format(row, col, cfg, #r.executed,
          #r.cached, table.concat(texts, " | ")))
    for _, f in ipairs(r.files) do print("  wrote " .. f.path) end
  end
end
assert(cells == #prompts * #cfgs)
