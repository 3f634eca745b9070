#!/usr/bin/env bash
# test_cli.sh LOOM SRC SHARED: the `loom` command as a user meets it — exit statuses,
# readable and JSON validation output, conversion, --set, and a run of the default
# workflow. Each check prints what it checked; the last line is the tally.
set -u
loom=$1 src=$2 shared=$3
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
pass=0 fail=0
ok()  { pass=$((pass + 1)); echo "ok   $1"; }
bad() { fail=$((fail + 1)); echo "FAIL $1"; }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

# run: the default workflow prints its preview text and exits 0.
out=$("$loom" run "$src/tests/cli/data/preview.json" --out "$tmp/out" 2>"$tmp/err")
check "run default exits 0" [ $? -eq 0 ]
check "run default prints the prompt" grep -q "tracking camera" <<<"$out"
check "run prints one line per node" [ "$(grep -c 's$' "$tmp/err")" -ge 5 ]
out=$("$loom" run "$src/tests/cli/data/preview.json" --set Seed.value=18446744073709551615 --quiet 2>&1)
check "--set by title, seed 2^64-1 survives" grep -qx 18446744073709551615 <<<"$out"
"$loom" run "$src/tests/cli/data/preview.json" --set nope.value=1 >/dev/null 2>"$tmp/err"
check "--set unknown node exits 2" [ $? -eq 2 ]
check "--set unknown node is named" grep -q "'nope'" "$tmp/err"

# validate: readable lines name node, class and input; --json has ComfyUI's shape.
cat >"$tmp/bad.json" <<'J'
{"1": {"class_type": "PrimitiveInt", "inputs": {"value": "twelve"}},
 "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}},
 "3": {"class_type": "PreviewAny", "inputs": {}},
 "4": {"class_type": "Ghost", "inputs": {}}}
J
"$loom" validate "$tmp/bad.json" >/dev/null 2>"$tmp/err"
check "validate broken workflow exits 1" [ $? -eq 1 ]
check "line names node 1, class and input" grep -q "node 1 (PrimitiveInt) input 'value'" "$tmp/err"
check "line names the missing input" grep -q "node 3 (PreviewAny) input 'source': Required input is missing" "$tmp/err"
check "line names the unknown class" grep -q "Ghost does not exist" "$tmp/err"
"$loom" validate --json "$tmp/bad.json" >"$tmp/v.json" 2>/dev/null
check "validate --json exits 1" [ $? -eq 1 ]
check "--json is JSON with node_errors" python3 -c "
import json,sys; d=json.load(open('$tmp/v.json'))
assert d['error']['type'] in ('invalid_prompt', 'prompt_outputs_failed_validation')
e=d['node_errors']['1']['errors'][0]
assert e['type']=='invalid_input_type' and e['extra_info']['input_name']=='value', e
assert d['node_errors']['3']['errors'][0]['type']=='required_input_missing'
assert d['node_errors']['1']['dependent_outputs']==['2']"
"$loom" validate "$src/tests/cli/data/preview.json" >/dev/null 2>&1
check "validate good workflow exits 0" [ $? -eq 0 ]
printf '{"1": {' >"$tmp/trunc.json"
"$loom" validate "$tmp/trunc.json" >/dev/null 2>"$tmp/err"
check "truncated JSON exits 1 with the file named" grep -q "trunc.json: invalid JSON at line 1" "$tmp/err"
"$loom" validate "$tmp/none.json" >/dev/null 2>"$tmp/err"
check "missing file is named" grep -q "none.json" "$tmp/err"

# convert: a real UI workflow becomes API JSON that validates structurally.
"$loom" convert "$shared/workflows/comfyui/comfyui_examples_wan_text_to_video_wan.json" >"$tmp/api.json"
check "convert exits 0" [ $? -eq 0 ]
check "converted KSampler keeps its seed" python3 -c "
import json; d=json.load(open('$tmp/api.json'))
k=[n for n in d.values() if n['class_type']=='KSampler'][0]
assert k['inputs']['seed']==878361741413693 and k['inputs']['sampler_name']=='uni_pc', k"
"$loom" validate "$tmp/api.json" --models "$tmp/no-models" >/dev/null 2>"$tmp/err"
check "a missing model file names the folders searched" \
  grep -q "unet_name: 'wan2.1_t2v_1.3B_bf16.safetensors' not in \[\] (searched $tmp/no-models/diffusion_models, $tmp/no-models/unet)" "$tmp/err"

# nodes
"$loom" nodes --json KSampler >"$tmp/k.json"
check "nodes --json is /object_info" python3 -c "
import json; d=json.load(open('$tmp/k.json'))
assert list(d)==['KSampler'] and d['KSampler']['input_order']['required'][1]=='seed'"
"$loom" nodes NoSuch >/dev/null 2>&1
check "nodes unknown class exits 1" [ $? -eq 1 ]
"$loom" frobnicate >/dev/null 2>&1
check "unknown command exits 2" [ $? -eq 2 ]

# The default workflow: text to MP4 on the bundled tiny models (README's first command).
"$loom" run "$src/workflows/default.json" --models "$src/tests/fixtures/models" --out "$tmp/out" \
  >"$tmp/default.out" 2>"$tmp/default.err"
check "default workflow exits 0" [ $? -eq 0 ]
mp4=$(grep '\.mp4$' "$tmp/default.out" | head -1)
check "default workflow lists the MP4 it wrote" [ -s "$mp4" ]
check "the MP4 holds 17 frames of 96x64 at 8 fps" [ "$(ffprobe -v error -select_streams v:0 \
  -count_frames -show_entries stream=nb_read_frames,width,height,r_frame_rate -of csv=p=0 "$mp4")" \
  = "96,64,8/1,17" ]
"$loom" run "$src/workflows/default.json" --models "$src/tests/fixtures/models" --out "$tmp/out" \
  >"$tmp/default2.out" 2>/dev/null
check "a second run writes a new file, never overwriting" [ "$(grep '\.mp4$' "$tmp/default2.out")" != "$mp4" ]

# Ctrl-C inside a long node: a Lua node that reports progress forever. The run must stop
# at the next progress report, say so, exit 130 and cache nothing half-done.
if "$loom" lua /dev/null >/dev/null 2>&1; then     # built with Lua
  mkdir -p "$tmp/plugins"
  cat >"$tmp/plugins/slow.lua" <<'L'
local loom = require "loom"
loom.register_node{
  name = "TestSlowCount", inputs = {{name = "n", type = "INT", default = 1000000}},
  outputs = {{type = "INT"}},
  run = function(i)
    for k = 1, i.n do
      loom.progress(k, i.n)
      local t = os.clock() + 0.01
      while os.clock() < t do end
    end
    return i.n
  end,
}
L
  cat >"$tmp/slow.json" <<'J'
{"1": {"class_type": "TestSlowCount", "inputs": {"n": 1000000}},
 "2": {"class_type": "PreviewAny", "inputs": {"source": ["1", 0]}}}
J
  LOOM_PLUGIN_PATH="$tmp/plugins" "$loom" run "$tmp/slow.json" >"$tmp/slow.out" 2>"$tmp/slow.err" &
  pid=$!
  sleep 1
  kill -INT "$pid"
  wait "$pid"
  check "Ctrl-C inside a long node exits 130" [ $? -eq 130 ]
  check "Ctrl-C says where it stopped" grep -q "interrupted at node 1" "$tmp/slow.err"
fi

echo "test_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
