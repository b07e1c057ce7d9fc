"""One benchmark measurement in a fresh process; prints ``BENCH_RESULT <json>`` as its last line.

A fresh process per measurement makes its peak RSS (VmHWM) mean something. ``--impl upstream``
runs the original ACE-Step modules (read-only, from ``$ACESTEP_UPSTREAM``) and must be started
with the upstream venv's python; ``bench/run.py`` does that. Not a test.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common as C  # noqa: E402



# ---------------------------------------------------------------------------------- building
@contextlib.contextmanager
def no_init():
    """Skip nn.init's random fills while constructing (fill_random_ overwrites every parameter)."""
    names = ("kaiming_uniform_", "kaiming_normal_", "uniform_", "normal_", "xavier_uniform_",
             "xavier_normal_", "trunc_normal_", "constant_", "zeros_", "ones_")
    saved = {n: getattr(torch.nn.init, n) for n in names}
    for n in names:
        setattr(torch.nn.init, n, lambda t, *a, **k: t)
    try:
        yield
    finally:
        for n, f in saved.items():
            setattr(torch.nn.init, n, f)


@contextlib.contextmanager
def default_dtype(dtype: torch.dtype):
    old = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        yield
    finally:
        torch.set_default_dtype(old)


LAYERS = 0  # --layers: a shallower DiT for quick checks (0 = the real 24)
DIT_CONFIG = Path(__file__).resolve().parent / "dit_config.json"  # --dit-config: e.g. the tiny checkpoint's


def dit_config() -> dict:
    cfg = json.loads(Path(DIT_CONFIG).read_text())
    if LAYERS:
        cfg["num_layers"] = LAYERS
    return cfg


def build_dit(dtype: torch.dtype, device: str, meta: bool = False):
    cfg = dit_config()
    if IMPL == "ours":
        from acestep_core.loading import operations_from_env
        from acestep_core.models.transformer import AceStepTransformer

        # the layer set a loaded DiT gets (ACESTEP_CPU_GEMM, e.g. from --switch)
        model = AceStepTransformer.from_config(cfg, dtype=dtype, device="meta", operations=operations_from_env())
        if meta:
            return model.eval()
        model = model.to_empty(device=device)
        C.fill_random_(model)
        return model.eval().requires_grad_(False)
    C.import_upstream()
    from acestep.models.ace_step_transformer import ACEStepTransformer2DModel

    kwargs = {k: v for k, v in cfg.items() if not k.startswith("_")}
    if meta:
        with torch.device("meta"), default_dtype(dtype):
            return ACEStepTransformer2DModel(**kwargs).eval()
    # The original's construction, without its (slow, discarded) random init.
    with no_init(), default_dtype(dtype):
        model = ACEStepTransformer2DModel(**kwargs)
    C.fill_random_(model)
    return model.to(device).eval().requires_grad_(False)


def dit_inputs(seconds: float, dtype: torch.dtype, device: str, text_tokens: int, lyric_tokens: int, dim: int,
               rows: int = 1):
    """One song's DiT inputs; `rows` > 1 stacks copies, as a batched guidance pass does (2–3 rows)."""
    g = torch.Generator().manual_seed(0)
    t = C.frames_for_seconds(seconds)
    x = torch.randn(1, 8, 16, t, generator=g).to(device=device, dtype=dtype)
    length = 1 + text_tokens + lyric_tokens
    states = torch.randn(1, length, dim, generator=g).to(device=device, dtype=dtype)
    mask = torch.ones(1, length, dtype=torch.float32, device=device)
    attn = torch.ones(1, t, dtype=dtype, device=device)
    timestep = torch.tensor([500.0], device=device)
    if rows > 1:
        x, states, mask, attn = (v.repeat(rows, *([1] * (v.ndim - 1))) for v in (x, states, mask, attn))
        timestep = timestep.expand(rows)
    return x, attn, states, mask, timestep


def dit_pass_fn(model, inputs, prepared):
    x, attn, states, mask, timestep = inputs
    t = x.shape[-1]
    if IMPL == "ours":
        if prepared is not None:
            return lambda: model.decode(x, attn, states, mask, timestep, output_length=t, context=prepared)
        return lambda: model.decode(x, attn, states, mask, timestep, output_length=t)
    return lambda: model.decode(x, attn, states, mask, timestep, output_length=t).sample


def count_flops(fn) -> int:
    from torch.utils.flop_counter import FlopCounterMode

    with FlopCounterMode(display=False) as counter, torch.no_grad():
        fn()
    return int(counter.get_total_flops())


# ---------------------------------------------------------------------------------- parts
def part_gemm(args, dtype) -> dict:
    peak = C.measure_gemm_peak(dtype, repeat=args.repeat + 2)
    return {"time_s": 2 * peak["n"] ** 3 / peak["gflops"] / 1e9, "gflops": peak["gflops"], "n": peak["n"],
            "gflops_cpu_equiv": peak["gflops_cpu_equiv"], "cpu_s": None}


