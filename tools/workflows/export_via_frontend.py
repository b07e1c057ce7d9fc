#!/usr/bin/env python3
"""Passes workflow drafts through the real ComfyUI frontend and writes what it serializes.

    /tmp/harness-venv/bin/python tools/workflows/export_via_frontend.py DRAFT.json ... --out workflows/ \
        --model acestep/ACE-Step-v1-3.5B:/tmp/acestep-tiny-ckpt \
        --model loras/ACE-Step-v1-chinese-rap-LoRA:../shared/golden/tiny_lora --input /tmp/example.flac

Starts a private ComfyUI (`--base-directory` in a temporary folder holding links to this pack, the
models and the inputs; the shared ComfyUI checkout is not touched), opens its frontend in headless
Chromium, and for each draft: loads it with `app.loadGraphData`, grows any node smaller than the
frontend's minimum size, and writes `(await app.graphToPrompt()).workflow` — the same object the
frontend's "Export" writes — with a view (`extra.ds`) that fits the whole graph. Also writes a PNG of
each canvas next to `--shots` if given. Needs `setup_comfyui.sh` (COMFY_DIR, COMFY_VENV, playwright).
`--pack FOLDER` links another custom node pack into the private ComfyUI (drafts that use its nodes);
`--object-info FILE` writes that server's `/object_info` (for `build_workflows.py`; no drafts needed then).
"""
from __future__ import annotations

import argparse
import json
import sys
import urllib.request
from pathlib import Path

from private_comfy import open_frontend, private_comfy  # noqa: E402

JS_EXPORT = """async ({wf, name, viewport}) => {
  const app = window.app;
  await app.loadGraphData(wf, true, true, name, {showMissingNodesDialog: false, showMissingModelsDialog: false});
  await new Promise(r => setTimeout(r, 800));
  const grown = [];
  for (const node of app.graph.nodes) {
    const min = node.computeSize ? node.computeSize() : null;
    if (min && (node.size[0] < min[0] - 0.5 || node.size[1] < min[1] - 0.5)) {
      grown.push([node.id, node.type, [...node.size], [...min]]);
      node.setSize([Math.max(node.size[0], min[0]), Math.max(node.size[1], min[1])]);
    }
  }
  const p = await app.graphToPrompt();
  const out = p.workflow;
  let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
  for (const n of app.graph.nodes) {
    const b = n.getBounding();
    x0 = Math.min(x0, b[0]); y0 = Math.min(y0, b[1]); x1 = Math.max(x1, b[0] + b[2]); y1 = Math.max(y1, b[1] + b[3]);
  }
  const [W, H] = viewport, m = 40;
  const scale = Math.max(0.3, Math.min(1, (W - 2 * m) / (x1 - x0), (H - 2 * m) / (y1 - y0)));
  out.extra = out.extra || {};
  out.extra.ds = {scale: Math.round(scale * 1000) / 1000,
                  offset: [Math.round((W / scale - (x1 - x0)) / 2 - x0), Math.round((H / scale - (y1 - y0)) / 2 - y0)]};
  const errors = app.graph.nodes.filter(n => n.has_errors).map(n => n.id);
  // JSON.stringify as the frontend's Export does: it drops undefined fields (null would break the schema)
  return {workflow: JSON.stringify(out), grown, errors, bounds: [x0, y0, x1, y1], scale};
}"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("drafts", nargs="*")
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", action="append", default=[], metavar="FOLDER/NAME:PATH")
    ap.add_argument("--input", action="append", default=[])
    ap.add_argument("--pack", action="append", default=[], metavar="FOLDER",
                    help="another custom node pack the drafts use (e.g. an unpacked ComfyUI-Distributed)")
    ap.add_argument("--object-info", metavar="FILE", help="also write the private server's /object_info here")
    ap.add_argument("--port", type=int, help="port of the private ComfyUI (default: a free one)")
    ap.add_argument("--shots", help="folder for one PNG per workflow")
    ap.add_argument("--viewport", default="1600x1000")
    args = ap.parse_args()
    W, H = (int(v) for v in args.viewport.split("x"))
    from playwright.sync_api import sync_playwright

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    problems = 0
    with private_comfy(args.model, args.input, packs=args.pack, port=args.port) as server, sync_playwright() as p:
        if args.object_info:
            with urllib.request.urlopen(server.url + "/object_info", timeout=120) as r:
                Path(args.object_info).write_bytes(r.read())
        browser, page, console = open_frontend(p, server.url, (W, H))
        for draft in args.drafts:
            name = Path(draft).name
            wf = json.loads(Path(draft).read_text(encoding="utf-8"))
            res = page.evaluate(JS_EXPORT, {"wf": wf, "name": name, "viewport": [W, H]})
            res["workflow"] = json.loads(res["workflow"])
            (out / name).write_text(json.dumps(res["workflow"], indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
            note = f"grew {len(res['grown'])} node(s)" if res["grown"] else "sizes kept"
            print(f"{out / name}: {len(res['workflow']['nodes'])} nodes, {note}, view scale {res['scale']:.2f}")
            if res["errors"]:
                problems += 1
                print(f"  nodes with errors: {res['errors']}")
            if args.shots:
                Path(args.shots).mkdir(parents=True, exist_ok=True)
                page.wait_for_timeout(1200)
                page.screenshot(path=str(Path(args.shots) / (Path(name).stem + ".png")))
        browser.close()
    for e in console:
        if e["type"] in ("error", "pageerror", "warning"):
            print(f"console [{e['type']}] {e['text']} {e['url']}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
