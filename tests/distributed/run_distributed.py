#!/usr/bin/env python3
"""workflows/distributed_text2music.json on a real ComfyUI-Distributed master + one worker (CPU, 127.0.0.1).

    python tests/distributed/run_distributed.py --work DIR [--master-port 8288] [--worker-port 8289]

DIR (prepared by tests/distributed_run.sh) holds `master/` and `worker/`: ComfyUI base directories
whose custom_nodes/ have this pack as `acestep-v1` and an unpacked ComfyUI-Distributed, and whose
models/acestep/ACE-Step-v1-3.5B is the tiny checkpoint. This driver:

1. tells the master about the worker the way Distributed's docs describe: its config file
   (`gpu_config.json` in the master's copy of the pack; `workers[]` with id/host/port/enabled);
2. starts both servers (`main.py --cpu --listen 127.0.0.1 --base-directory ...`);
3. converts the shipped workflow to API format (comfy_check.py's `ui_to_api`), shortens it for a CPU
   (a few steps, a few seconds), and queues it through the master's `POST /distributed/queue`;
4. checks: the worker received it, both songs are saved on the master (one file per song, from the
   AudioBatchDivider's two outputs), they differ, and each equals the song a single ComfyUI makes for
   that seed (42 on the master, 43 = 42 + 1 on the worker);
5. the same with a seed list (`seeds` = "11, 22" on the Seeded Noise): two songs per instance, the
   master's equal to seeds 11, 22 alone, the worker's to 23, 34 (the list moved past the master's);
6. stops both servers (their process groups), whatever happened.

Exit status 0 when every check passed.
"""
from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import soundfile as sf

REPO = Path(__file__).resolve().parents[2]
WORKFLOW = REPO / "workflows" / "distributed_text2music.json"
SHARED = Path(os.environ.get("ACESTEP_SHARED", REPO.parent / "shared"))
COMFY_DIR = Path(os.environ.get("COMFY_DIR", "/tmp/comfyui"))
WORKER_ID = "ci-worker"
SECONDS, STEPS = 3.0, 3
TOLERANCE = 1e-4  # the songs pass through float32 payloads and 16-bit FLAC files; equal songs are bit-equal


def log(msg: str) -> None:
    print(f"[distributed] {msg}", flush=True)


# ------------------------------------------------------------------------------------------------ HTTP
def http(url: str, body: dict | None = None, timeout: float = 60):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=timeout) as r:
        return json.loads(r.read() or b"null")


def wait_history(url: str, prompt_id: str, timeout: float) -> dict:
    t0 = time.time()
    while time.time() - t0 < timeout:
        hist = http(f"{url}/history/{prompt_id}")
        entry = (hist or {}).get(prompt_id)
        if entry and entry.get("status", {}).get("completed") is not None:
            if entry["status"].get("status_str") != "success":
                msgs = [m for m in entry["status"].get("messages", []) if m[0] == "execution_error"]
                raise AssertionError(f"prompt {prompt_id} on {url} failed: {json.dumps(msgs)[:3000]}")
            return entry
        time.sleep(1)
    raise TimeoutError(f"prompt {prompt_id} on {url} did not finish within {timeout:.0f} s")


# --------------------------------------------------------------------------------------------- servers
@contextlib.contextmanager
def servers(work: Path, ports: dict[str, int], timeout: float):
    procs = {}
    try:
        for role, port in ports.items():
            base = work / role
            logf = open(work / f"{role}.log", "w")
            procs[role] = subprocess.Popen(
                [sys.executable, "main.py", "--cpu", "--listen", "127.0.0.1", "--port", str(port),
                 "--base-directory", str(base), "--disable-auto-launch"],
                cwd=COMFY_DIR, stdout=logf, stderr=subprocess.STDOUT, start_new_session=True)
            (work / f"{role}.pid").write_text(str(procs[role].pid))
        t0 = time.time()
        for role, port in ports.items():
            while True:
                if procs[role].poll() is not None:
                    raise RuntimeError(f"the {role} ComfyUI exited while starting; see {work / (role + '.log')}")
                try:
                    http(f"http://127.0.0.1:{port}/system_stats", timeout=5)
                    break
                except (OSError, ValueError):
                    if time.time() - t0 > timeout:
                        raise TimeoutError(f"the {role} ComfyUI did not start within {timeout:.0f} s") from None
                    time.sleep(1)
            log(f"{role} up on 127.0.0.1:{port} ({time.time() - t0:.0f} s)")
        yield {role: f"http://127.0.0.1:{port}" for role, port in ports.items()}
    finally:
        for role, proc in procs.items():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        for role, proc in procs.items():
            try:
                proc.wait(20)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(10)
            with contextlib.suppress(FileNotFoundError):
                (work / f"{role}.pid").unlink()
        log("both servers stopped")


