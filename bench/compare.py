"""Error of one saved output against a reference, in the golden fixtures' units (not a test).

``python bench/compare.py REF.pt OURS.pt`` prints max|Δ|/rms(ref) (the golden rule) and
rms(Δ)/rms(ref). Outputs come from ``bench/worker.py ... --save-output FILE`` (dit, decode).
"""
from __future__ import annotations

import json
import sys

import torch


def errors(ref: torch.Tensor, ours: torch.Tensor) -> dict:
    ref, ours = ref.double(), ours.double()
    n = min(ref.shape[-1], ours.shape[-1])
    if ref.shape != ours.shape:
        ref, ours = ref[..., :n], ours[..., :n]
    rms = ref.pow(2).mean().sqrt().item()
    d = ours - ref
    return {"max_rel_to_rms": d.abs().max().item() / rms, "rms_rel": d.pow(2).mean().sqrt().item() / rms,
            "bitwise_equal": bool(torch.equal(ref, ours)), "shape": list(ref.shape)}


if __name__ == "__main__":
    a, b = torch.load(sys.argv[1]), torch.load(sys.argv[2])
    print(json.dumps(errors(a, b)))
