"""Draws the pack's registry icon (icon.png, square): a song's waveform in ACE-Step-like colours.

The Comfy Registry shows `[tool.comfy].Icon` (at most 800x400); we ship the image in the repository
so the URL there points at a file we made. Regenerate with any Python that has Pillow
(ComfyUI's venv has it):

    /tmp/comfy-venv/bin/python tools/make_icon.py icon.png
"""
from __future__ import annotations

import math
import sys

from PIL import Image, ImageDraw

SIZE = 400
BACKGROUND = (18, 20, 38)
LOW, HIGH = (64, 120, 255), (255, 92, 170)


def _mix(a: tuple[int, int, int], b: tuple[int, int, int], t: float) -> tuple[int, int, int]:
    return tuple(round(x + (y - x) * t) for x, y in zip(a, b))


def draw(size: int = SIZE) -> Image.Image:
    img = Image.new("RGB", (size, size), BACKGROUND)
    d = ImageDraw.Draw(img)
    margin = size // 10
    d.rounded_rectangle((margin // 2, margin // 2, size - margin // 2, size - margin // 2), radius=size // 8,
                        outline=(52, 58, 96), width=max(2, size // 100))
    bars = 23
    step = (size - 2 * margin) / bars
    mid = size / 2
    for i in range(bars):
        t = i / (bars - 1)
        # An envelope that swells like a verse into a chorus, with a little ripple on top.
        amp = 0.25 + 0.65 * math.sin(math.pi * t) ** 1.5 * (0.75 + 0.25 * math.cos(9 * t * math.pi))
        h = amp * (size / 2 - margin)
        x0 = margin + i * step + step * 0.18
        d.rounded_rectangle((x0, mid - h, x0 + step * 0.64, mid + h), radius=step * 0.3, fill=_mix(LOW, HIGH, t))
    return img


if __name__ == "__main__":
    out = sys.argv[1] if len(sys.argv) > 1 else "icon.png"
    draw().save(out, optimize=True)
    print(out)