def configure_master(work: Path, worker_port: int) -> None:
    """Distributed's config file of the master: one enabled worker, the second ComfyUI on this machine."""
    cfg_path = work / "master" / "custom_nodes" / "ComfyUI-Distributed" / "gpu_config.json"
    cfg = {
        "master": {"host": "127.0.0.1"},
        "workers": [{"id": WORKER_ID, "name": "CI worker", "type": "remote", "host": "127.0.0.1",
                     "port": worker_port, "enabled": True}],
        "settings": {"debug": True, "auto_launch_workers": False, "stop_workers_on_master_exit": False,
                     "master_delegate_only": False},
    }
    cfg_path.write_text(json.dumps(cfg, indent=2))


# ------------------------------------------------------------------------------------------- workflows
def by_type(prompt: dict, class_type: str) -> list[str]:
    return sorted((k for k, v in prompt.items() if v["class_type"] == class_type), key=int)


def distributed_prompt(ui: dict, oi: dict, seeds: str = "") -> dict:
    sys.path.insert(0, str(SHARED / "comfyui"))
    from comfy_check import ui_to_api

    converted = ui_to_api(ui, oi)
    prompt = converted[0] if isinstance(converted, tuple) else converted
    for nid in by_type(prompt, "AceStepV1EmptyLatent"):
        prompt[nid]["inputs"]["seconds"] = SECONDS
    for nid in by_type(prompt, "AceStepV1Sampler"):
        prompt[nid]["inputs"]["steps"] = STEPS
    for nid in by_type(prompt, "AceStepV1SeededNoise"):
        prompt[nid]["inputs"]["seeds"] = seeds
    return prompt


def single_prompt(dist: dict, seeds: str, prefix: str) -> dict:
    """The same song graph without Distributed: a constant seed list, one SaveAudio on the decoder."""
    prompt = copy.deepcopy(dist)
    for cls in ("DistributedSeed", "DistributedCollector", "AudioBatchDivider", "EmptyImage", "SaveAudio",
                "PreviewAny"):
        for nid in by_type(prompt, cls):
            del prompt[nid]
    noise = by_type(prompt, "AceStepV1SeededNoise")[0]
    prompt[noise]["inputs"]["seed"] = 0
    prompt[noise]["inputs"]["seeds"] = seeds
    decode = by_type(prompt, "AceStepV1LatentToAudio")[0]
    prompt["9001"] = {"class_type": "SaveAudio", "inputs": {"audio": [decode, 0], "filename_prefix": prefix}}
    return prompt


def saved_files(entry: dict, base: Path, node_id: str) -> list[Path]:
    files = (entry.get("outputs", {}).get(node_id) or {}).get("audio") or []
    return [base / "output" / f.get("subfolder", "") / f["filename"] for f in files]


def read(path: Path) -> np.ndarray:
    data, _rate = sf.read(str(path), dtype="float32", always_2d=True)
    return data


