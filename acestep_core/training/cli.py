"""`train-lora`: train an ACE-Step LoRA on a folder of songs from the command line.

    python -m acestep_core.training.cli train-lora --data my_songs --config lora.json \\
        --checkpoint ACE-Step/ACE-Step-v1-3.5B --out runs/my_lora --max-steps 2000 --device cuda --dtype bfloat16

Shows a progress bar (step, loss, time left) and ends with where the LoRA is. `main(argv)` returns
the exit status: 0 done, 1 a problem the message explains, 130 interrupted.
"""
from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence

from .config import TrainConfig


def build_parser() -> argparse.ArgumentParser:
    d = TrainConfig(data="", lora_config="", out="")
    p = argparse.ArgumentParser(prog="train-lora", description="Train a LoRA for ACE-Step v1 (the original "
                                "trainer's recipe) on a folder of NAME.mp3|wav|flac + NAME_prompt.txt + "
                                "NAME_lyrics.txt.")
    p.add_argument("--data", required=True, help="folder of songs with their _prompt.txt and _lyrics.txt")
    p.add_argument("--config", required=True, help="LoRA config JSON (r, lora_alpha, target_modules, use_rslora)")
    p.add_argument("--checkpoint", default=None, help="ACE-Step checkpoint folder, all-in-one file or HF repo id "
                   "(default: the official repo)")
    p.add_argument("--out", required=True, help="output folder: one subfolder per checkpoint")
    p.add_argument("--max-steps", type=int, default=None, help="optimizer steps (the learning rate decays to 0 here)")
    p.add_argument("--max-epochs", type=int, default=None, help="stop after this many passes over the data")
    p.add_argument("--seed", type=int, default=d.seed)
    p.add_argument("--save-every", type=int, default=d.save_every, help="write a checkpoint every N steps")
    p.add_argument("--learning-rate", type=float, default=d.learning_rate)
    p.add_argument("--warmup-steps", type=int, default=d.warmup_steps)
    p.add_argument("--batch-size", type=int, default=d.batch_size)
    p.add_argument("--accumulate", type=int, default=d.accumulate, help="micro-batches per optimizer step")
    p.add_argument("--repeat", type=int, default=d.repeat, help="times each song appears per epoch")
    p.add_argument("--tag-orders", type=int, default=d.tag_orders,
                   help="shuffled orders of each song's tags, the next one at each read (1: as written)")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in --out")
    p.add_argument("--dtype", default=d.dtype, help="base weights: float32, bfloat16 or float16")
    p.add_argument("--device", default=d.device, help="cpu, cuda, cuda:1, mps ...")
    p.add_argument("--no-gradient-checkpointing", action="store_true", help="faster, more memory")
    p.add_argument("--skip-bad-data", action="store_true", help="train without unusable songs instead of stopping")
    p.add_argument("--lyric-vocab", default=None, help="the lyric tokenizer's vocab.json")
    p.add_argument("--cache-dir", default=None, help="where a checkpoint repo id is downloaded")
    return p


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    return TrainConfig(data=args.data, lora_config=args.config, out=args.out, checkpoint=args.checkpoint,
                       max_steps=args.max_steps, max_epochs=args.max_epochs, seed=args.seed,
                       save_every=args.save_every, learning_rate=args.learning_rate, warmup_steps=args.warmup_steps,
                       batch_size=args.batch_size, accumulate=args.accumulate, repeat=args.repeat,
                       tag_orders=args.tag_orders,
                       resume=args.resume, dtype=args.dtype, device=args.device,
                       gradient_checkpointing=not args.no_gradient_checkpointing,
                       on_bad_data="skip" if args.skip_bad_data else "error", lyric_vocab=args.lyric_vocab,
                       cache_dir=args.cache_dir)


def main(argv: Sequence[str] | None = None) -> int:
    """Run `train-lora`; the first argument may be the command name itself."""
    from tqdm import tqdm

    from .loop import train_lora

    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "train-lora":
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    config = config_from_args(args)
    bar = None
    start = time.monotonic()

    def on_step(report) -> None:
        nonlocal bar
        if bar is None:
            bar = tqdm(total=report.total, initial=report.step - 1, unit="step", dynamic_ncols=True)
        bar.update(1)
        bar.set_postfix(loss=f"{report.loss:.4f}", lr=f"{report.learning_rate:.2e}", epoch=report.epoch)
        if report.saved is not None:
            bar.write(f"saved {report.saved}")

    def on_message(text: str) -> None:
        (bar.write if bar is not None else print)(text)

    try:
        result = train_lora(config, on_step=on_step, on_message=on_message)
    except KeyboardInterrupt:
        print("\ninterrupted; continue later with --resume (from the newest checkpoint in --out)", file=sys.stderr)
        return 130
    except (ValueError, OSError, FloatingPointError) as e:
        if bar is not None:
            bar.close()
        print(f"train-lora: {e}", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            bar.close()
    minutes = (time.monotonic() - start) / 60
    last = f"{result.losses[-1]:.4f}" if result.losses else "n/a"
    print(f"trained {result.steps} steps on {len(result.songs)} song(s) in {minutes:.1f} min (last loss {last}); "
          f"{len(result.skipped)} skipped.")
    print(f"LoRA: {result.final}  (use it with --lora {result.final} / lora_name_or_path)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
