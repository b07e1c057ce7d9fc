"""Command line: generate a song from tags + lyrics, change one (every task of the original), or
regenerate one from an original input_params.json.

The model is downloaded on first use (ACE-Step/ACE-Step-v1-3.5B) unless --checkpoint names a local
folder or ComfyUI's all-in-one file. Existing files are never overwritten. Before the long work it
says what it will do (seed, duration, steps, memory, a time estimate), during it shows progress,
and it ends with one summary line on stdout; every mistake is one `error:` message, exit code 2.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .cli_call import UsageError, build_job, fix_seeds_and_duration, output_seconds
from .pipeline import TASKS

EXAMPLES = """\
examples:
  # a 30 s song (the model, ~8 GB, is downloaded on first use)
  acestep-v1 --prompt "pop, rock, female vocals, 120 bpm" --lyrics "[verse]\\nNeon lights" --duration 30 --seed 42 --out song.wav
  # the same on a 16 GB machine: one network at a time, or half the memory in bfloat16
  acestep-v1 --prompt "lofi, chill" --duration 30 --low-memory --out lofi.flac
  acestep-v1 --prompt "lofi, chill" --duration 30 --dtype bfloat16 --out lofi.flac
  # offline: a local checkpoint (upstream folder or ComfyUI's all-in-one file) and vocabulary
  acestep-v1 --checkpoint ~/models/ACE-Step-v1-3.5B --lyric-vocab ~/vocab.json --prompt "jazz" --lyrics-file words.txt
  # variations of a song (same settings, new noise mixed in)
  acestep-v1 --task retake --params song_input_params.json --retake-seed 7 --retake-variance 0.3 --out take2.wav
  # regenerate 10–20 s of a song
  acestep-v1 --task repaint --src-audio song.wav --repaint-start 10 --repaint-end 20 --prompt "pop, rock" --out fixed.wav
  # add 5 s before and 30 s after a song
  acestep-v1 --task extend --src-audio song.wav --extend-left 5 --extend-right 30 --prompt "pop, rock" --out longer.wav
  # new lyrics on an existing song (flow-edit)
  acestep-v1 --task edit --src-audio song.wav --prompt "pop" --lyrics "[verse]\\nold words" --edit-lyrics "[verse]\\nnew words" --out edited.wav
  # a new song in the style of a reference
  acestep-v1 --ref-audio song.wav --ref-strength 0.6 --prompt "pop, rock" --out like_it.wav
  # with a LoRA
  acestep-v1 --lora ACE-Step/ACE-Step-v1-chinese-rap-LoRA --lora-weight 0.8 --prompt "rap" --out rap.wav

