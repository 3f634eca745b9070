"""Train loom's demo model: a tiny Wan2.1 (umT5 + DiT + VAE 2.1) on the procedural clips of clips.py.

    /work/venv/bin/python tools/demo_model/train.py --out demo/models --work /tmp/loom-demo

Stages, each saved under --work and skipped when its file is already there (so a stage can be redone by
deleting its file): tokenizer -> VAE -> latent statistics folded into the VAE -> latents of the DiT
training clips -> DiT + umT5 (trained together, flow matching) -> the three ComfyUI-layout files in --out.
Everything is seeded; torch runs with deterministic algorithms. See README.md beside this file.
"""
import argparse
import io
import json
import math
import os
import sys
import time

import numpy as np
import sentencepiece as spm
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKLWan, WanTransformer3DModel
from safetensors.torch import load_file, save_file
from transformers import UMT5Config, UMT5EncoderModel

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
import clips                                         # noqa: E402
import dit as fixture_dit                            # noqa: E402  (original Wan naming)
import vae as fixture_vae                            # noqa: E402

SEED = 20261205
TEXT_LEN = 512                                        # Wan pads the context to 512 rows with zeros
SHIFT = 3.0                                           # flow shift used for training and in the workflow

VAE_CONFIG = dict(base_dim=8, z_dim=16, dim_mult=[1, 2, 2, 2], num_res_blocks=2, attn_scales=[],
                  temperal_downsample=[False, True, True], dropout=0.0)
UMT5_CONFIG = dict(d_model=64, d_kv=16, num_heads=4, d_ff=128, num_layers=2,
                   relative_attention_num_buckets=32, relative_attention_max_distance=128,
                   feed_forward_proj="gated-gelu", layer_norm_epsilon=1e-6, dropout_rate=0.0,
                   is_encoder_decoder=False, use_cache=False, tie_word_embeddings=False,
                   pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
DIT_CONFIG = dict(patch_size=(1, 2, 2), num_attention_heads=4, attention_head_dim=32, in_channels=16,
                  out_channels=16, text_dim=64, freq_dim=256, ffn_dim=384, num_layers=4, cross_attn_norm=True,
                  qk_norm="rms_norm_across_heads", eps=1e-6, rope_max_seq_len=1024)
DIT_ORIGINAL_CONFIG = {
    "model_type": "t2v", "dim": 128, "ffn_dim": 384, "freq_dim": 256, "num_heads": 4, "num_layers": 4,
    "in_dim": 16, "out_dim": 16, "text_len": 512, "text_dim": 64, "patch_size": [1, 2, 2],
    "window_size": [-1, -1], "qk_norm": True, "cross_attn_norm": True, "eps": 1e-06,
}


def log(*a):
    print(time.strftime("%H:%M:%S"), *a, flush=True)


def seeded(seed):
    g = torch.Generator()
    g.manual_seed(seed)
    return g


# ---- tokenizer ------------------------------------------------------------------------------------------

def tokenizer_corpus():
    """Every caption wording the generator can produce (for whole-word pieces), plus plain English."""
    rng = np.random.default_rng(1)
    lines = {clips.caption(clips.random_spec(rng)) for _ in range(20000)}
    sys.path.insert(0, os.path.join(HERE, "..", "fixtures"))
    from corpus import training_text
    return sorted(lines) + [l for l in training_text().split("\n") if l.strip()]


def train_tokenizer(path):
    """SentencePiece Unigram with google/umt5-xxl's id layout (pad 0, </s> 1, <s> 2, <unk> 3, byte pieces)."""
    spm.set_random_generator_seed(SEED)
    buf = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(tokenizer_corpus()), model_writer=buf, model_type="unigram", vocab_size=1200,
        hard_vocab_limit=False, normalization_rule_name="nmt_nfkc", byte_fallback=True, character_coverage=1.0,
        pad_id=0, eos_id=1, bos_id=2, unk_id=3, num_threads=1, minloglevel=2)
    with open(path, "wb") as f:
        f.write(buf.getvalue())


def token_ids(sp, text):
    return sp.encode(text) + [1]                      # ComfyUI's SPieceTokenizer: pieces + </s>, no cleaning


# ---- VAE ------------------------------------------------------------------------------------------------

def vae_batch(rng, batch, frames, crop, on_path=False):
    """Random crops of random clips; with on_path, centred near the middle of the shape's path, so that
    nearly every crop shows the shape moving through it (anywhere, most crops are plain background)."""
    out = []
    for _ in range(batch):
        spec = clips.random_spec(rng)
        x = clips.render(spec)[:, :frames]
        if on_path:
            dx, dy = clips.DIRECTIONS[spec.direction]
            mid = (spec.start[0] + dx * spec.travel / 2, spec.start[1] + dy * spec.travel / 2)
            jitter = rng.uniform(-8, 8, size=2)
            x0, y0 = (int(np.clip(round(c + j - crop / 2), 0, clips.SIZE - crop)) for c, j in zip(mid, jitter))
        else:
            y0, x0 = rng.integers(0, clips.SIZE - crop + 1, size=2)
        out.append(x[:, :, y0:y0 + crop, x0:x0 + crop])
    return torch.from_numpy(np.stack(out))


