"""ACE-Step v1 benchmark driver (not a test): runs each measurement in a fresh process, prints a table.

Examples::

    python bench/run.py --part dit --seconds 10 --dtype float32
    python bench/run.py --part dit decode --seconds 10 30 60 --dtype float32 bfloat16 --impl ours upstream
    python bench/run.py --part song --seconds 10 --low-memory

Parts: ``gemm`` (this host's matmul peak), ``dit`` (one denoising pass of the full-width DiT),
``decode`` (DCAE + vocoder + resample to 48 kHz stereo), ``dcae``, ``vocoder``, ``lyric`` (lyric
Conformer), ``text`` (UMT5-base), ``load`` (DiT from the checkpoint folder), ``song`` (whole text2music). Implementations: ``ours`` (this
checkout), ``before`` (``acestep_core`` from ``$ACESTEP_BEFORE``, a snapshot to compare against),
``upstream`` (the original code in ``$ACESTEP_UPSTREAM`` run by ``$ACESTEP_UPSTREAM_PYTHON``).
Every result is appended to ``--out`` (JSON lines) with ``--label``. See bench/README.md.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
UPSTREAM_PYTHON = os.environ.get("ACESTEP_UPSTREAM_PYTHON", "/tmp/upstream-venv/bin/python")
BEFORE = os.environ.get("ACESTEP_BEFORE", "/tmp/bench-before")
AUDIO_PARTS = {"dit", "decode", "dcae", "vocoder", "song", "train"}  # parts whose size is an audio duration


def host() -> str:
    cpu = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, {platform.system()} {platform.release()}"


def run_one(part: str, impl: str, seconds: float, dtype: str, extra: list[str], timeout: int) -> dict:
    env = dict(os.environ)
    py = sys.executable
    worker_impl = impl
    if impl == "upstream":
        py = UPSTREAM_PYTHON
    elif impl == "before":
        env["PYTHONPATH"] = BEFORE + os.pathsep + env.get("PYTHONPATH", "")
        worker_impl = "ours"
    cmd = [py, str(HERE / "worker.py"), "--part", part, "--impl", worker_impl, "--seconds", str(seconds),
           "--dtype", dtype, *extra]
    try:
        proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"part": part, "impl": impl, "seconds": seconds, "dtype": dtype, "error": f"timeout {timeout}s"}
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH_RESULT "):
            res = json.loads(line[len("BENCH_RESULT "):])
            res["impl"] = impl
            return res
    tail = (proc.stderr or proc.stdout).strip().splitlines()[-3:]
    return {"part": part, "impl": impl, "seconds": seconds, "dtype": dtype, "error": " | ".join(tail)[-300:]}


def fmt(v, spec=".2f", none="—"):
    return none if v is None else format(v, spec)


def table(rows: list[dict], peaks: dict) -> str:
    head = ("| part | impl | audio s | dtype | time s | cpu-equiv s | s per audio s | RTF | GFLOP/s | % GEMM peak "
            "| peak RSS GB | load | note |")
    # GFLOP/s and the GEMM peak are both on the cpu-equiv basis (CPU s ÷ threads) when available:
    # on a shared host that compares like with like; unloaded, it equals the wall-clock figure.
    out = [head, "|" + "---|" * 13]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['part']} | {r['impl']} | {r['seconds']:g} | {r['dtype']} | error: {r['error']} |"
                       + " |" * 8)
            continue
        t = r["time_s"]
        threads = r.get("threads") or 1
        cpu_eq = r["cpu_s"] / threads if r.get("cpu_s") else None
        audio = r["seconds"] if r["part"] in AUDIO_PARTS else None
        gflops = r.get("gflops_cpu_equiv") or r.get("gflops")
        peak = peaks.get(r["dtype"])
        pct = 100 * gflops / peak if gflops and peak and r["part"] != "gemm" else None
        notes = []
        if r.get("sys_s"):  # kernel time: mostly page faults of fresh mappings (RESULTS.md, decode)
            notes.append(f"kernel {r['sys_s']:.1f}s, {r.get('page_faults', 0) / 1e6:.1f}M faults")
        if r.get("heap_gb"):
            notes.append(f"{r['heap_gb']:g} GB free heap")
        if r.get("context_s") is not None:
            notes.append(f"+{r['context_s']:.1f}s K/V once")
        if r.get("batch_channels"):
            notes.append("batched channels")
        if r.get("mode") and r["mode"] != "plain":
            notes.append(r["mode"])
        if r.get("dit_passes"):
            notes.append(f"{r['dit_passes']} DiT passes, load {r.get('load_s', 0):.0f}s")
        if r.get("lora_rank"):
            notes.append(f"LoRA r {r['lora_rank']}, " + ("checkpointing" if r.get("grad_checkpointing")
                                                          else "no checkpointing"))
        if r.get("switches"):
            notes.append(",".join(r["switches"]))
        if r.get("label"):
            notes.append(r["label"])
        out.append(
            f"| {r['part']} | {r['impl']} | {fmt(audio, 'g')} | {r['dtype']} | {t:.2f} | {fmt(cpu_eq)} "
            f"| {fmt(t / audio if audio else None, '.3f')} | {fmt(audio / t if audio else None, '.2f')} "
            f"| {fmt(gflops, '.0f')} | {fmt(pct, '.0f')} | {r['peak_rss_gb']:.2f} "
            f"| {r.get('load_before', 0):.1f} | {'; '.join(notes)} |")
    return "\n".join(out)


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--part", nargs="+", default=["dit"],
                   choices=["gemm", "dit", "decode", "dcae", "vocoder", "lyric", "text", "load", "song", "train",
                            "all"])
    p.add_argument("--seconds", nargs="+", type=float, default=[10.0])
    p.add_argument("--dtype", nargs="+", default=["float32"], choices=["float32", "bfloat16", "float16"])
    p.add_argument("--impl", nargs="+", default=["ours"], choices=["ours", "before", "upstream"])
    p.add_argument("--repeat", type=int, default=2, help="timed calls per measurement (min is reported)")
    p.add_argument("--timeout", type=int, default=1800, help="seconds per measurement process")
    p.add_argument("--no-peak", action="store_true", help="skip the GEMM peak measurement")
    p.add_argument("--label", default="", help="free text stored with the results (e.g. 'before', 'after X')")
    p.add_argument("--out", default=str(HERE / "results.jsonl"))
    p.add_argument("worker_args", nargs=argparse.REMAINDER,
                   help="after --: passed to bench/worker.py (e.g. -- --batch-channels --mode chunked)")
    args = p.parse_args(argv)
    parts = ["dit", "decode", "dcae", "vocoder", "lyric", "text", "song"] if "all" in args.part else args.part
    extra = [a for a in args.worker_args if a != "--"] + ["--repeat", str(args.repeat)]
    stamp = datetime.datetime.now().isoformat(timespec="seconds")
    print(f"# {stamp}  host: {host()}", flush=True)

    peaks: dict[str, float] = {}
    rows = []
    if not args.no_peak or "gemm" in parts:
        for dt in args.dtype:
            r = run_one("gemm", "ours", 0, dt, ["--repeat", "3"], args.timeout)
            if "error" not in r:
                peaks[dt] = r.get("gflops_cpu_equiv") or r["gflops"]
                print(f"# GEMM peak {dt}: {r['gflops']:.0f} GFLOP/s wall, {peaks[dt]:.0f} cpu-equiv "
                      f"(n={r['n']}, load {r['load_before']:.1f})", flush=True)
            r["label"], r["stamp"], r["host"] = args.label, stamp, host()
            rows.append(r)
            with open(args.out, "a") as f:
                f.write(json.dumps(r) + "\n")
    for part in parts:
        if part == "gemm":
            continue
        sizes = args.seconds if part in AUDIO_PARTS else [0]
        for seconds in sizes:
            for dt in args.dtype:
                for impl in args.impl:
                    r = run_one(part, impl, seconds, dt, extra, args.timeout)
                    r["label"], r["stamp"], r["host"] = args.label, stamp, host()
                    if peaks.get(dt):
                        r["gemm_peak"] = peaks[dt]
                    rows.append(r)
                    with open(args.out, "a") as f:
                        f.write(json.dumps(r) + "\n")
                    print(table([r], peaks).splitlines()[-1], flush=True)
    print()
    print(table([r for r in rows if r.get("part") != "gemm"], peaks))


if __name__ == "__main__":
    main()
