"""Command line: generate a song from tags + lyrics, or regenerate one from an original input_params.json.

    acestep-v1 --prompt "pop, rock, 120 bpm" --lyrics-file song.txt --duration 60 --seed 42 --out song.wav
    acestep-v1 --params output_20250512_0_input_params.json --out again.flac

The model is downloaded on first use (ACE-Step/ACE-Step-v1-3.5B) unless --checkpoint names a local
folder or ComfyUI's all-in-one file. Existing files are never overwritten.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .record import CACHE_KEY, call_kwargs, from_record

def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="acestep-v1", description="ACE-Step v1: tags + lyrics → a song.")
    p.add_argument("--prompt", help="tags / description, e.g. 'pop, rock, female vocals, 120 bpm'")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--lyrics", help="lyrics text ('\\n' separates lines); omit for instrumental")
    g.add_argument("--lyrics-file", type=Path, help="a UTF-8 file with the lyrics")
    p.add_argument("--params", type=Path, help="an original ACE-Step *_input_params.json to regenerate")
    p.add_argument("--duration", type=float, default=None, help="seconds (<= 240; <= 0 picks 30–240 s from the seed)")
    p.add_argument("--steps", type=int, default=None, help="sampling steps (original default 60)")
    p.add_argument("--guidance-scale", type=float, default=None, help="CFG/APG scale (default 15)")
    p.add_argument("--scheduler", choices=("euler", "heun", "pingpong"), default=None)
    p.add_argument("--cfg-type", choices=("apg", "cfg", "cfg_star"), default=None)
    p.add_argument("--seed", default=None, help="seed(s), e.g. 42 or '1,2,3' for a batch")
    p.add_argument("--batch-size", type=int, default=None)
    p.add_argument("--lora", default=None, help="a LoRA folder/file or Hugging Face repo id")
    p.add_argument("--lora-weight", type=float, default=None)
    p.add_argument("--checkpoint", default=None,
                   help="local upstream folder, ComfyUI all-in-one .safetensors, or HF repo id "
                        "(default ACE-Step/ACE-Step-v1-3.5B, downloaded on first use)")
    p.add_argument("--cache-dir", default=None, help="where downloads go (default ~/.cache/acestep-v1)")
    p.add_argument("--lyric-vocab", default=None, help="path to the lyric vocab.json (else found or downloaded)")
    p.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"))
    p.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda if available)")
    p.add_argument("--cpu-offload", action="store_true", help="keep models on CPU between stages")
    p.add_argument("--overlapped-decode", action="store_true", help="the original's windowed decode for > 48 s")
    p.add_argument("--low-memory", action="store_true",
                   help="load each network for its stage and free it afterwards (peak: one network)")
    p.add_argument("--batch-guidance", action="store_true",
                   help="run the guided passes of a step as one batched DiT call (faster, rounds "
                        "differently from the original; see bench/RESULTS.md)")
    p.add_argument("--guidance-cache", type=int, default=None, metavar="K",
                   help="step caching: run the unconditional passes on every K-th guided step only and "
                        "reuse their difference to the conditional pass in between (1 = off, the default "
                        "unless --params names another; changes the song)")
    p.add_argument("--format", choices=("wav", "flac", "ogg", "mp3"), default=None)
    p.add_argument("--out", default=None, help="output file or folder (default ./outputs/); never overwritten")
    return p


def _progress(desc: str):
    from tqdm import tqdm

    bar = {"b": None}

    def cb(step: int, total: int, _x=None) -> None:
        if bar["b"] is None:
            bar["b"] = tqdm(total=total, desc=desc, unit="step")
        bar["b"].update(step - bar["b"].n)
        if step >= total:
            bar["b"].close()

    return cb


def check_seed_arg(seed: str | None) -> str | None:
    """The error line for a --seed that is no seed (checked before any model loads), else None."""
    from .sampling.noise import parse_seeds

    try:
        parse_seeds(seed, "--seed")
    except ValueError as e:
        return f"error: {e}; or omit --seed for a random seed"
    return None


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    problem = check_seed_arg(args.seed)
    if problem:
        print(problem, file=sys.stderr)
        return 2
    import torch

    from .checkpoint import CheckpointError
    from .pipeline import AceStepPipeline
    from .settings import SamplingPolicy

    guidance_cache = 1
    if args.params:
        try:
            call = call_kwargs(from_record(json.loads(args.params.read_text(encoding="utf-8"))))
        except (OSError, ValueError) as e:
            print(f"error: cannot use {args.params}: {e}", file=sys.stderr)
            return 2
        guidance_cache = call.pop(CACHE_KEY)  # our own key: a song made with step caching
    else:
        if args.prompt is None:
            print("error: give --prompt (tags) or --params (an input_params.json)", file=sys.stderr)
            return 2
        call = {"prompt": args.prompt, "lyrics": ""}
    if args.guidance_cache is not None:
        guidance_cache = args.guidance_cache
    if args.lyrics is not None:
        call["lyrics"] = args.lyrics.replace("\\n", "\n")
    if args.lyrics_file is not None:
        call["lyrics"] = args.lyrics_file.read_text(encoding="utf-8")
    if args.prompt is not None:
        call["prompt"] = args.prompt
    overrides = {"audio_duration": args.duration, "infer_step": args.steps, "guidance_scale": args.guidance_scale,
                 "scheduler_type": args.scheduler, "cfg_type": args.cfg_type, "manual_seeds": args.seed,
                 "batch_size": args.batch_size, "lora_name_or_path": args.lora, "lora_weight": args.lora_weight,
                 "format": args.format}
    call.update({k: v for k, v in overrides.items() if v is not None})
    call.setdefault("audio_duration", 60.0)
    call["save_path"] = args.out
    device = args.device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        policy = SamplingPolicy(batch_guidance=args.batch_guidance, guidance_cache_interval=guidance_cache)
        pipe = AceStepPipeline.from_pretrained(args.checkpoint, dtype=args.dtype, device=device,
                                               lyric_vocab=args.lyric_vocab, cpu_offload=args.cpu_offload,
                                               low_memory=args.low_memory, cache_dir=args.cache_dir)
        out = pipe(**call, callback=_progress("sampling"), policy=policy,
                   decode_mode="overlapped" if args.overlapped_decode else "plain")
    except CheckpointError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except (ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    for path in out.paths:
        print(path)
    print(f"seeds: {out.params['actual_seeds']}  duration: {out.params['audio_duration']:.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
