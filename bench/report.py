"""Summarise ``bench/results.jsonl`` as markdown tables with ratios against the original (not a test).

``python bench/report.py [results.jsonl] [--label SUBSTR[,SUBSTR...]]`` — one row per (part, seconds, dtype,
impl, label, switches), the best (min) time of all matching runs, its cpu-equiv time, GFLOP/s and
share of the best GEMM peak seen (cpu-equiv basis), peak RSS, and ratios to ``upstream``.
"""
from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

HERE = Path(__file__).resolve().parent
AUDIO = {"dit", "decode", "dcae", "vocoder", "song"}


def cpu_equiv(r: dict) -> float | None:
    if r.get("cpu_s"):
        return r["cpu_s"] / (r.get("threads") or 1)
    return None


def load(path: Path, label: str | None) -> list[dict]:
    rows = []
    for line in path.read_text().splitlines():
        if not line.strip():
            continue
        r = json.loads(line)
        if "error" in r or (label and not any(x in (r.get("label") or "") for x in label.split(","))):
            continue
        rows.append(r)
    return rows


def peaks(rows: list[dict]) -> dict[tuple[str, int], float]:
    """Best GEMM GFLOP/s (cpu-equiv) per (dtype, threads)."""
    out: dict[tuple[str, int], float] = {}
    for r in rows:
        if r["part"] == "gemm":
            g = r.get("gflops_cpu_equiv") or r.get("gflops")
            key = (r["dtype"], r.get("threads") or 1)
            out[key] = max(out.get(key, 0.0), g)
    return out


def key(r: dict) -> tuple:
    variant = []
    if r.get("batch_channels"):
        variant.append("batched channels")
    if r.get("mode") not in (None, "plain"):
        variant.append(r["mode"])
    if r.get("switches"):
        variant.extend(r["switches"])
    if r.get("low_memory"):
        variant.append("low_memory")
    return (r["part"], r["seconds"], r["dtype"], r.get("threads") or 1, r["impl"], "; ".join(variant))


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("path", nargs="?", default=str(HERE / "results.jsonl"))
    p.add_argument("--label", default=None)
    args = p.parse_args(argv)
    rows = load(Path(args.path), args.label)
    pk = peaks(rows)
    best: dict[tuple, dict] = {}
    times: dict[tuple, list] = defaultdict(list)
    for r in rows:
        if r["part"] == "gemm":
            continue
        k = key(r)
        times[k].append(r)
        if k not in best or r["time_s"] < best[k]["time_s"]:
            best[k] = r
    # best cpu-equiv separately (min over runs)
    print("| part | audio s | dtype | thr | impl | variant | time s | cpu-equiv s | × upstream (wall / cpu) "
          "| RTF | GFLOP/s | % peak | peak RSS GB | runs | load |")
    print("|" + "---|" * 15)
    for k in sorted(best, key=lambda k: (k[0], k[1], k[2], k[3], {"upstream": 0, "before": 1, "ours": 2}.get(k[4], 3), k[5])):
        r = best[k]
        ce = min((cpu_equiv(x) for x in times[k] if cpu_equiv(x)), default=None)
        up = best.get((k[0], k[1], k[2], k[3], "upstream", ""))
        ratio = "—"
        if up is not None and k[4] != "upstream":
            up_ce = min((cpu_equiv(x) for x in times[(k[0], k[1], k[2], k[3], "upstream", "")] if cpu_equiv(x)),
                        default=None)
            ratio = f"{r['time_s'] / up['time_s']:.2f} / " + (f"{ce / up_ce:.2f}" if ce and up_ce else "—")
        audio = k[1] if k[0] in AUDIO else None
        flops = r.get("flops")
        gfl = flops / ce / 1e9 if flops and ce else None
        peak = pk.get((k[2], k[3]))
        pct = f"{100 * gfl / peak:.0f}" if gfl and peak else "—"
        rtf = f"{audio / r['time_s']:.2f}" if audio else "—"
        loads = ", ".join(f"{x.get('load_before', 0):.0f}" for x in times[k])
        print(f"| {k[0]} | {audio if audio is not None else '—'} | {k[2]} | {k[3]} | {k[4]} | {k[5] or '—'} "
              f"| {r['time_s']:.2f} | {ce:.2f} | {ratio} | {rtf} | {f'{gfl:.0f}' if gfl else '—'} | {pct} "
              f"| {r['peak_rss_gb']:.2f} | {len(times[k])} | {loads} |" if ce else
              f"| {k[0]} | {audio if audio is not None else '—'} | {k[2]} | {k[3]} | {k[4]} | {k[5] or '—'} "
              f"| {r['time_s']:.2f} | — | {ratio} | {rtf} | — | — | {r['peak_rss_gb']:.2f} | {len(times[k])} | {loads} |")
    if pk:
        print()
        print("GEMM peaks (cpu-equiv GFLOP/s): " + ", ".join(f"{d} ×{t} threads: {g:.0f}" for (d, t), g in sorted(pk.items())))


if __name__ == "__main__":
    main()
