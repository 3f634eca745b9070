-- seed_sweep.lua: one workflow, several seeds. The session's cache keeps every node that
-- does not depend on the seed — the model loads and both text encodings — so only the
-- sampler, the VAE decode and the writer run again for each new seed.
--
--   loom lua lua/examples/seed_sweep.lua [first_seed] [count]
--   LUA_CPATH='build/lib/lua/5.4/?.so' lua5.4 lua/examples/seed_sweep.lua
local here = (arg and arg[0] or ""):match("^(.*)/[^/]*$") or "."
local tiny = dofile(here .. "/tiny_wan.lua")

local session = tiny.session()
local wf = tiny.workflow(session)
local first, count = tonumber(arg and arg[1]) or 1, tonumber(arg and arg[2]) or 3
for seed = first, first + count - 1 do
  wf:node("KSampler").inputs.seed = seed
  local r = wf:run()
  print(("seed %d: %d node(s) ran, %d cached, %.2fs"):format(seed, #r.executed, #r.cached,
                                                            r.seconds or 0))
  for _, f in ipairs(r.files) do print("  wrote " .. f.path) end
  if seed > first then
    -- Loaders and text encoders came from the cache; the sampler ran again.
    assert(#r.cached >= 5, "later seeds reuse the cache (" .. #r.cached .. " cached)")
    assert(#r.executed <= 5, "only the seed's downstream re-runs (" .. #r.executed .. " ran)")
  end
end
