#!/usr/bin/env python3
"""Drives the frontend extension like a user, in the real frontend, and checks what happened.

    /tmp/harness-venv/bin/python tools/workflows/ui_smoke.py --out DIR --model ... --input example.flac

1. repaint.json: waits for the waveform of example.flac, drags a new range on the Repaint Region picker
   and checks that start/end_seconds changed to values on the latent-frame grid;
2. extend.json: drags the right edge of the Extend Region picker and checks right_seconds;
3. text2music.json: sets multilingual lyrics (with an emoji), shortens the run (3 s, 2 steps), presses
   Run, waits for the languages report and checks that the lyrics editor shows detected languages
   instead of "auto" and flags the emoji;
4. long_song_chained_extends.json, shortened the same way: before a run each Extend Region shows the
   estimated length of the stage before it, after the run that stage's saved audio.
Writes a screenshot of each step into DIR and exits non-zero on a failed check or on a console error
that names the pack. Uses a private ComfyUI (see private_comfy.py).
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

from private_comfy import PACK, PACK_NAME, open_frontend, private_comfy  # noqa: E402

WORKFLOWS = PACK / "workflows"
FRAME = 4096 / 44100

JS_LOAD = """async ({wf, name}) => {
  await window.app.loadGraphData(wf, true, true, name, {showMissingNodesDialog: false, showMissingModelsDialog: false});
  await new Promise(r => setTimeout(r, 500));
}"""

# Client (page) coordinates of a time on a region picker, and the node's widget values.
JS_PICKER = """({type, times}) => {
  const app = window.app;
  const node = app.graph.nodes.find(n => n.type === type);
  const w = node.widgets.find(w => w.name === "region_picker");
  const ds = app.canvas.ds;
  ds.scale = 1; ds.offset[0] = 40 - node.pos[0]; ds.offset[1] = 80 - node.pos[1];
  app.canvas.setDirty(true, true); app.canvas.draw(true, true);
  const rect = app.canvas.canvas.getBoundingClientRect();
  const y = w.last_y ?? w.y;
  const width = node.size[0];
  const values = Object.fromEntries(node.widgets.filter(x => x.type === "number").map(x => [x.name, x.value]));
  return {y, width, values, rect: [rect.left, rect.top], pos: [...node.pos], offset: [...ds.offset], scale: ds.scale};
}"""

JS_WAVEFORM = """({type}) => {
  const node = window.app.graph.nodes.find(n => n.type === type);
  const st = node?.widgets?.find(w => w.name === "region_picker")?.pickerState?.();
  return !!st && st.waveform !== "loading" && st.waveform !== "none" ? st : null;
}"""

JS_VALUES = """({type}) => {
  const node = window.app.graph.nodes.find(n => n.type === type);
  return Object.fromEntries(node.widgets.filter(x => x.type === "number").map(x => [x.name, x.value]));
}"""


def on_grid(v: float) -> bool:
    """v is the smallest 0.01 s value of its latent frame (what the picker writes)."""
    f = int(v * 44100 / 512 / 8)
    return f == 0 and v == 0 or abs(v - round(v, 2)) < 1e-9 and int(round(v - 0.01, 2) * 44100 / 512 / 8) < f


def client_xy(info: dict, t: float, t0: float, t1: float, dy: float = 56) -> tuple[float, float]:
    """Page coordinates of time t on a picker spanning [t0, t1] (the widget's plot is 12 px inside)."""
    x_local = 12 + (t - t0) / (t1 - t0) * (info["width"] - 24)
    cx = (info["pos"][0] + x_local + info["offset"][0]) * info["scale"] + info["rect"][0]
    cy = (info["pos"][1] + info["y"] + dy + info["offset"][1]) * info["scale"] + info["rect"][1]
    return cx, cy


def wait_waveform(page, node_type: str, timeout_ms: int = 60000) -> dict:
    """The picker's state once its waveform has loaded (or failed), {} on timeout."""
    try:
        handle = page.wait_for_function(JS_WAVEFORM, arg={"type": node_type}, timeout=timeout_ms)
        return handle.json_value()
    except Exception:  # reported by the caller's check
        return {}


def history_count(page) -> int:
    return page.evaluate("async () => Object.keys(await (await fetch('/api/history')).json()).length")


def queue_and_wait(page, timeout_s: int) -> dict:
    """Presses Run (app.queuePrompt) and waits until that prompt is in the history: its status."""
    n0 = history_count(page)
    page.evaluate("() => window.app.queuePrompt(0, 1)")
    t0 = time.time()
    while time.time() - t0 < timeout_s:
        # (Playwright's wait_for_function takes a returned Promise as truthy: poll from here instead.)
        if history_count(page) > n0:
            break
        page.wait_for_timeout(1000)
    else:
        return {"status_str": "timeout"}
    page.wait_for_timeout(800)  # the last websocket events reach the page
    hist = page.evaluate("async () => await (await fetch('/api/history')).json()")
    last = list(hist.values())[-1]["status"]
    errors = [m[1].get("exception_message", "")[:300] for m in last.get("messages", []) if m[0] == "execution_error"]
    return {"status_str": last.get("status_str"), "errors": errors}


def drag(page, a, b, steps=8):
    page.mouse.move(*a)
    page.mouse.down()
    page.mouse.move(*b, steps=steps)
    page.mouse.up()
    page.wait_for_timeout(300)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--input", action="append", default=[])
    ap.add_argument("--timeout", type=int, default=600, help="seconds to wait for the short run")
    args = ap.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    failures: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(("ok   " if ok else "FAIL ") + what, flush=True)
        if not ok:
            failures.append(what)

    with private_comfy(args.model, args.input) as server, sync_playwright() as p:
        browser, page, console = open_frontend(p, server.url)

        # 1. repaint: a new range dragged on the waveform of the 3 s example
        page.evaluate(JS_LOAD, {"wf": json.loads((WORKFLOWS / "repaint.json").read_text()), "name": "repaint.json"})
        state = wait_waveform(page, "AceStepV1RepaintRegion")
        check(state.get("waveform") == "ready" and abs((state.get("duration") or 0) - 3.0) < 0.01,
              f"repaint: the picker shows example.flac's waveform ({state})")
        info = page.evaluate(JS_PICKER, {"type": "AceStepV1RepaintRegion", "times": []})
        before = info["values"]
        duration = 3.0
        drag(page, client_xy(info, 2.3, 0, duration), client_xy(info, 2.9, 0, duration))
        after = page.evaluate(JS_VALUES, {"type": "AceStepV1RepaintRegion"})
        page.screenshot(path=str(out / "repaint_after_drag.png"))
        s, e = after["start_seconds"], after["end_seconds"]
        check(before != after, f"repaint: dragging set the range ({before} -> {after})")
        check(2.2 <= s < e <= duration + FRAME, f"repaint: range {s}..{e} is where it was dragged")
        check(on_grid(s) and on_grid(e), f"repaint: {s} and {e} are on the latent-frame grid")

        # 2. extend: drag the right edge from +2.5 s to about +1 s
        page.evaluate(JS_LOAD, {"wf": json.loads((WORKFLOWS / "extend.json").read_text()), "name": "extend.json"})
        state = wait_waveform(page, "AceStepV1ExtendRegion")
        check(state.get("waveform") == "ready", f"extend: the picker shows the waveform ({state})")
        info = page.evaluate(JS_PICKER, {"type": "AceStepV1ExtendRegion", "times": []})
        t0, t1 = -3.0, 6.0  # a 3 s song: each side may add up to its length
        drag(page, client_xy(info, 3.0 + 2.5, t0, t1), client_xy(info, 3.0 + 1.0, t0, t1))
        after = page.evaluate(JS_VALUES, {"type": "AceStepV1ExtendRegion"})
        page.screenshot(path=str(out / "extend_after_drag.png"))
        r = after["right_seconds"]
        check(abs(r - 1.0) <= 2 * FRAME and on_grid(r), f"extend: right_seconds {r} ~ 1.0 s, on the grid")
        check(after["left_seconds"] == info["values"]["left_seconds"], "extend: left_seconds unchanged")

        # 3. text2music: run a short version, the editor shows the detected languages
        wf = json.loads((WORKFLOWS / "text2music.json").read_text())
        page.evaluate(JS_LOAD, {"wf": wf, "name": "text2music.json"})
        lyrics = "[verse]\nHello from the city lights\nBailamos bajo la luna llena\n我们一起唱到天亮\n\n[chorus]\nLa la la \U0001F600"
        page.evaluate("""({lyrics}) => {
          const g = window.app.graph;
          const set = (type, name, v) => { const n = g.nodes.find(n => n.type === type);
            const w = n.widgets.find(w => w.name === name); w.value = v; w.callback?.(v); };
          set("AceStepV1LyricsEncode", "lyrics", lyrics);
          set("AceStepV1EmptyLatent", "seconds", 3);
          set("AceStepV1Sampler", "steps", 2);
          const node = g.nodes.find(n => n.type === "AceStepV1LyricsEncode");
          const ds = window.app.canvas.ds; ds.scale = 1; ds.offset[0] = 60 - node.pos[0]; ds.offset[1] = 60 - node.pos[1];
          window.app.canvas.setDirty(true, true);
        }""", {"lyrics": lyrics})
        page.wait_for_timeout(600)
        langs_before = page.eval_on_selector_all(".acestep-lyrics__lang", "els => els.map(e => e.textContent)")
        check("auto" in langs_before, f"lyrics: languages show 'auto' before a run ({langs_before})")
        warn = page.eval_on_selector_all(".acestep-lyrics__row.is-warn", "els => els.map(e => e.title)")
        check(any("[UNK]" in w for w in warn), "lyrics: the emoji line is flagged ([UNK])")
        run = queue_and_wait(page, args.timeout)
        check(run["status_str"] == "success", f"lyrics: the short text2music run succeeded ({run})")
        page.wait_for_timeout(500)
        langs = page.eval_on_selector_all(".acestep-lyrics__lang", "els => els.map(e => e.textContent)")
        page.screenshot(path=str(out / "lyrics_after_run.png"))
        check(any(l in ("en", "es", "zh") for l in langs), f"lyrics: detected languages after the run ({langs})")

        # 4. chained extends: after a (short) run, each Extend Region shows the previous stage's audio
        page.evaluate(JS_LOAD, {"wf": json.loads((WORKFLOWS / "long_song_chained_extends.json").read_text()),
                                "name": "long_song_chained_extends.json"})
        page.evaluate("""() => {
          const g = window.app.graph;
          for (const n of g.nodes) {
            const set = (name, v) => { const w = n.widgets?.find(w => w.name === name); if (w) { w.value = v; w.callback?.(v); } };
            if (n.type === "AceStepV1EmptyLatent") set("seconds", 3);
            if (n.type === "AceStepV1Sampler") set("steps", 2);
            if (n.type === "AceStepV1ExtendRegion") set("right_seconds", 1);
          }
        }""")
        page.wait_for_timeout(500)
        first = page.evaluate("""() => window.app.graph.nodes.filter(n => n.type === "AceStepV1ExtendRegion")
          .map(n => n.widgets.find(w => w.name === "region_picker").pickerState())""")
        check(all(st["waveform"] == "none" and st["duration"] for st in first),
              f"chain: before a run the extends show estimated lengths ({first})")
        run = queue_and_wait(page, args.timeout)
        check(run["status_str"] == "success", f"chain: the short run succeeded ({run})")
        page.wait_for_timeout(3000)  # the previews are fetched and decoded
        after = page.evaluate("""() => window.app.graph.nodes.filter(n => n.type === "AceStepV1ExtendRegion")
          .map(n => n.widgets.find(w => w.name === "region_picker").pickerState())""")
        page.screenshot(path=str(out / "chain_after_run.png"))
        check(all(st["waveform"] == "ready" and "long_song_stage" in (st["url"] or "") for st in after),
              f"chain: after the run each extend shows the previous stage's audio ({after})")
        browser.close()

    pack_errors = [e for e in console if e["type"] in ("error", "pageerror")
                   and (f"/extensions/{PACK_NAME}/" in e["url"] or re.search(r"ACE-Step|AceStep", e["text"]))]
    check(not pack_errors, "no console errors from the pack" + "".join(f"\n   {e}" for e in pack_errors))
    (out / "console.json").write_text(json.dumps(console, indent=1, ensure_ascii=False))
    print(f"{len(failures)} failed; screenshots in {out}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
