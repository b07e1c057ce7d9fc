"""Mask nodes: a repaint region (start/end seconds) and an extension (left/right seconds).

Each returns the LATENT for the sampler: the same samples (repaint) or the source padded with
zero frames (extend), a standard `noise_mask` (1 = regenerated), and our record of the region in
seconds, which is what the original's repaint/extend take. The frame arithmetic, the limits and
the errors are acestep_core's (`Repaint.frame_range`, `Extend.layout`), so the padded length is
exactly the one the sampler will produce.
"""
from __future__ import annotations

import torch

from ..acestep_core import Extend, Repaint
from ..acestep_core.audio import seconds_for_frames

from ._comfy import CATEGORY, io
from .convert import AceStepInputError, ace_latent, latent_meta, make_latent, region_is_current


def source_seconds(latent: dict, frames: int) -> float:
    """The source's duration: recorded by AceStepV1AudioToLatent, else the latent's frames."""
    meta = latent_meta(latent)
    sec = meta.get("source_seconds")
    if isinstance(sec, (int, float)) and sec > 0:
        return float(sec)
    return seconds_for_frames(frames)


def check_no_region(latent: dict) -> None:
    """One region per sampling; a region a native node cut or joined no longer applies and is replaced."""
    region = latent_meta(latent).get("region")
    if region_is_current(region, latent["samples"]):
        raise AceStepInputError(
            f"this latent already has a {region.get('task')} region; sample it first (one region per sampling).")


def _new_frames_mask(total: int, left: int, right: int) -> torch.Tensor:
    """The extend's noise_mask [1, 1, 16, total]: 1 on the added frames (the core's mask, item 0)."""
    mask = torch.zeros((1, 1, 16, total))
    mask[..., :left] = 1.0
    mask[..., total - right:] = 1.0
    return mask


def _seconds(frames: int) -> str:
    return f"{seconds_for_frames(frames):.2f} s"


class RepaintRegion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1RepaintRegion",
            display_name="ACE-Step v1 Repaint Region",
            category=CATEGORY,
            description=("Marks [start, end) seconds of a song's latent to be regenerated (the original's repaint). "
                         "The sampler then regenerates that range and keeps the rest: connect AceStepV1VariationNoise "
                         "to it, whose retake seed and variance (the repaint strength) the original uses."),
            inputs=[
                io.Latent.Input("latent", tooltip="The song's latent (AceStepV1AudioToLatent or a sampler output)."),
                io.Float.Input("start_seconds", default=0.0, min=0.0, max=240.0, step=0.01,
                               tooltip="Start of the range to regenerate, in seconds (the original's repaint_start)."),
                io.Float.Input("end_seconds", default=30.0, min=0.0, max=240.0, step=0.01,
                               tooltip=("End of the range, in seconds (the original's repaint_end; its UI default is "
                                        "30). Must lie inside the song; to add audio use AceStepV1ExtendRegion.")),
            ],
            outputs=[io.Latent.Output(tooltip="The latent with the repaint region (and a noise_mask) attached.")],
        )

    @classmethod
    def validate_inputs(cls, start_seconds=None, end_seconds=None) -> bool | str:
        if start_seconds is not None and end_seconds is not None and end_seconds <= start_seconds:
            return f"end_seconds ({end_seconds}) must be greater than start_seconds ({start_seconds})."
        return True

    @classmethod
    def execute(cls, latent, start_seconds: float, end_seconds: float) -> io.NodeOutput:
        samples = ace_latent(latent)
        check_no_region(latent)
        total = int(samples.shape[-1])
        try:
            s, e = Repaint(samples, float(start_seconds), float(end_seconds)).frame_range()
        except ValueError as err:
            raise AceStepInputError(str(err)) from None
        if e > total:
            raise AceStepInputError(
                f"repaint range ends at {end_seconds} s, past the end of the latent ({_seconds(total)}, {total} "
                "frames). Lower end_seconds, or use AceStepV1ExtendRegion to add audio after the song.")
        mask = torch.zeros((1, 1, 16, total))
        mask[..., s:e] = 1.0
        meta = latent_meta(latent)
        meta["region"] = {"task": "repaint", "start": float(start_seconds), "end": float(end_seconds), "frames": total}
        return io.NodeOutput(make_latent(samples, meta, noise_mask=mask))


class ExtendRegion(io.ComfyNode):
    @classmethod
    def define_schema(cls) -> io.Schema:
        return io.Schema(
            node_id="AceStepV1ExtendRegion",
            display_name="ACE-Step v1 Extend Region",
            category=CATEGORY,
            description=("Pads a song's latent with new frames before and/or after it (the original's extend: "
                         "repaint_start = -left, repaint_end = song length + right). The sampler generates the new "
                         "frames and keeps the song; connect AceStepV1VariationNoise (the original's extend uses "
                         "variance 1.0). Each side can add at most the song's own length; at most 240 s in total."),
            inputs=[
                io.Latent.Input("latent", tooltip="The song's latent (AceStepV1AudioToLatent or a sampler output)."),
                io.Float.Input("left_seconds", default=0.0, min=0.0, max=240.0, step=0.01,
                               tooltip="Seconds to add before the song (the original's UI default 0)."),
                io.Float.Input("right_seconds", default=30.0, min=0.0, max=240.0, step=0.01,
                               tooltip=("Seconds to add after the song (the original's UI default 30). With both sides "
                                        "set, the original measures the right side after the left padding.")),
            ],
            outputs=[io.Latent.Output(tooltip="The padded latent with the new frames marked (noise_mask).")],
        )

    @classmethod
    def validate_inputs(cls, left_seconds=None, right_seconds=None) -> bool | str:
        if left_seconds is not None and right_seconds is not None and left_seconds <= 0 and right_seconds <= 0:
            return "set left_seconds and/or right_seconds above 0: nothing would be added."
        return True

    @classmethod
    def execute(cls, latent, left_seconds: float, right_seconds: float) -> io.NodeOutput:
        samples = ace_latent(latent)
        check_no_region(latent)
        if left_seconds < 0 or right_seconds < 0:
            raise AceStepInputError("left_seconds and right_seconds must be >= 0.")
        frames = int(samples.shape[-1])
        start = -float(left_seconds)
        end = source_seconds(latent, frames) + float(right_seconds)
        task = Extend(samples[:1], start, end, 1.0)
        try:
            left, right = task.layout()  # the core's own layout and its errors
        except ValueError as err:
            raise AceStepInputError(str(err)) from None
        padded = torch.nn.functional.pad(samples, (left, right))
        mask = _new_frames_mask(int(padded.shape[-1]), left, right)
        meta = {"region": {"task": "extend", "start": start, "end": end, "source": samples,
                           "frames": int(padded.shape[-1]), "left": left, "right": right}}
        return io.NodeOutput(make_latent(padded, meta, noise_mask=mask))


NODES = [RepaintRegion, ExtendRegion]
