-- step_stats.lua: a per-step callback that prints latent statistics while KSampler runs,
-- then the shape and statistics of the final latent and of the decoded frames.
-- on_step fires on every progress report; for samplers info.stats holds the mean,
-- standard deviation, min and max of the step's denoised prediction.
--
--   loom lua lua/examples/step_stats.lua [steps]
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local tiny = dofile(here .. "/tiny_wan.lua")

local session = tiny.session()
local wf = tiny.workflow(session)
wf:node("KSampler").inputs.steps = tonumber(arg and arg[1]) or 6

local seen = 0
wf:run{
  on_step = function(info)
    if info.class_type ~= "KSampler" then return end
    seen = seen + 1
    local s = assert(info.stats, "KSampler publishes statistics every step")
    print(("step %2d/%d  mean %+.4f  std %.4f  min %+.4f  max %+.4f"):format(
          info.step, info.steps, s.mean, s.std, s.min, s.max))
  end,
}
assert(seen == wf:node("KSampler").inputs.steps, "one callback per sampler step")

local latent = session:value(wf:node("KSampler").id, 0)
local frames = session:value(wf:node("VAE Decode").id, 0)
print("latent " .. table.concat(latent.shape, "x") .. ("  mean %+.4f std %.4f"):format(
      latent.stats.mean, latent.stats.std))
print("frames " .. table.concat(frames.shape, "x") .. ("  min %.3f max %.3f"):format(
      frames.stats.min, frames.stats.max))
assert(latent.shape[2] == 16 and latent.shape[3] == 2, "[1, 16, 2, 8, 12] latent")
assert(frames.stats.min >= 0 and frames.stats.max <= 1, "IMAGE values in 0..1")
