#!/usr/bin/env python3
"""Times each workflow on a private ComfyUI: wall seconds and CPU seconds of the server process.

    /tmp/harness-venv/bin/python tools/workflows/time_workflows.py [WORKFLOW.json ...] \
        --model acestep/ACE-Step-v1-3.5B:$ckpt --model loras/...:... --input example.flac [--threads 2]

CPU seconds (user + system, all threads) hardly depend on what else the machine is doing, so they give
an estimate for a dedicated CI machine even on a busy one: wall ≈ CPU / cores used. Workflows are
converted to API format with comfy_check.py's own converter and queued in the order given; the model
load falls on the first one. Prints a table; `--json FILE` also writes it.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
import urllib.request
from pathlib import Path

from private_comfy import PACK, private_comfy  # noqa: E402

SHARED = Path(os.environ.get("ACESTEP_SHARED", PACK.parent / "shared"))


def _checker():
    spec = importlib.util.spec_from_file_location("comfy_check", SHARED / "comfyui" / "comfy_check.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def http(url: str, data=None, timeout=60):
    body = None if data is None else json.dumps(data).encode()
    req = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"} if body else {})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("workflows", nargs="*")
    ap.add_argument("--model", action="append", default=[])
    ap.add_argument("--input", action="append", default=[])
    ap.add_argument("--timeout", type=int, default=3600)
    ap.add_argument("--json")
    args = ap.parse_args()
    files = [Path(w) for w in args.workflows] or sorted((PACK / "workflows").glob("*.json"))
    cc = _checker()
    rows = []
    with private_comfy(args.model, args.input) as server:
        oi = http(server.url + "/object_info", timeout=120)
        for path in files:
            wf = json.loads(path.read_text(encoding="utf-8"))
            api, _notes = cc.ui_to_api(wf, oi)
            c0, t0 = cpu_seconds(server.pid), time.time()
            pid = http(server.url + "/prompt", {"prompt": api, "client_id": "time_workflows"})["prompt_id"]
            status = "timeout"
            while time.time() - t0 < args.timeout:
                h = http(f"{server.url}/history/{pid}")
                st = (h.get(pid) or {}).get("status") or {}
                if st.get("completed") or st.get("status_str") == "error":
                    status = st.get("status_str")
                    break
                time.sleep(0.5)
            row = {"workflow": path.stem, "status": status, "wall_s": round(time.time() - t0, 1),
                   "cpu_s": round(cpu_seconds(server.pid) - c0, 1)}
            rows.append(row)
            print(f"{row['workflow']:32s} {row['status']:8s} wall {row['wall_s']:8.1f} s   cpu {row['cpu_s']:8.1f} s",
                  flush=True)
    total = {k: round(sum(r[k] for r in rows), 1) for k in ("wall_s", "cpu_s")}
    print(f"{'total':32s} {'':8s} wall {total['wall_s']:8.1f} s   cpu {total['cpu_s']:8.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "total": total}, indent=1))
    return 0 if all(r["status"] == "success" for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
