-- prompt_grid.lua: every prompt x every cfg value, one video per cell. Prompts are the
-- outer loop, so each prompt is encoded once and reused from the cache for its whole row.
--
--   loom lua lua/examples/prompt_grid.lua
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local tiny = dofile(here .. "/tiny_wan.lua")

local prompts = {"a red fox in the snow", "a lighthouse at dusk, (waves:1.2)"}
local cfgs = {1.0, 5.0}

local session = tiny.session()
local wf = tiny.workflow(session)
local positive = wf:node("CLIP Text Encode (Positive Prompt)")
local sampler = wf:node("KSampler")
for _, prompt in ipairs(prompts) do
  positive.inputs.text = prompt
  for _, cfg in ipairs(cfgs) do
    sampler.inputs.cfg = cfg
    local encoded = 0
    local r = wf:run{on_executing = function(_, class)
      if class == "CLIPTextEncode" then encoded = encoded + 1 end
    end}
    print(("%-36s cfg %.1f  -> %s  (%d encode%s)"):format(prompt, cfg,
          r.files[1] and r.files[1].path or "?", encoded, encoded == 1 and "" or "s"))
    assert(#r.files == 1, "one video per cell")
    if cfg ~= cfgs[1] then assert(encoded == 0, "the prompt's encoding came from the cache") end
  end
end