def part_dit(args, dtype) -> dict:
    """One denoising pass of the full-width DiT (real config, random weights) at ``seconds``."""
    device = args.device
    dim = dit_config()["num_attention_heads"] * dit_config()["attention_head_dim"]
    # FLOPs on a meta copy (no data), counted by torch's FlopCounterMode.
    meta_model = build_dit(dtype, "meta", meta=True)
    meta_inputs = dit_inputs(args.seconds, dtype, "meta", args.text_tokens, args.lyric_tokens, dim, args.rows)
    with torch.no_grad():
        meta_prepared = meta_model.prepare_context(meta_inputs[2], meta_inputs[3]) if IMPL == "ours" and not args.no_prepare else None
        flops = count_flops(dit_pass_fn(meta_model, meta_inputs, meta_prepared))
        ctx_flops = count_flops(lambda: meta_model.prepare_context(meta_inputs[2], meta_inputs[3])) if IMPL == "ours" else 0
    del meta_model, meta_prepared

    t0 = time.perf_counter()
    model = build_dit(dtype, device)
    build_s = time.perf_counter() - t0
    rss_model = C.rss_gb()
    inputs = dit_inputs(args.seconds, dtype, device, args.text_tokens, args.lyric_tokens, dim, args.rows)
    out = {"params": C.count_params(model), "build_s": build_s, "rss_model_gb": rss_model, "flops": flops}
    with torch.no_grad():
        prepared = None
        if IMPL == "ours" and not args.no_prepare:
            ctx_times = C.time_calls(lambda: model.prepare_context(inputs[2], inputs[3]), repeat=1, warmup=0,
                                     device=device)
            prepared = model.prepare_context(inputs[2], inputs[3])
            out.update(context_s=min(ctx_times), context_flops=ctx_flops)
        times = C.time_calls(dit_pass_fn(model, inputs, prepared), repeat=args.repeat, warmup=1, device=device)
    out.update(time_s=min(times), times=times, gflops=flops / min(times) / 1e9)
    if args.save_output:
        with torch.no_grad():
            y = dit_pass_fn(model, inputs, prepared)()
        torch.save(y.float().cpu(), args.save_output)
    return out


def build_music_dcae(dtype: torch.dtype, device: str, ckpt: str):
    root = Path(ckpt)
    if IMPL == "ours":
        from acestep_core.checkpoint import open_folder
        from acestep_core.loading import load_music_dcae

        return load_music_dcae(open_folder(root), dtype=dtype, device=device)
    C.import_upstream()
    from acestep.music_dcae.music_dcae_pipeline import MusicDCAE

    model = MusicDCAE(dcae_checkpoint_path=str(root / "music_dcae_f8c8"),
                      vocoder_checkpoint_path=str(root / "music_vocoder"))
    return model.to(device=device, dtype=dtype).eval()


def decode_latents(seconds: float, dtype, device):
    g = torch.Generator().manual_seed(1)
    return torch.randn(1, 8, 16, C.frames_for_seconds(seconds), generator=g).to(device=device, dtype=dtype)


def part_decode(args, dtype) -> dict:
    """Latents → 48 kHz stereo: DCAE decoder + vocoder (both channels) + resample, as the pipeline does."""
    t0 = time.perf_counter()
    model = build_music_dcae(dtype, args.device, args.ckpt)
    out = {"build_s": time.perf_counter() - t0, "rss_model_gb": C.rss_gb(), "params": C.count_params(model)}
    latents = decode_latents(args.seconds, dtype, args.device)
    C.resident_free_heap(args.heap_gb)  # after the model's build, which would reuse it
    C.reset_peak_rss()
    if IMPL == "ours":
        kw = {"mode": args.mode, "batch_channels": args.batch_channels}
        fn = lambda: model.decode(latents, 48000, **kw)  # noqa: E731
    else:
        if args.mode == "overlapped":
            fn = lambda: model.decode_overlap(latents, sr=48000)[1]  # noqa: E731
        else:
            fn = lambda: model.decode(latents, sr=48000)[1]  # noqa: E731
    with torch.no_grad():
        times = C.time_calls(fn, repeat=args.repeat, warmup=args.warmup, device=args.device)
        if args.save_output:
            y = fn()
            y = y if isinstance(y, torch.Tensor) else torch.stack(list(y))
            torch.save(y.float().cpu(), args.save_output)
    out.update(time_s=min(times), times=times, peak_rss_stage_gb=C.peak_rss_gb())
    return out


