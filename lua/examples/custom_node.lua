-- custom_node.lua: a node type written in Lua, used from a graph like any C node.
-- Put the register_node call in a file in a $LOOM_PLUGIN_PATH directory and it loads at
-- every session start, appears in `loom nodes --json`, and JSON workflows can use it.
--
--   loom lua lua/examples/custom_node.lua
local loom = require "loom"

loom.register_node{
  name = "LuaTextRepeat",
  display_name = "Repeat Text (Lua)",
  category = "lua/text",
  description = "Repeats a text n times with a separator, and counts the words.",
  inputs = {
    {name = "text", type = "STRING", multiline = true, default = "hello"},
    {name = "times", type = "INT", default = 2, min = 1, max = 100},
    {name = "separator", choices = {" ", ", ", "\n"}},
  },
  outputs = {{type = "STRING", name = "text"}, {type = "INT", name = "words"}},
  run = function(inputs)
    local parts = {}
    for i = 1, inputs.times do parts[i] = inputs.text end
    local out = table.concat(parts, inputs.separator)
    local words = select(2, out:gsub("%S+", ""))
    return out, words
  end,
}

-- Its /object_info entry, as ComfyUI's frontend would see it.
local info = loom.node_info("LuaTextRepeat")
print("LuaTextRepeat inputs: text, times (max " .. info.input.required.times[2].max .. "), separator")

-- The one line to change to feed it from the real workflow instead of a literal:
local wf = loom.graph()
-- local wf = loom.load("../shared/workflows/comfyui/comfyui_examples_wan_text_to_video_wan.json")  -- then: wf:node("CLIP Text Encode (Positive Prompt)").inputs.text = rep:out("text")

local rep = wf:add("LuaTextRepeat", {text = "a fox", times = 3, separator = ", "})
local show_text = wf:add("PreviewAny", {source = rep:out("text")})
local show_words = wf:add("PreviewAny", {source = rep:out("words")})
local r = wf:run()
print("text:  " .. r.outputs[show_text.id].text[1])
print("words: " .. r.outputs[show_words.id].text[1])
assert(r.outputs[show_words.id].text[1] == "6")
