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
for big in 18446744073709551616 1e23 99999999999999999999999999999; do
  "$loom" run "$src/tests/cli/data/preview.json" --set Seed.value=$big >/dev/null 2>"$tmp/err"
  check "--set seed $big is rejected, not clamped" grep -qF \
    "Value $big bigger than max of 18446744073709551615 [value_bigger_than_max]" "$tmp/err"
done
sed 's/"value": 82628696717253/"value": 18446744073709551616/' "$src/tests/cli/data/preview.json" \
  >"$tmp/bigseed.json"
"$loom" validate "$tmp/bigseed.json" >/dev/null 2>"$tmp/err"
check "a seed of 2^64 in a workflow file is rejected" \
  grep -qF "Value 18446744073709551616 bigger than max of 18446744073709551615" "$tmp/err"
"$loom" run "$src/tests/cli/data/preview.json" --set nope.value=1 >/dev/null 2>"$tmp/err"
check "--set unknown node exits 2" [ $? -eq 2 ]
check "--set unknown node is named" grep -q "'nope'" "$tmp/err"
"$loom" run "$src/tests/cli/data/preview.json" --set Seed.valeu=1 >/dev/null 2>"$tmp/err"
check "--set of an input the node lacks exits 2" [ $? -eq 2 ]
check "--set of an input the node lacks names it and the node's inputs" \
  grep -qF "node 4 (PrimitiveInt) has no input 'valeu'; its inputs are: value" "$tmp/err"

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
"$loom" validate "$tmp/api.json" --models "$tmp/no-models:$tmp/more-models" >/dev/null 2>"$tmp/err"
check "with several model roots, every folder of every root is named in order" \
  grep -qF "(searched $tmp/no-models/diffusion_models, $tmp/no-models/unet, $tmp/more-models/diffusion_models, $tmp/more-models/unet)" "$tmp/err"

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
fixtures="$src/tests/fixtures/models"
"$loom" run "$src/workflows/default.json" --models "$fixtures" --out "$tmp/out" \
  >"$tmp/default.out" 2>"$tmp/default.err"
check "default workflow exits 0" [ $? -eq 0 ]
mp4=$(grep '\.mp4$' "$tmp/default.out" | head -1)
check "default workflow lists the MP4 it wrote" [ -s "$mp4" ]
check "the MP4 holds 17 frames of 96x64 at 8 fps" [ "$(ffprobe -v error -select_streams v:0 \
  -count_frames -show_entries stream=nb_read_frames,width,height,r_frame_rate -of csv=p=0 "$mp4")" \
  = "96,64,8/1,17" ]
"$loom" run "$src/workflows/default.json" --models "$fixtures" --out "$tmp/out" \
  >"$tmp/default2.out" 2>/dev/null
check "a second run writes a new file, never overwriting" [ "$(grep '\.mp4$' "$tmp/default2.out")" != "$mp4" ]
# Model roots are searched in order: a file in the first root wins over one of the same name
# in a later root (here the fp8 umT5 stands in for the fp32 one).
mkdir -p "$tmp/user-models/text_encoders"
cp "$fixtures/text_encoders/umt5_tiny_fp8_e4m3fn_scaled.safetensors" \
  "$tmp/user-models/text_encoders/umt5_tiny_fp32.safetensors"
"$loom" run "$src/workflows/default.json" --models "$tmp/user-models:$fixtures" --out "$tmp/out" \
  >/dev/null 2>"$tmp/user.err"
check "the first model root's file of a name wins" \
  grep -qF "tokenizer $tmp/user-models/text_encoders/umt5_tiny_fp32.safetensors" "$tmp/user.err"

# Broken weights: a NaN in the DiT or the VAE stops the run at the node that made it,
# naming it, and writes no video (it used to write a black one and exit 0).
poison() {   # poison SRC DST TENSOR: copy a safetensors file with TENSOR's first value NaN
  python3 - "$@" <<'PY'
import json, struct, sys
src, dst, name = sys.argv[1:]
data = bytearray(open(src, "rb").read())
n = struct.unpack("<Q", data[:8])[0]
info = json.loads(data[8:8 + n])[name]
at = 8 + n + info["data_offsets"][0]
nan = {"F32": b"\x00\x00\xc0\x7f", "BF16": b"\xc0\x7f", "F16": b"\x00\x7e"}[info["dtype"]]
data[at:at + len(nan)] = nan
open(dst, "wb").write(data)
PY
}
mkdir -p "$tmp/nan-dit/diffusion_models" "$tmp/nan-vae/vae" "$tmp/nan-out"
poison "$fixtures/diffusion_models/wan2.1_t2v_tiny_fp32.safetensors" \
  "$tmp/nan-dit/diffusion_models/wan2.1_t2v_tiny_fp32.safetensors" blocks.0.ffn.0.weight