def same(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and float(np.max(np.abs(a - b))) <= TOLERANCE


# ------------------------------------------------------------------------------------------------ runs
def run_case(urls: dict, work: Path, ui: dict, oi: dict, seeds: str, expect: list[list[int]], tag: str,
             timeout: float) -> list[str]:
    """Queue on the master via /distributed/queue; returns the failed checks."""
    failures = []
    prompt = distributed_prompt(ui, oi, seeds)
    worker_before = len(http(f"{urls['worker']}/history") or {})
    t0 = time.time()
    res = http(f"{urls['master']}/distributed/queue",
               {"prompt": prompt, "workflow": ui, "client_id": f"acestep-ci-{uuid.uuid4().hex[:8]}",
                "enabled_worker_ids": [WORKER_ID], "delegate_master": False}, timeout=120)
    log(f"[{tag}] queued: {res}")
    if res.get("worker_count") != 1:
        failures.append(f"[{tag}] /distributed/queue dispatched to {res.get('worker_count')} workers, not 1")
    entry = wait_history(urls["master"], res["prompt_id"], timeout)
    log(f"[{tag}] master finished in {time.time() - t0:.0f} s")
    worker_after = len(http(f"{urls['worker']}/history") or {})
    if worker_after <= worker_before:
        failures.append(f"[{tag}] the worker ran nothing")

    saves = by_type(prompt, "SaveAudio")  # master's part (audio_1), then the worker's (audio_2)
    parts = [saved_files(entry, work / "master", nid) for nid in saves]
    log(f"[{tag}] saved on the master: {[[p.name for p in part] for part in parts]}")
    per_instance = len(expect[0])
    for i, part in enumerate(parts):
        if len(part) != per_instance or not all(p.is_file() for p in part):
            failures.append(f"[{tag}] SaveAudio #{saves[i]}: expected {per_instance} file(s), got {part}")
    if failures:
        return failures
    songs = [read(p) for part in parts for p in part]
    for i in range(len(songs)):
        for j in range(i + 1, len(songs)):
            if same(songs[i], songs[j]):
                failures.append(f"[{tag}] song {i} and song {j} are the same")

    # What a single ComfyUI makes for each expected seed (on the worker, now idle, by plain /prompt).
    for i, instance_seeds in enumerate(expect):
        ref_prompt = single_prompt(prompt, ", ".join(map(str, instance_seeds)), f"reference/{tag}_{i}")
        ref = http(f"{urls['worker']}/prompt", {"prompt": ref_prompt, "client_id": "acestep-ci-ref"})
        ref_entry = wait_history(urls["worker"], ref["prompt_id"], timeout)
        ref_files = saved_files(ref_entry, work / "worker", "9001")
        for k, (got, want) in enumerate(zip(parts[i], ref_files)):
            a, b = read(got), read(want)
            err = float(np.max(np.abs(a - b))) if a.shape == b.shape else float("inf")
            ok = err <= TOLERANCE
            log(f"[{tag}] instance {i} song {k} (seed {instance_seeds[k]}): max |distributed - single| = {err:.2e}"
                f" {'ok' if ok else 'DIFFERENT'}")
            if not ok:
                failures.append(f"[{tag}] instance {i} song {k}: not the single-instance song of seed "
                                f"{instance_seeds[k]} (max diff {err})")
    return failures


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work", required=True, type=Path)
    ap.add_argument("--master-port", type=int, default=8288)
    ap.add_argument("--worker-port", type=int, default=8289)
    ap.add_argument("--startup-timeout", type=float, default=300)
    ap.add_argument("--run-timeout", type=float, default=600, help="seconds per queued graph")
    args = ap.parse_args()
    work = args.work.resolve()
    configure_master(work, args.worker_port)
    ui = json.loads(WORKFLOW.read_text(encoding="utf-8"))
    failures = []
    with servers(work, {"master": args.master_port, "worker": args.worker_port}, args.startup_timeout) as urls:
        oi = http(f"{urls['master']}/object_info", timeout=120)
        for needed in ("DistributedSeed", "DistributedCollector", "AudioBatchDivider", "AceStepV1SeededNoise"):
            if needed not in oi:
                raise RuntimeError(f"{needed} is not registered on the master; see {work / 'master.log'}")
        cfg = http(f"{urls['master']}/distributed/config")
        log(f"master's workers: {[(w.get('id'), w.get('host'), w.get('port')) for w in cfg.get('workers', [])]}")
        dseed = by_type(distributed_prompt(ui, oi), "DistributedSeed")[0]
        base = int(distributed_prompt(ui, oi)[dseed]["inputs"]["seed"])
        failures += run_case(urls, work, ui, oi, "", [[base], [base + 1]], "seed", args.run_timeout)
        failures += run_case(urls, work, ui, oi, "11, 22", [[11, 22], [23, 34]], "seed-list", args.run_timeout)
    for f in failures:
        log(f"FAIL {f}")
    log("PASS" if not failures else f"{len(failures)} check(s) failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