memory: the peak resident memory, computed from the checkpoint before loading and compared with the
free memory (RAM, or the GPU's); a path that does not fit switches to one network at a time, or the
run stops saying what to change. Peaks for one song (10 / 30 / 60 / 240 s):
  float32, all networks loaded (default)   15.2 / 16.1 / 17.4 / 25.5 GB
  float32, --low-memory (one at a time)    12.7 / 12.9 / 13.4 / 15.9 GB
  bfloat16 (default / --low-memory)         8.6 /  9.5 / 10.9 / 19.0 GB;  7.5 / 7.8 / 8.2 / 13.5 GB
time: a first 30 s song takes about 12 minutes on a 2-core CPU in float32 (60 steps; --steps 27
about halves it) and seconds on a GPU (--device cuda --dtype bfloat16), plus the model's download.

train a LoRA on your own songs: acestep-v1 train-lora --help
"""


class _Formatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Defaults shown after each option, the examples kept as written."""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="acestep-v1", description="ACE-Step v1: tags + lyrics → a song; or change a "
                                "song (retake, repaint, extend, edit, audio2audio).", epilog=EXAMPLES,
                                formatter_class=_Formatter)
    what = p.add_argument_group("the song")
    what.add_argument("--prompt", help="tags / description, e.g. 'pop, rock, female vocals, 120 bpm'")
    g = what.add_mutually_exclusive_group()
    g.add_argument("--lyrics", help="lyrics text ('\\n' separates lines); omit for an instrumental")
    g.add_argument("--lyrics-file", type=Path, help="a UTF-8 file with the lyrics")
    what.add_argument("--params", type=Path, help="an original ACE-Step *_input_params.json to regenerate "
                      "(other options override its values)")
    what.add_argument("--duration", type=float, default=None,
                      help="seconds, up to 240 (<= 0 draws 30–240 s from the seed, as the original); "
                           "default 60, or the source's length for repaint/extend/edit")
    what.add_argument("--steps", type=int, default=None, help="sampling steps (default 60, the original's)")
    what.add_argument("--guidance-scale", type=float, default=None, help="CFG/APG scale (default 15)")
    what.add_argument("--scheduler", choices=("euler", "heun", "pingpong"), default=None, help="default euler")
    what.add_argument("--cfg-type", choices=("apg", "cfg", "cfg_star"), default=None, help="default apg")
    what.add_argument("--seed", default=None, help="seed(s), e.g. 42 or '1,2,3' for a batch (default: random, "
                      "printed before the work starts)")
    what.add_argument("--batch-size", type=int, default=None, help="songs per run (default 1, or one per seed)")
    what.add_argument("--lora", default=None, help="a LoRA folder/file or Hugging Face repo id")
    what.add_argument("--lora-weight", type=float, default=None, help="the LoRA's strength (default 1.0)")

    task = p.add_argument_group("tasks (each example above shows one)")
    task.add_argument("--task", choices=TASKS, default=None, help="default text2music (audio2audio with --ref-audio)")
    task.add_argument("--src-audio", default=None, help="the song to change (repaint, extend, edit)")
    task.add_argument("--repaint-start", type=float, default=None, help="repaint: from this second (default 0)")
    task.add_argument("--repaint-end", type=float, default=None, help="repaint: to this second (default the end)")
    task.add_argument("--extend-left", type=float, default=None, help="extend: seconds added before (default 0)")
    task.add_argument("--extend-right", type=float, default=None,
                      help="extend: seconds added after (default 30, or 0 with --extend-left); each side at most the "
                           "source's length")
    task.add_argument("--ref-audio", default=None, help="audio2audio: the reference song")
    task.add_argument("--ref-strength", type=float, default=None,
                      help="audio2audio: how much of the reference to keep, 0–1 (default 0.5)")
    task.add_argument("--edit-prompt", default=None, help="edit: the target tags (default: --prompt)")
    task.add_argument("--edit-lyrics", default=None, help="edit: the target lyrics (default: --lyrics)")
    task.add_argument("--edit-n-min", type=float, default=None, help="edit: start of the edited noise range "
                      "(default 0.0; the original's UI: 0.6 for lyrics only, 0.2 for a remix)")
    task.add_argument("--edit-n-max", type=float, default=None, help="edit: end of the range (default 1.0)")
    task.add_argument("--retake-seed", default=None, help="retake/repaint/extend/edit: seed(s) of the new noise "
                      "(default: random, printed)")
    task.add_argument("--retake-variance", type=float, default=None,
                      help="retake/repaint/extend: how far from the source, 0–1 (default 0.5; 1.0 for extend)")

    model = p.add_argument_group("model, memory and speed")
    model.add_argument("--checkpoint", default=None,
                       help="local upstream folder, ComfyUI all-in-one .safetensors, or HF repo id "
                            "(default ACE-Step/ACE-Step-v1-3.5B, downloaded on first use)")
    model.add_argument("--cache-dir", default=None, help="downloads go to CACHE/checkpoints and CACHE/vocab.json "
                       "(default ~/.cache/acestep-v1)")
    model.add_argument("--lyric-vocab", default=None, help="path to the lyric vocab.json (else found or downloaded)")
    model.add_argument("--dtype", default="float32", choices=("float32", "bfloat16", "float16"),
                       help="bfloat16 halves the memory and is faster on GPUs and AMX CPUs")
    model.add_argument("--device", default=None, help="cpu, cuda, cuda:1, mps (default: cuda if available)")
    model.add_argument("--cpu-offload", action="store_true", help="keep models on CPU between stages")
    model.add_argument("--low-memory", action="store_true",
                       help="load each network for its stage and free it afterwards (peak: one network); "
                            "chosen by itself when all networks do not fit")
    model.add_argument("--memory-limit", type=float, default=None, metavar="GB",
                       help="plan for this much free memory instead of what the system reports")
    model.add_argument("--overlapped-decode", action="store_true", help="the original's windowed decode for > 48 s")
    model.add_argument("--batch-guidance", action="store_true",
                       help="run the guided passes of a step as one batched DiT call (faster, rounds "
                            "differently from the original; see bench/RESULTS.md)")
    model.add_argument("--guidance-cache", type=int, default=None, metavar="K",
                       help="step caching: run the unconditional passes on every K-th guided step only and "
                            "reuse their difference to the conditional pass in between (1 = off, the default "
                            "unless --params names another; changes the song)")

    out = p.add_argument_group("output")
    out.add_argument("--format", choices=("wav", "flac", "ogg", "mp3"), default=None,
                     help="default: --out's extension, else wav")
    out.add_argument("--out", default=None, help="output file or folder (default ./outputs/); never overwritten")
    return p