"$loom" run "$src/workflows/default.json" --models "$tmp/nan-dit:$fixtures" --out "$tmp/nan-out" \
  >/dev/null 2>"$tmp/err"
check "a NaN weight in the DiT fails the run" [ $? -ne 0 ]
check "... at the sampler, saying so" \
  grep -qF "node 3 (KSampler): the model's prediction at step 1 of 4 holds NaN or Inf" "$tmp/err"
poison "$fixtures/vae/wan_2.1_vae_tiny.safetensors" "$tmp/nan-vae/vae/wan_2.1_vae_tiny.safetensors" \
  decoder.head.2.weight
"$loom" run "$src/workflows/default.json" --models "$tmp/nan-vae:$fixtures" --out "$tmp/nan-out" \
  >/dev/null 2>"$tmp/err"
check "a NaN weight in the VAE fails the run at the decode, saying so" \
  grep -qF "node 8 (VAEDecode): the decoded frames hold NaN or Inf (first in frame 0)" "$tmp/err"
check "... and no video was written" [ -z "$(find "$tmp/nan-out" -type f)" ]

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
  # A signal while the last node finishes without checking (a writer's flush): the run
  # completes, its output is whole, and the exit status still says it was interrupted.
  cat >"$tmp/plugins/busy.lua" <<'L'
local loom = require "loom"
loom.register_node{
  name = "TestBusyTail", inputs = {{name = "seconds", type = "FLOAT", default = 2}},
  output_node = true,
  run = function(i)
    local t = os.clock() + i.seconds
    while os.clock() < t do end
  end,
}
L
  cat >"$tmp/busy.json" <<'J'
{"1": {"class_type": "TestBusyTail", "inputs": {"seconds": 2}}}
J
  LOOM_PLUGIN_PATH="$tmp/plugins" "$loom" run "$tmp/busy.json" >"$tmp/busy.out" 2>"$tmp/busy.err" &
  pid=$!
  sleep 1
  kill -INT "$pid"
  wait "$pid"
  check "a signal during the last node exits 130" [ $? -eq 130 ]
  check "... and says the run's outputs are complete" \
    grep -q "interrupted as the run finished; the files below are complete" "$tmp/busy.err"
  for sig in INT TERM; do     # SIGTERM (what a service manager sends) is handled the same
    LOOM_PLUGIN_PATH="$tmp/plugins" "$loom" run "$tmp/slow.json" >"$tmp/slow.out" 2>"$tmp/slow.err" &
    pid=$!
    sleep 1
    kill -$sig "$pid"
    wait "$pid"
    check "SIG$sig inside a long node exits 130" [ $? -eq 130 ]
    check "SIG$sig says where it stopped" grep -q "interrupted at node 1" "$tmp/slow.err"
  done
fi

# SaveLatent's file gets the same permissions as every other output (it was 0600).
cat >"$tmp/latent.json" <<'J'
{"1": {"class_type": "EmptyHunyuanLatentVideo", "inputs": {"width": 16, "height": 16, "length": 1, "batch_size": 1}},
 "2": {"class_type": "SaveLatent", "inputs": {"samples": ["1", 0], "filename_prefix": "perm/l"}}}
J
(umask 022 && "$loom" run "$tmp/latent.json" --out "$tmp/out" >/dev/null 2>&1)
check "SaveLatent files are 0644 under umask 022, like other outputs" \
  [ "$(stat -c %a "$tmp/out/perm/l_00001_.latent")" = 644 ]

# A killed run's half-written file is removed by the next run in that folder; a live
# process's file in progress is left alone.
sleep 0 & dead=$!
wait "$dead"
mkdir -p "$tmp/partial/video"
touch "$tmp/partial/video/.loom-partial-$dead-abc123" "$tmp/partial/video/.loom-partial-$$-def456"
"$loom" run "$src/workflows/default.json" --models "$fixtures" --out "$tmp/partial" >/dev/null 2>&1
check "a dead run's partial file is removed by the next run" \
  [ ! -e "$tmp/partial/video/.loom-partial-$dead-abc123" ]
check "a live run's partial file is kept" [ -e "$tmp/partial/video/.loom-partial-$$-def456" ]

echo "test_cli: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
