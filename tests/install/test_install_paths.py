"""The pack installed the ways ComfyUI users install it, each in a real ComfyUI server.

Nothing of the pack is pip-installed: users clone or unpack it into `custom_nodes/<some folder>` and
install `requirements.txt` into ComfyUI's Python (ComfyUI-Manager, the Comfy Registry and portable
builds all do exactly that). Each case builds that folder in a private ComfyUI home
(`main.py --base-directory`, so the shared ComfyUI checkout is untouched), starts the real server,
and checks what a user would see: every node registered under the folder's name, no import error,
the shipped workflows in the template browser with their thumbnails, the frontend extension served,
and one short song made through `/prompt` on the tiny checkpoint.

Run with ComfyUI's Python (tests/nodes_run.sh does):
    /tmp/comfy-venv/bin/python -m pytest tests/install -q
Env: COMFY_DIR (/tmp/comfyui), ACESTEP_SHARED, INSTALL_TEST_PORT (first port, default 8210).
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMFY_DIR = Path(os.environ.get("COMFY_DIR", "/tmp/comfyui"))
SHARED = Path(os.environ.get("ACESTEP_SHARED", REPO.parent / "shared")).resolve()
FIRST_PORT = int(os.environ.get("INSTALL_TEST_PORT", "8210"))
START_TIMEOUT_S = 240
RUN_TIMEOUT_S = 600

sys.path.insert(0, str(REPO / "tests" / "nodes"))
sys.path.insert(0, str(REPO / "tests"))
from acestep_node_graphs import text2music_graph  # noqa: E402
from pack_nodes import expected_node_ids  # noqa: E402

DECOY = '''raise ImportError(
    "DECOY acestep_core imported: the pack must use the acestep_core inside its own folder, "
    "never one installed in ComfyUI's Python")
'''


@dataclass
class Install:
    """One way a user gets the pack into custom_nodes/."""
    folder: str  # the custom_nodes/ entry (not under our control: any name must work)
    how: str  # "git-clone" (README's command) or "archive" (a zip download or a registry package)
    python_flags: list[str] = field(default_factory=list)
    decoy_core: bool = False  # another acestep_core installed in ComfyUI's Python (an old `pip install -e`)
    install_requirements: bool = False  # run the README's pip command in the new folder


INSTALLS = {
    # ComfyUI-Manager and the README: git clone + pip install -r requirements.txt.
    "git-clone": Install("acestep-v1", "git-clone", install_requirements=True),
    # "Download ZIP" on the repository page unpacks to <repo>-main.
    "zip-download": Install("acestep-v1-main", "archive"),
    # The Comfy Registry unpacks its package into custom_nodes/<registry id>; here beside an older
    # acestep_core importable from ComfyUI's Python, which must never be picked up.
    "registry-with-stale-core": Install("acestep-v1", "archive", decoy_core=True),
    # Portable builds run the embedded Python isolated from user site-packages and PYTHON* variables;
    # a renamed folder with capitals and dots (ComfyUI maps "." in module names; a space would stop ComfyUI
    # from serving the templates: aiohttp cannot route a static prefix with spaces, see README).
    "portable-odd-folder-name": Install("ComfyUI-ACE-Step.v1.2", "archive", python_flags=["-s", "-E"]),
}


def _expected_node_ids() -> set[str]:
    ids = expected_node_ids(REPO)
    assert len(ids) >= 17, ids
    return ids


def _pack_files() -> list[str]:
    """What a registry package or a zip of this tree holds: the files git tracks or would track."""
    out = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
                         cwd=REPO, check=True, capture_output=True).stdout.decode()
    return [p for p in out.split("\0") if p and (REPO / p).is_file()]


def _unpack_archive(dest: Path, tmp: Path) -> None:
    """A zip of the tree unpacked under `dest`, as a browser download or the registry would."""
    zpath = tmp / "pack.zip"
    with zipfile.ZipFile(zpath, "w", zipfile.ZIP_DEFLATED) as z:
        for rel in _pack_files():
            z.write(REPO / rel, f"{dest.name}/{rel}")
    with zipfile.ZipFile(zpath) as z:
        z.extractall(dest.parent)
    assert (dest / "__init__.py").is_file()


def _git_clone(dest: Path) -> None:
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    if dirty:
        print(f"note: git-clone installs the last commit; uncommitted changes are not in it:\n{dirty}")
    subprocess.run(["git", "clone", "-q", str(REPO), str(dest)], check=True)


@dataclass
class Server:
    proc: subprocess.Popen
    port: int
    log: Path

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def get(self, path: str, timeout: float = 60) -> tuple[int, bytes, str]:
        try:
            with urllib.request.urlopen(self.url(path), timeout=timeout) as r:
                return r.status, r.read(), r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            return e.code, e.read(), ""

    def get_json(self, path: str):
        status, body, _ = self.get(path)
        assert status == 200, f"GET {path}: HTTP {status}"
        return json.loads(body)

    def post_json(self, path: str, data: dict) -> dict:
        req = urllib.request.Request(self.url(path), json.dumps(data).encode(), {"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            raise AssertionError(f"POST {path}: HTTP {e.code}: {e.read().decode(errors='replace')[:2000]}") from None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)


def _start(home: Path, port: int, python_flags: list[str], env: dict) -> Server:
    log = home / "comfyui.log"
    cmd = [sys.executable, *python_flags, str(COMFY_DIR / "main.py"), "--cpu", "--base-directory", str(home),
           "--listen", "127.0.0.1", "--port", str(port), "--disable-auto-launch"]
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd, cwd=COMFY_DIR, stdout=fh, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    server = Server(proc, port, log)
    deadline = time.time() + START_TIMEOUT_S
    while time.time() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"ComfyUI exited with {proc.returncode}:\n{server.log_text()[-4000:]}")
        try:
            if server.get("/system_stats", timeout=5)[0] == 200:
                return server
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(1)
    server.stop()
    raise AssertionError(f"ComfyUI did not answer within {START_TIMEOUT_S} s:\n{server.log_text()[-4000:]}")


def _run_prompt(server: Server, prompt: dict) -> dict:
    prompt_id = server.post_json("/prompt", {"prompt": prompt, "client_id": "install-test"})["prompt_id"]
    deadline = time.time() + RUN_TIMEOUT_S
    while time.time() < deadline:
        hist = server.get_json(f"/history/{prompt_id}")
        if prompt_id in hist and hist[prompt_id].get("status", {}).get("completed") is not None:
            entry = hist[prompt_id]
            if entry["status"].get("status_str") == "success":
                return entry
            raise AssertionError(f"the song failed: {json.dumps(entry['status'])[:4000]}")
        time.sleep(1)
    server.post_json("/interrupt", {})
    raise AssertionError(f"the song did not finish within {RUN_TIMEOUT_S} s")


@pytest.fixture(scope="module")
def tiny_ckpt() -> Path:
    out = subprocess.run([sys.executable, str(SHARED / "golden" / "materialize_tiny_ckpt.py")],
                         check=True, capture_output=True, text=True).stdout.strip().splitlines()[-1]
    return Path(out)


@pytest.mark.parametrize("case", list(INSTALLS))
def test_install_path(case: str, tmp_path: Path, tiny_ckpt: Path):
    spec = INSTALLS[case]
    port = FIRST_PORT + list(INSTALLS).index(case)
    home = tmp_path / "comfy_home"
    custom_nodes = home / "custom_nodes"
    custom_nodes.mkdir(parents=True)
    (home / "models" / "acestep").mkdir(parents=True)
    (home / "models" / "acestep" / "ACE-Step-v1-3.5B").symlink_to(tiny_ckpt, target_is_directory=True)
    pack = custom_nodes / spec.folder
    if spec.how == "git-clone":
        _git_clone(pack)
    else:
        _unpack_archive(pack, tmp_path)
    assert not (pack / ".venv-test").exists() and (pack / "acestep_core" / "__init__.py").is_file()

    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTHON")}
    if spec.install_requirements:
        # The README's command, as written, from inside the new folder (ComfyUI's Python).
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", "-r", "requirements.txt"], cwd=pack, env=env,
                       check=True)
    if spec.decoy_core:
        decoy = tmp_path / "site" / "acestep_core"
        decoy.mkdir(parents=True)
        (decoy / "__init__.py").write_text(DECOY)
        env["PYTHONPATH"] = str(decoy.parent)
        probe = subprocess.run([sys.executable, "-c", "import acestep_core"], cwd=COMFY_DIR, env=env,
                               capture_output=True, text=True)
        assert "DECOY" in probe.stderr, "the stale acestep_core is not importable: this case would prove nothing"
    # The pack may not rely on being importable by name from anywhere (cwd, sys.path, site-packages).
    bare = subprocess.run([sys.executable, *spec.python_flags, "-c",
                           "import importlib.util as u; print(u.find_spec('acestep_core') is None)"],
                          cwd=COMFY_DIR, env={k: v for k, v in os.environ.items() if not k.startswith("PYTHON")},
                          capture_output=True, text=True)
    assert bare.stdout.strip() == "True", "acestep_core is installed in ComfyUI's Python: the test would hide " \
                                          "an import that only works from an installed copy"

    server = _start(home, port, spec.python_flags, env)
    try:
        _check_server(server, spec)
        entry = _run_prompt(server, text2music_graph(seconds=1.0, steps=2, dtype="float32"))
        files = [a for out in entry["outputs"].values() for a in out.get("audio", [])]
        assert files, f"no audio saved: {entry['outputs']}"
        for a in files:
            path = home / "output" / a.get("subfolder", "") / a["filename"]
            assert path.is_file() and path.stat().st_size > 1000, path
    finally:
        server.stop()
    for tb in server.log_text().split("Traceback (most recent call last)")[1:]:
        assert str(pack) not in "\n".join(tb.splitlines()[:60]), f"a traceback names the pack:\n{tb[:4000]}"


def _check_server(server: Server, spec: Install) -> None:
    log = server.log_text()
    for bad in ("IMPORT FAILED", "Cannot import", "Error while calling comfy_entrypoint", "DECOY"):
        assert bad not in log, f"{bad!r} in ComfyUI's log:\n{log[-6000:]}"

    info = server.get_json("/object_info")
    ours = {k: v for k, v in info.items() if k.startswith("AceStepV1")}
    missing = _expected_node_ids() - set(ours)
    assert not missing, f"nodes not registered: {sorted(missing)}\n{log[-4000:]}"
    modules = {v.get("python_module") for v in ours.values()}
    assert modules == {f"custom_nodes.{spec.folder}"}, modules

    # The template browser: every shipped workflow, under the folder's name, with a .jpg thumbnail.
    templates = server.get_json("/api/workflow_templates")
    shipped = sorted(p.stem for p in (REPO / "workflows").glob("*.json"))
    assert sorted(templates.get(spec.folder, [])) == shipped, templates
    base = "/api/workflow_templates/" + urllib.parse.quote(spec.folder)
    for stem in shipped:
        status, body, _ = server.get(f"{base}/{stem}.json")
        assert status == 200 and json.loads(body) == json.loads((REPO / "workflows" / f"{stem}.json").read_text()), stem
        status, body, _ = server.get(f"{base}/{stem}.jpg")
        assert status == 200 and body[:3] == b"\xff\xd8\xff", f"{stem}.jpg: HTTP {status}"

    # The frontend extension is served under the folder's name.
    scripts = server.get_json("/extensions")
    prefix = "/extensions/" + urllib.parse.quote(spec.folder) + "/"
    ours_js = {s for s in scripts if s.startswith(prefix)}
    assert {prefix + "acestep_lyrics_editor.js", prefix + "acestep_region_picker.js"} <= ours_js, scripts
    for s in ours_js:
        assert server.get(s)[0] == 200, s
