#!/usr/bin/env python3
"""Writes short-running copies of the shipped workflows for a quick CI execution check.

    python tools/workflows/ci_variant.py --object-info OBJECT_INFO.json --out build/ci-workflows \
        [--steps 8] [--seconds 10] [--extend-seconds 5]

Only numbers change, never the graph: sampler steps are capped at --steps, empty latents at --seconds,
extend regions at --extend-seconds per side. Everything else (nodes, links, seeds, text, the other
settings) is the shipped workflow's. The shipped files themselves are checked as they are (static checks
and the real frontend); tests/workflows_check.sh runs these copies only when ACESTEP_WORKFLOWS_FAST=1.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

WIDGET_TYPES = {"INT", "FLOAT", "STRING", "BOOLEAN", "COMBO"}


def widget_index(info: dict) -> dict[str, int]:
    """Position of each widget value in widgets_values (frontend 1.27 layout, as comfy_check.py reads it)."""
    inputs = info.get("input") or {}
    order = info.get("input_order") or {s: list((inputs.get(s) or {}).keys()) for s in ("required", "optional")}
    out, i = {}, 0
    for section in ("required", "optional"):
        for name in order.get(section) or []:
            spec = (inputs.get(section) or {}).get(name)
            if spec is None:
                continue
            t = "COMBO" if isinstance(spec[0], list) else spec[0]
            opts = spec[1] if len(spec) > 1 and isinstance(spec[1], dict) else {}
            if t not in WIDGET_TYPES or opts.get("forceInput"):
                continue
            out[name] = i
            i += 1
            if opts.get("control_after_generate") or (t == "INT" and name in ("seed", "noise_seed")):
                i += 1
            if opts.get("audio_upload"):
                i += 2
    return out


CAPS = {  # node type -> {widget: which cap}
    "AceStepV1Sampler": {"steps": "steps"},
    "AceStepV1FlowEditSampler": {"steps": "steps"},
    "AceStepV1EmptyLatent": {"seconds": "seconds"},
    "EmptyAceStepLatentAudio": {"seconds": "seconds"},
    "AceStepV1ExtendRegion": {"left_seconds": "extend", "right_seconds": "extend"},
}


def shorten(wf: dict, oi: dict, caps: dict[str, float]) -> list[str]:
    changes = []
    for node in wf.get("nodes", []):
        wanted = CAPS.get(node.get("type"))
        if not wanted or node.get("type") not in oi:
            continue
        index = widget_index(oi[node["type"]])
        values = node.get("widgets_values")
        for name, cap in wanted.items():
            i = index.get(name)
            if i is None or not isinstance(values, list) or i >= len(values):
                raise SystemExit(f"{node['type']}: no widget value for {name}")
            v = values[i]
            if isinstance(v, (int, float)) and v > caps[cap]:
                values[i] = type(v)(caps[cap]) if isinstance(v, int) and cap == "steps" else caps[cap]
                changes.append(f"#{node['id']} {node['type']}.{name} {v} -> {values[i]}")
    return changes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--object-info", required=True)
    ap.add_argument("--src", default=str(Path(__file__).resolve().parents[2] / "workflows"))
    ap.add_argument("--out", required=True)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--extend-seconds", type=float, default=5.0)
    args = ap.parse_args()
    oi = json.loads(Path(args.object_info).read_text())
    caps = {"steps": args.steps, "seconds": args.seconds, "extend": args.extend_seconds}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("*.json"):
        old.unlink()
    for path in sorted(Path(args.src).glob("*.json")):
        wf = json.loads(path.read_text(encoding="utf-8"))
        changes = shorten(wf, oi, caps)
        (out / path.name).write_text(json.dumps(wf, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        print(f"{path.name}: " + ("; ".join(changes) if changes else "unchanged"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
