"""Check that the demo model files give the same video in diffusers' WanPipeline as in loom.

    /work/venv/bin/python tools/demo_model/check_diffusers.py [--models demo/models] [--loom build/bin/loom]

The three ComfyUI-layout files are renamed into diffusers' classes (WanTransformer3DModel, AutoencoderKLWan,
UMT5EncoderModel). Both sides use the same prompt ids (sentencepiece pieces + </s>, as ComfyUI tokenises; passed
to WanPipeline as prompt_embeds), the same starting noise (torch.randn of the latent shape from
manual_seed(seed), as ComfyUI's RandomNoise) and diffusers' FlowMatchEuler schedule (loom:
ReferenceFlowScheduler + euler). loom writes the frames as PNG; the script prints the differences and fails
when they exceed the tolerance below (loom computes the bf16 DiT's products in bf16, diffusers in fp32).
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import sentencepiece as spm
import torch
from PIL import Image
from diffusers import AutoencoderKLWan, FlowMatchEulerDiscreteScheduler, WanPipeline, WanTransformer3DModel
from safetensors import safe_open
from safetensors.torch import load_file
from transformers import UMT5Config, UMT5EncoderModel

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import dit as fixture_dit                             # noqa: E402
import vae as fixture_vae                             # noqa: E402
import train                                          # noqa: E402

PROMPTS = ["a red circle moving right on a black background", "a green square moving left on a gray background"]
SEED, STEPS, CFG, SIZE, FRAMES = 42, 20, 5.0, 128, 17
# 8-bit frames; bf16 products in loom against fp32 in diffusers over 20 guided steps
MEAN_TOL, MAX_TOL = 2.0, 48


def load_diffusers(models):
    sd = load_file(os.path.join(models, "diffusion_models", "wan2.1_t2v_demo_bf16.safetensors"))
    dit = WanTransformer3DModel(**train.DIT_CONFIG).eval()
    fixture_dit.load_original_into(dit, sd)
    vae = AutoencoderKLWan(**train.VAE_CONFIG).eval()
    inv = {fixture_vae.to_original_name(k): k for k in vae.state_dict()}
    vsd = load_file(os.path.join(models, "vae", "wan_2.1_vae_demo.safetensors"))
    vae.load_state_dict({inv[k]: v.float() for k, v in vsd.items()})
    path = os.path.join(models, "text_encoders", "umt5_demo_bf16.safetensors")
    tsd = load_file(path)
    sp = spm.SentencePieceProcessor(model_proto=tsd.pop("spiece_model").numpy().tobytes())
    with safe_open(path, "pt") as f:
        cfg = json.loads(f.metadata()["config"])
    te = UMT5EncoderModel(UMT5Config(**cfg)).eval()
    tsd = {k: v.float() for k, v in tsd.items()}
    tsd["encoder.embed_tokens.weight"] = tsd["shared.weight"]
    te.load_state_dict(tsd)
    return dit, vae, te, sp


def context(te, sp, text):
    with torch.no_grad():
        return train.encode_text(te, [train.token_ids(sp, text)])


def loom_workflow(prompt, out_prefix):
    n = {
        "1": ("UNETLoader", {"unet_name": "wan2.1_t2v_demo_bf16.safetensors", "weight_dtype": "default"}),
        "2": ("CLIPLoader", {"clip_name": "umt5_demo_bf16.safetensors", "type": "wan"}),
        "3": ("CLIPTextEncode", {"clip": ["2", 0], "text": prompt}),
        "4": ("CLIPTextEncode", {"clip": ["2", 0], "text": ""}),
        "5": ("EmptyHunyuanLatentVideo", {"width": SIZE, "height": SIZE, "length": FRAMES, "batch_size": 1}),
        "6": ("RandomNoise", {"noise_seed": SEED}),
        "7": ("CFGGuider", {"model": ["1", 0], "positive": ["3", 0], "negative": ["4", 0], "cfg": CFG}),
        "8": ("KSamplerSelect", {"sampler_name": "euler"}),
        "9": ("ReferenceFlowScheduler", {"schedule": "diffusers_flow_match_euler", "steps": STEPS,
                                         "shift": train.SHIFT}),
        "10": ("SamplerCustomAdvanced", {"noise": ["6", 0], "guider": ["7", 0], "sampler": ["8", 0],
                                         "sigmas": ["9", 0], "latent_image": ["5", 0]}),
        "11": ("VAELoader", {"vae_name": "wan_2.1_vae_demo.safetensors"}),
        "12": ("VAEDecode", {"samples": ["10", 0], "vae": ["11", 0]}),
        "13": ("SaveImage", {"images": ["12", 0], "filename_prefix": out_prefix}),
    }
    return {k: {"class_type": c, "inputs": i} for k, (c, i) in n.items()}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=os.path.join(ROOT, "demo", "models"))
    ap.add_argument("--loom", default=os.path.join(ROOT, "build", "bin", "loom"))
    a = ap.parse_args()
    torch.set_num_threads(2)
    dit, vae, te, sp = load_diffusers(a.models)
    pipe = WanPipeline(tokenizer=None, text_encoder=None, transformer=dit, vae=vae,
                       scheduler=FlowMatchEulerDiscreteScheduler(shift=train.SHIFT))
    pipe.set_progress_bar_config(disable=True)
    ok = True
    with tempfile.TemporaryDirectory() as tmp:
        for i, prompt in enumerate(PROMPTS):
            g = torch.Generator().manual_seed(SEED)
            latents = torch.randn(1, 16, (FRAMES - 1) // 4 + 1, SIZE // 8, SIZE // 8, generator=g)
            with torch.no_grad():
                video = pipe(prompt_embeds=context(te, sp, prompt), negative_prompt_embeds=context(te, sp, ""),
                             height=SIZE, width=SIZE, num_frames=FRAMES, num_inference_steps=STEPS,
                             guidance_scale=CFG, latents=latents, output_type="np").frames[0]
            want = np.round(np.clip(video, 0, 1) * 255).astype(np.int16)       # [F, H, W, 3]
            wf = os.path.join(tmp, f"wf{i}.json")
            with open(wf, "w") as f:
                json.dump(loom_workflow(prompt, f"check{i}"), f)
            subprocess.run([a.loom, "run", wf, "--models", a.models, "--out", tmp, "--quiet"], check=True,
                           stdout=subprocess.DEVNULL)
            got = np.stack([np.asarray(Image.open(os.path.join(tmp, f"check{i}_{k + 1:05d}_.png")).convert("RGB"))
                            for k in range(FRAMES)]).astype(np.int16)
            diff = np.abs(got - want)
            print(f"'{prompt}': mean |diff| {diff.mean():.3f}, max {diff.max()} (8-bit levels; "
                  f"tolerance mean {MEAN_TOL}, max {MAX_TOL})")
            ok &= diff.mean() <= MEAN_TOL and diff.max() <= MAX_TOL
    print("same video" if ok else "DIFFERENT")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