def check_seed_arg(seed: str | None, option: str = "--seed") -> str | None:
    """The error line for a --seed that is no seed (checked before any model loads), else None."""
    from .sampling.noise import parse_seeds

    try:
        parse_seeds(seed, option)
    except ValueError as e:
        return f"error: {e}; or omit {option} for a random seed"
    return None


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["train-lora"]:  # `acestep-v1 train-lora ...`: LoRA training (acestep_core.training)
        from .training.cli import main as train_lora_main

        return train_lora_main(argv)
    args = build_parser().parse_args(argv)
    for option, value in (("--seed", args.seed), ("--retake-seed", args.retake_seed)):
        problem = check_seed_arg(value, option)
        if problem:
            print(problem, file=sys.stderr)
            return 2
    from .checkpoint import CheckpointError
    from .memory import NotEnoughMemory
    from .prerequisites import MissingFiles

    try:
        return _generate(args)
    except KeyboardInterrupt:
        print("interrupted: stopped before writing anything", file=sys.stderr)
        return 130
    except (UsageError, MissingFiles, NotEnoughMemory, CheckpointError, ValueError, FileNotFoundError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except MemoryError:
        print("error: out of memory; use --low-memory, --dtype bfloat16 or a shorter --duration", file=sys.stderr)
        return 2
    except OSError as e:
        print(f"error: {e.strerror or e}{f': {e.filename}' if e.filename else ''}", file=sys.stderr)
        return 2


def _generate(args: argparse.Namespace) -> int:

    started = time.monotonic()
    job = build_job(args)
    import torch

    from .pipeline import AceStepPipeline
    from .prerequisites import checkpoint_cache, find_prerequisites
    from .progress import ReportingPipeline, StepBar
    from .settings import SamplingPolicy
    from .plan_report import plan_run

    call = job.call
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    lyric_texts = (call.get("lyrics"), call.get("edit_target_lyrics"))
    found = find_prerequisites(args.checkpoint, args.lyric_vocab, args.cache_dir,
                               needs_vocab=any(isinstance(t, str) and t.strip() for t in lyric_texts))
    seeds, retake, drawn = fix_seeds_and_duration(call)
    policy = SamplingPolicy(batch_guidance=args.batch_guidance, guidance_cache_interval=job.cache_interval)
    seconds = output_seconds(call, job)
    low_memory = plan_run(args, job, found.checkpoint, found.vocab, device, seeds, retake, drawn, seconds)
    pipe = AceStepPipeline.from_pretrained(found.checkpoint.root, dtype=args.dtype, device=device,
                                           lyric_vocab=found.vocab, cpu_offload=args.cpu_offload,
                                           low_memory=low_memory, cache_dir=checkpoint_cache(args.cache_dir))
    pipe = ReportingPipeline.around(pipe, {"text_encoder": "the text encoder (UMT5)",
                                           "transformer": "the transformer (DiT)",
                                           "codec": "the decoder (DCAE + vocoder)"}, low_memory=low_memory)
    bar = StepBar("sampling", "step")
    try:
        out = pipe(**call, callback=bar, policy=policy,
                   decode_mode="overlapped" if args.overlapped_decode else "plain")
    finally:
        bar.close()
    real = out.waveforms.shape[-1] / out.sample_rate
    files = ", ".join(out.paths)
    seed_text = ", ".join(str(s) for s in out.params["actual_seeds"])
    print(f"wrote {files}: {real:.2f} s, seed{'s' if len(out.params['actual_seeds']) > 1 else ''} {seed_text}, "
          f"{call['task']}, took {_took(time.monotonic() - started)}", flush=True)
    return 0


def _took(seconds: float) -> str:
    from .costs import human_seconds

    return human_seconds(seconds)


if __name__ == "__main__":
    sys.exit(main())
