"""Template-browser thumbnails (workflows/<name>.jpg) from the frontend's own screenshots.

ComfyUI's template browser shows `<workflow>.jpg` beside each `workflows/<workflow>.json`.
comfy_check.py loads every shipped workflow in the real frontend and writes a 1600x1000 PNG of the
fitted canvas; this crops the app's chrome (tabs, toolbar, side bar) off and scales it down.

    /tmp/harness-venv/bin/python ../shared/comfyui/comfy_check.py . --out /tmp/cc --input example.flac ...
    /tmp/comfy-venv/bin/python tools/make_thumbnails.py /tmp/cc/screenshots workflows
"""
from __future__ import annotations

import sys
from pathlib import Path

from PIL import Image

WIDTH = 640
CHROME = (80, 90, 0, 90)  # pixels of app chrome at 1600x1000: left, top, right, bottom


def thumbnail(shot: Path, out: Path) -> None:
    img = Image.open(shot).convert("RGB")
    sx, sy = img.width / 1600, img.height / 1000
    left, top, right, bottom = CHROME
    img = img.crop((round(left * sx), round(top * sy), img.width - round(right * sx), img.height - round(bottom * sy)))
    img = img.resize((WIDTH, round(img.height * WIDTH / img.width)), Image.LANCZOS)
    img.save(out, "JPEG", quality=82, optimize=True)


def main(shots: Path, workflows: Path) -> int:
    missing = []
    for wf in sorted(workflows.glob("*.json")):
        shot = shots / f"{wf.stem}.png"
        if not shot.is_file():
            missing.append(wf.stem)
            continue
        thumbnail(shot, wf.with_suffix(".jpg"))
        print(wf.with_suffix(".jpg"))
    if missing:
        print(f"no screenshot for: {', '.join(missing)}", file=sys.stderr)
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]), Path(sys.argv[2])))