def vae_encode_mu(vae, x):
    return vae.encode(x).latent_dist.mean


def vae_decode_unclamped(vae, z):
    """AutoencoderKLWan._decode without the final clamp to [-1, 1], which would stop the gradient of every
    overshooting pixel (frame by frame through the causal cache, as diffusers and loom decode)."""
    vae.clear_cache()
    x = vae.post_quant_conv(z)
    out = []
    for i in range(z.shape[2]):
        vae._conv_idx = [0]
        out.append(vae.decoder(x[:, :, i:i + 1], feat_cache=vae._feat_map, feat_idx=vae._conv_idx,
                               first_chunk=i == 0))
    vae.clear_cache()
    return torch.cat(out, 2)


def init_vae(vae):
    """Variance-preserving init (He normal, zero biases). PyTorch's default conv init shrinks the signal at
    every layer; at base_dim 8 the input's trace is lost under the biases before the latent, and the
    autoencoder collapses to a constant."""
    with torch.no_grad():
        for m in vae.modules():
            if isinstance(m, (torch.nn.Conv2d, torch.nn.Conv3d)):
                torch.nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                if m.bias is not None:
                    m.bias.zero_()


def train_vae(path, steps, phase, start=None):
    """Three phases (a curriculum): 1. from scratch on 9-frame crops anywhere; 2. on whole 17-frame clips
    cropped on the shape's path, which teaches the later latent frames of a full clip; 3. the same with the
    shape's pixels weighted 8x (the plain backgrounds are easy and otherwise dominate the loss) and a higher
    learning rate, which brings back the shapes' colours and edges."""
    torch.manual_seed(SEED + 7 * (phase - 1))
    vae = AutoencoderKLWan(**VAE_CONFIG)
    if start is None:
        init_vae(vae)
    else:
        vae.load_state_dict(torch.load(start))
    lr_max = {1: 4e-4, 2: 3e-4, 3: 6e-4}[phase]
    shape_weight = 8.0 if phase == 3 else 1.0
    opt = torch.optim.AdamW(vae.parameters(), lr=lr_max, weight_decay=0.0)
    rng = np.random.default_rng(SEED + 1 + 7 * (phase - 1))
    g = seeded(SEED + 2 + 7 * (phase - 1))
    t0 = time.time()
    running = 0.0
    for step in range(steps):
        lr = lr_max * min(1.0, (step + 1) / 100) * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for group in opt.param_groups:
            group["lr"] = lr
        x = vae_batch(rng, 4, 9, 48) if phase == 1 else vae_batch(rng, 2, clips.FRAMES, 48, on_path=True)
        mu = vae_encode_mu(vae, x)
        # a little latent noise keeps the decoder smooth around the encoder's points (the DiT samples land near,
        # not on, them); the small L2 term keeps the latent scale bounded
        z = mu + 0.1 * mu.detach().std() * torch.randn(mu.shape, generator=g)
        y = vae_decode_unclamped(vae, z)
        if shape_weight == 1:
            loss = F.l1_loss(y, x) + F.mse_loss(y, x) + 1e-4 * mu.pow(2).mean()
        else:
            bg = x.flatten(2).median(dim=2).values[:, :, None, None, None]      # each crop's background
            w = 1 + (shape_weight - 1) * ((x - bg).abs().amax(dim=1, keepdim=True) > 0.1).float()
            w = w / w.mean()
            loss = (w * ((y - x).abs() + (y - x) ** 2)).mean() + 1e-4 * mu.pow(2).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(vae.parameters(), 1.0)
        opt.step()
        running += loss.item()
        if step % 50 == 49 or step == steps - 1:
            log(f"vae step {step + 1}/{steps} mean loss {running / (step % 50 + 1):.4f} lr {lr:.2e} "
                f"({time.time() - t0:.0f} s)")
            running = 0.0
    torch.save(vae.state_dict(), path)