def part_dcae(args, dtype) -> dict:
    """DCAE decoder only (latents → mel)."""
    model = build_music_dcae(dtype, args.device, args.ckpt)
    latents = decode_latents(args.seconds, dtype, args.device)
    dec = model.dcae.decoder
    z = latents / 0.1786 + -1.9091
    C.resident_free_heap(args.heap_gb)  # after the model's build, which would reuse it
    C.reset_peak_rss()
    with torch.no_grad():
        flops = count_flops(lambda: dec(z[..., : min(z.shape[-1], 32)])) * z.shape[-1] / min(z.shape[-1], 32)
        times = C.time_calls(lambda: dec(z), repeat=args.repeat, warmup=args.warmup, device=args.device)
    return {"time_s": min(times), "times": times, "flops": int(flops), "gflops": flops / min(times) / 1e9,
            "peak_rss_stage_gb": C.peak_rss_gb()}


def part_vocoder(args, dtype) -> dict:
    """Vocoder only: mel → 44.1 kHz wave for both channels (one call per channel unless batched)."""
    model = build_music_dcae(dtype, args.device, args.ckpt)
    voc = model.vocoder
    frames = C.frames_for_seconds(args.seconds) * 8
    g = torch.Generator().manual_seed(2)
    mel = (torch.randn(1, 2, 128, frames, generator=g) * 2 - 5).to(device=args.device, dtype=dtype)
    if IMPL == "ours":  # what our decode runs: MusicDCAE.vocode (windows for long songs)
        fn = lambda: model.vocode(mel, batch_channels=args.batch_channels)  # noqa: E731
    elif args.batch_channels:
        fn = lambda: voc.decode(mel[0])  # noqa: E731
    else:
        fn = lambda: [voc.decode(mel[:, c]) for c in range(2)]  # noqa: E731
    C.resident_free_heap(args.heap_gb)  # after the model's build, which would reuse it
    C.reset_peak_rss()
    with torch.no_grad():
        short = mel[0, :1, :, :64]
        flops = count_flops(lambda: voc.decode(short)) * 2 * frames / 64
        times = C.time_calls(fn, repeat=args.repeat, warmup=args.warmup, device=args.device)
    return {"time_s": min(times), "times": times, "flops": int(flops), "gflops": flops / min(times) / 1e9,
            "peak_rss_stage_gb": C.peak_rss_gb()}


def part_lyric(args, dtype) -> dict:
    """The DiT's lyric Conformer + projection (``forward_lyric_encoder``) on ``lyric_tokens`` tokens."""
    model = build_dit(dtype, args.device)
    n = args.lyric_tokens
    g = torch.Generator().manual_seed(3)
    ids = torch.randint(0, 6693, (1, n), generator=g, device=args.device)
    mask = torch.ones(1, n, dtype=torch.long, device=args.device)
    if IMPL == "ours":
        fn = lambda: model.lyric_encoder_forward(ids, mask)  # noqa: E731
    else:
        fn = lambda: model.forward_lyric_encoder(ids, mask)  # noqa: E731
    with torch.no_grad():
        times = C.time_calls(fn, repeat=args.repeat, warmup=1, device=args.device)
    return {"time_s": min(times), "times": times}


def part_text(args, dtype) -> dict:
    """UMT5-base encoder (full size, random weights) on ``text_tokens`` tokens; same code both sides."""
    from transformers import UMT5Config, UMT5EncoderModel

    cfg = UMT5Config(vocab_size=256384, d_model=768, d_kv=64, d_ff=2048, num_layers=12, num_heads=12,
                     relative_attention_num_buckets=32, relative_attention_max_distance=128,
                     feed_forward_proj="gated-gelu", is_gated_act=True, dense_act_fn="gelu_new")
    cfg._attn_implementation = "eager"
    with no_init(), default_dtype(dtype):
        model = UMT5EncoderModel(cfg)
    C.fill_random_(model)
    model = model.to(args.device).eval()
    g = torch.Generator().manual_seed(4)
    ids = torch.randint(0, 256384, (1, args.text_tokens), generator=g).to(args.device)
    mask = torch.ones_like(ids)
    with torch.no_grad():
        times = C.time_calls(lambda: model(input_ids=ids, attention_mask=mask), repeat=args.repeat, warmup=1,
                             device=args.device)
    return {"time_s": min(times), "times": times}


def part_load(args, dtype) -> dict:
    """Loading the DiT from the checkpoint folder: time, RSS after, peak RSS during (incl. file pages)."""
    root = Path(args.ckpt)
    t0 = time.perf_counter()
    if IMPL == "ours":
        from acestep_core.checkpoint import open_folder
        from acestep_core.loading import load_transformer

        model = load_transformer(open_folder(root)["transformer"], dtype=dtype, device=args.device)
    else:
        C.import_upstream()
        from acestep.models.ace_step_transformer import ACEStepTransformer2DModel

        # As the original pipeline does: from_pretrained(torch_dtype=...), then .to(device).eval().to(dtype).
        model = ACEStepTransformer2DModel.from_pretrained(str(root / "ace_step_transformer"), torch_dtype=dtype)
        model = model.to(args.device).eval().to(dtype)
    load_s = time.perf_counter() - t0
    return {"time_s": load_s, "rss_after_gb": C.rss_gb(), "params": C.count_params(model)}