def fold_latent_statistics(vae, rng, count=24):
    """Make (mu - wan_mean) / wan_std zero-mean, unit-variance per channel on the data.

    ComfyUI and loom normalise Wan2.1 latents with the real model's fixed constants, so the tiny VAE is
    adjusted instead: mu' = a*mu + b is folded into quant_conv's mu rows and undone in post_quant_conv.
    """
    with torch.no_grad():
        mus = torch.cat([vae_encode_mu(vae, vae_batch(rng, 2, clips.FRAMES, clips.SIZE)) for _ in range(count // 2)])
        m = mus.mean(dim=(0, 2, 3, 4))
        s = mus.std(dim=(0, 2, 3, 4))
        wan_mean = torch.tensor(vae.config.latents_mean)
        wan_std = torch.tensor(vae.config.latents_std)
        a = wan_std / s
        b = wan_mean - m * a
        q = vae.quant_conv
        q.weight[:16] *= a.view(16, 1, 1, 1, 1)
        q.bias[:16] = q.bias[:16] * a + b
        q.bias[16:] += 2 * torch.log(a)                # logvar of the scaled mean
        p = vae.post_quant_conv
        w = p.weight.clone()
        p.weight.copy_(w / a.view(1, 16, 1, 1, 1))
        p.bias -= (w[:, :, 0, 0, 0] * (b / a).view(1, 16)).sum(dim=1)
    log("latent stats before folding: mean", [round(v, 2) for v in m.tolist()], "std", [round(v, 2) for v in s.tolist()])


# ---- latents of the DiT training set ------------------------------------------------------------------------

def normalise(vae, mu):
    mean = torch.tensor(vae.config.latents_mean).view(1, 16, 1, 1, 1)
    std = torch.tensor(vae.config.latents_std).view(1, 16, 1, 1, 1)
    return (mu - mean) / std


def encode_dataset(vae, path, count):
    data = clips.dataset(SEED + 3, count)
    lat = []
    t0 = time.time()
    with torch.no_grad():
        for i in range(0, count, 4):
            x = torch.from_numpy(np.stack([clips.render(s) for s, _ in data[i:i + 4]]))
            lat.append(normalise(vae, vae_encode_mu(vae, x)))
            if i % 200 == 0:
                log(f"latents {i}/{count} ({time.time() - t0:.0f} s)")
    lat = torch.cat(lat)
    torch.save({"latents": lat, "captions": [c for _, c in data]}, path)
    log("latents", tuple(lat.shape), "mean %.3f std %.3f" % (lat.mean().item(), lat.std().item()))


# ---- DiT + umT5 ---------------------------------------------------------------------------------------------

def encode_text(te, batch_ids):
    """Wan context: the encoder's rows for the real tokens, zeros up to 512 rows."""
    n = max(len(i) for i in batch_ids)
    ids = torch.zeros(len(batch_ids), n, dtype=torch.long)
    mask = torch.zeros(len(batch_ids), n, dtype=torch.long)
    for r, i in enumerate(batch_ids):
        ids[r, :len(i)] = torch.tensor(i)
        mask[r, :len(i)] = 1
    h = te(input_ids=ids, attention_mask=mask).last_hidden_state * mask[..., None]
    return torch.cat([h, h.new_zeros(h.shape[0], TEXT_LEN - n, h.shape[2])], dim=1)


def train_dit(sp, data_path, out_path, steps, batch):
    torch.manual_seed(SEED + 4)
    d = torch.load(data_path)
    lat, caps = d["latents"], d["captions"]
    ids = [token_ids(sp, c) for c in caps]
    empty = token_ids(sp, "")
    vocab = (sp.get_piece_size() + 127) // 128 * 128
    te = UMT5EncoderModel(UMT5Config(vocab_size=vocab, **UMT5_CONFIG))
    dit = WanTransformer3DModel(**DIT_CONFIG)
    params = list(te.parameters()) + list(dit.parameters())
    ema = [p.detach().clone() for p in params]
    opt = torch.optim.AdamW(params, lr=5e-4, weight_decay=0.0, betas=(0.9, 0.99))
    g = seeded(SEED + 5)
    t0 = time.time()
    for step in range(steps):
        lr = 5e-4 * min(1.0, (step + 1) / 200) * (0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * step / steps)))
        for group in opt.param_groups:
            group["lr"] = lr
        pick = torch.randint(0, lat.shape[0], (batch,), generator=g)
        x0 = lat[pick]
        drop = torch.rand(batch, generator=g) < 0.1   # caption dropout -> the empty prompt, for CFG
        batch_ids = [empty if drop[r] else ids[i] for r, i in enumerate(pick.tolist())]
        u = torch.rand(batch, generator=g)
        sigma = SHIFT * u / (1 + (SHIFT - 1) * u)
        noise = torch.randn(x0.shape, generator=g)
        s = sigma.view(-1, 1, 1, 1, 1)
        xt = (1 - s) * x0 + s * noise
        with torch.autocast("cpu", dtype=torch.bfloat16):
            ctx = encode_text(te, batch_ids)
            v = dit(hidden_states=xt, timestep=sigma * 1000, encoder_hidden_states=ctx, return_dict=False)[0]
        loss = F.mse_loss(v.float(), noise - x0)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        decay = min(0.999, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema, params):
                e.lerp_(p.detach(), 1 - decay)
        if step % 50 == 0 or step == steps - 1:
            log(f"dit step {step}/{steps} loss {loss.item():.4f} lr {lr:.2e} ({time.time() - t0:.0f} s)")
    with torch.no_grad():
        for e, p in zip(ema, params):
            p.copy_(e)
    torch.save({"te": te.state_dict(), "dit": dit.state_dict(), "vocab": vocab}, out_path)


# ---- export ------------------------------------------------------------------------------------------------

def export(out, work, sp_bytes):
    vae = AutoencoderKLWan(**VAE_CONFIG)
    vae.load_state_dict(torch.load(os.path.join(work, "vae_folded.pt")))
    d = torch.load(os.path.join(work, "dit.pt"))
    te = UMT5EncoderModel(UMT5Config(vocab_size=d["vocab"], **UMT5_CONFIG))
    te.load_state_dict(d["te"])
    dit = WanTransformer3DModel(**DIT_CONFIG)
    dit.load_state_dict(d["dit"])
    about = "loom demo model: tiny Wan2.1 trained on procedural clips (tools/demo_model)"
    for sub in ("diffusion_models", "text_encoders", "vae"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    sd = {k: v.to(torch.bfloat16) for k, v in fixture_dit.original_state_dict(dit).items()}
    save_file(sd, os.path.join(out, "diffusion_models", "wan2.1_t2v_demo_bf16.safetensors"),
              metadata={"config": json.dumps(DIT_ORIGINAL_CONFIG, sort_keys=True)})
    sd = {k: v.detach().to(torch.bfloat16).contiguous() for k, v in te.state_dict().items()
          if k != "encoder.embed_tokens.weight"}
    sd["spiece_model"] = torch.frombuffer(bytearray(sp_bytes), dtype=torch.uint8).clone()
    save_file(sd, os.path.join(out, "text_encoders", "umt5_demo_bf16.safetensors"),
              metadata={"config": json.dumps(te.config.to_diff_dict(), sort_keys=True)})
    sd = {k: v.contiguous() for k, v in fixture_vae.original_state_dict(vae).items()}
    save_file(sd, os.path.join(out, "vae", "wan_2.1_vae_demo.safetensors"),
              metadata={"config": json.dumps(dict(VAE_CONFIG, about=about), sort_keys=True)})
    log("wrote", out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True, help="model root to write (diffusion_models/, text_encoders/, vae/)")
    ap.add_argument("--work", required=True, help="folder for the intermediate files of each stage")
    ap.add_argument("--vae-steps", type=int, default=1200, help="VAE steps on 9-frame crops")
    ap.add_argument("--vae-clip-steps", type=int, default=1500, help="VAE steps on 17-frame crops")
    ap.add_argument("--vae-shape-steps", type=int, default=1000, help="VAE steps with the shapes weighted")
    ap.add_argument("--clips", type=int, default=1600, help="DiT training clips")
    ap.add_argument("--dit-steps", type=int, default=2000)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    torch.use_deterministic_algorithms(True)
    os.makedirs(a.work, exist_ok=True)
    t0 = time.time()

    sp_path = os.path.join(a.work, "spiece.model")
    if not os.path.exists(sp_path):
        train_tokenizer(sp_path)
    sp_bytes = open(sp_path, "rb").read()
    sp = spm.SentencePieceProcessor(model_proto=sp_bytes)
    log("tokenizer", sp.get_piece_size(), "pieces:", sp.encode("a magenta triangle moving to the left", out_type=str))

    previous = None
    for phase, steps in enumerate((a.vae_steps, a.vae_clip_steps, a.vae_shape_steps), start=1):
        path = os.path.join(a.work, f"vae_phase{phase}.pt")
        if not os.path.exists(path):
            train_vae(path, steps, phase, start=previous)
        previous = path
    folded = os.path.join(a.work, "vae_folded.pt")
    vae = AutoencoderKLWan(**VAE_CONFIG)
    if not os.path.exists(folded):
        vae.load_state_dict(torch.load(previous))
        fold_latent_statistics(vae, np.random.default_rng(SEED + 6))
        torch.save(vae.state_dict(), folded)
    vae.load_state_dict(torch.load(folded))
    vae.eval()

    data_path = os.path.join(a.work, "latents.pt")
    if not os.path.exists(data_path):
        encode_dataset(vae, data_path, a.clips)
    dit_path = os.path.join(a.work, "dit.pt")
    if not os.path.exists(dit_path):
        train_dit(sp, data_path, dit_path, a.dit_steps, a.batch)
    export(a.out, a.work, sp_bytes)
    log(f"done in {time.time() - t0:.0f} s")


if __name__ == "__main__":
    main()