PARTS = {"gemm": part_gemm, "dit": part_dit, "decode": part_decode, "dcae": part_dcae, "vocoder": part_vocoder,
         "lyric": part_lyric, "text": part_text, "load": part_load}
IMPL = "ours"


def main(argv=None) -> None:
    global IMPL, LAYERS, DIT_CONFIG
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--part", required=True, choices=sorted(PARTS) + ["song", "train"])
    p.add_argument("--impl", default="ours", choices=["ours", "upstream"])
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--dtype", default="float32", choices=sorted(C.DTYPES))
    p.add_argument("--device", default="cpu")
    p.add_argument("--repeat", type=int, default=2)
    p.add_argument("--warmup", type=int, default=0)
    p.add_argument("--heap-gb", type=float, default=0.0,
                   help="decode, DCAE, vocoder: time them with this much free resident heap, as in a "
                        "pipeline process (see common.resident_free_heap)")
    p.add_argument("--threads", type=int, default=0)
    p.add_argument("--text-tokens", type=int, default=C.TEXT_TOKENS)
    p.add_argument("--lyric-tokens", type=int, default=C.LYRIC_TOKENS)
    p.add_argument("--ckpt", default="/tmp/acestep-bench-ckpt")
    p.add_argument("--dit-config", default="", help="dit: a transformer config.json instead of the released "
                                                     "one (e.g. <tiny ckpt>/ace_step_transformer/config.json)")
    p.add_argument("--mode", default="plain", choices=["plain", "overlapped", "chunked"])
    p.add_argument("--batch-channels", action="store_true")
    p.add_argument("--no-prepare", action="store_true", help="ours: recompute cross K/V every pass (as upstream)")
    p.add_argument("--save-output", default=None, help="save the output tensor here (error comparisons)")
    p.add_argument("--steps", type=int, default=27)
    p.add_argument("--low-memory", action="store_true")
    p.add_argument("--batch-guidance", action="store_true", help="song: the pipeline's batch_guidance switch")
    p.add_argument("--guidance-cache", type=int, default=1, help="song: the pipeline's guidance_cache_interval")
    p.add_argument("--rows", type=int, default=1, help="dit: batch rows of the pass (2 = a batched cond+uncond step)")
    p.add_argument("--switch", action="append", default=[], help="ours: NAME=VALUE speed switch (see README)")
    p.add_argument("--layers", type=int, default=0, help="DiT depth override for quick checks (0 = 24)")
    p.add_argument("--lora-rank", type=int, default=16, help="train: the LoRA's rank (RapMachine: 256)")
    p.add_argument("--no-grad-checkpointing", action="store_true", help="train: keep every block's activations")
    args = p.parse_args(argv)
    IMPL, LAYERS = args.impl, args.layers
    if args.dit_config:
        DIT_CONFIG = Path(args.dit_config)
    if args.threads:
        torch.set_num_threads(args.threads)
    for item in args.switch:
        name, _, value = item.partition("=")
        os.environ[name] = value
    dtype = C.DTYPES[args.dtype]
    load0 = C.load_average()
    if args.part == "song":
        from song import part_song

        result = part_song(args, dtype)
    elif args.part == "train":
        from train import part_train

        result = part_train(args, dtype)
    else:
        result = PARTS[args.part](args, dtype)
    if C.CPU_TIMES and "cpu_s" not in result:
        result["cpu_s"] = min(C.CPU_TIMES)
        result["sys_s"] = min(C.SYS_TIMES)
        result["page_faults"] = min(C.PAGE_FAULTS)
    if result.get("flops") and result.get("cpu_s"):
        result["gflops_cpu_equiv"] = result["flops"] / (result["cpu_s"] / torch.get_num_threads()) / 1e9
    result.update(part=args.part, impl=args.impl, seconds=args.seconds, dtype=args.dtype, device=args.device,
                  peak_rss_gb=C.peak_rss_gb(), peak_vram_gb=C.cuda_peak_gb(), threads=torch.get_num_threads(),
                  load_before=load0, load_after=C.load_average(), torch=torch.__version__,
                  mode=args.mode if args.part == "decode" else None,
                  batch_channels=args.batch_channels if args.part in ("decode", "vocoder") else None,
                  switches=args.switch or None, heap_gb=args.heap_gb or None,
                  rows=args.rows if args.part == "dit" else None,
                  batch_guidance=args.batch_guidance if args.part == "song" else None,
                  guidance_cache=args.guidance_cache if args.part == "song" else None)
    print("BENCH_RESULT " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
