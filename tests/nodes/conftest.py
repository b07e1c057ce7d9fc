"""Node tests run inside a real ComfyUI (../shared/comfyui, unpacked to $COMFY_DIR), never mocks of `comfy`.

ComfyUI is imported as its server imports it (CPU mode, as `main.py --cpu`), its built-in nodes
are registered with `nodes.init_builtin_extra_nodes()`, and this pack is loaded with ComfyUI's own
`nodes.load_custom_node` from the repository root. Graphs (ComfyUI's API prompt format) run
through ComfyUI's real `execution.PromptExecutor`: validation, caching, progress, interrupts and
error reporting are ComfyUI's. The only stand-in is the websocket server, which records messages.

Models, inputs and outputs live in a per-session temporary folder registered through folder_paths;
ComfyUI's own folders are never written.
"""
from __future__ import annotations

import asyncio
import importlib
import os
import shutil
import sys
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
COMFY_DIR = Path(os.environ.get("COMFY_DIR", "/tmp/comfyui"))
if not (COMFY_DIR / "main.py").is_file():
    raise RuntimeError(
        f"ComfyUI not found at {COMFY_DIR}: run bash ../shared/comfyui/setup_comfyui.sh (or set COMFY_DIR). "
        "The node tests need the real ComfyUI; they are never skipped.")
# ComfyUI's `nodes` module must win over this repository's `nodes/` package on sys.path.
sys.path.insert(0, str(COMFY_DIR))
for _p in ("", str(REPO)):
    while _p in sys.path[1:]:
        sys.path.remove(_p)
sys.modules.pop("nodes", None)

from comfy.cli_args import args  # noqa: E402

args.cpu = True  # as `main.py --cpu`: this machine has no GPU

import utils.extra_config  # noqa: E402,F401  (main.py imports ComfyUI's `utils` package before nodes.py
                          #  puts comfy/ first on sys.path, where comfy/utils.py would shadow it)
import comfy.model_management  # noqa: E402,F401
import comfy.utils  # noqa: E402
import execution  # noqa: E402
import folder_paths  # noqa: E402
import nodes as comfy_nodes  # noqa: E402

assert Path(comfy_nodes.__file__).resolve().parent == COMFY_DIR.resolve(), comfy_nodes.__file__

from golden_utils import GOLDEN  # noqa: E402

INPUT_WAV = "src_sines_44k.wav"
MODEL_NAME = "ACE-Step-v1-3.5B"
LORA_NAME = "tiny_lora"
BUILTIN_NAMES: set[str] = set()  # ComfyUI's own node ids, recorded before the pack is loaded


class RecordingServer:
    """Stands in for ComfyUI's PromptServer (the websocket side): it records what would be sent."""

    def __init__(self):
        self.client_id = None
        self.last_node_id = None
        self.last_prompt_id = None
        self.sockets_metadata = {}
        self.messages: list[tuple[str, dict]] = []

    def send_sync(self, event, data, sid=None):
        self.messages.append((event, data))

    def queue_updated(self):
        pass


@dataclass
class RunResult:
    prompt_id: str
    messages: list
    outputs: dict  # node id -> the node's outputs after this run (ComfyUI's cache, snapshotted)
    progress: list = field(default_factory=list)

    def output(self, node_id: str, index: int = 0):
        entry = self.outputs.get(node_id)
        assert entry is not None, f"node {node_id} has no output"
        return entry[index][0]

    def events(self, name: str) -> list[dict]:
        return [d for e, d in self.messages if e == name and d.get("prompt_id") in (None, self.prompt_id)]

    def executed_nodes(self) -> list[str]:
        return [d["node"] for d in self.events("executing") if d.get("node") is not None]

    @property
    def error(self) -> dict | None:
        errs = self.events("execution_error")
        return errs[0] if errs else None

    @property
    def interrupted(self) -> bool:
        return bool(self.events("execution_interrupted"))


class GraphRunner:
    """Validates and executes API-format prompts with ComfyUI's own executor (one cache across runs)."""

    def __init__(self):
        self.server = RecordingServer()
        self.executor = execution.PromptExecutor(self.server, cache_type=False)
        self.progress: list[tuple[str, int, int]] = []
        self.on_progress = None  # optional hook(node_id, value, total), e.g. to press Cancel
        comfy.utils.set_progress_bar_global_hook(self._hook)

    def _hook(self, value, total, preview_image, prompt_id=None, node_id=None):
        # What main.py's hook does, minus the websocket: honour Cancel, record the progress.
        from comfy_execution.utils import get_executing_context

        ctx = get_executing_context()
        node = node_id or (ctx.node_id if ctx is not None else None)
        self.progress.append((node, int(value), int(total)))
        if self.on_progress is not None:
            self.on_progress(node, value, total)
        comfy.model_management.throw_exception_if_processing_interrupted()

    def validate(self, prompt: dict):
        return asyncio.run(execution.validate_prompt(str(uuid.uuid4()), prompt, None))

    def run(self, prompt: dict, expect_ok: bool = True) -> RunResult:
        valid = self.validate(prompt)
        assert valid[0], f"graph rejected by validation: {valid[1]} {valid[3]}"
        prompt_id = str(uuid.uuid4())
        self.server.messages = []
        self.progress = []
        self.executor.execute(prompt, prompt_id, {"client_id": "pytest"}, valid[2])
        outputs = {nid: self.executor.caches.outputs.get(nid) for nid in prompt}
        res = RunResult(prompt_id, list(self.server.messages), outputs, list(self.progress))
        if expect_ok:
            assert res.error is None, (f"{res.error['node_type']}: {res.error['exception_type']}: "
                                       f"{res.error['exception_message']}\n{''.join(res.error['traceback'])}")
            assert not res.interrupted, "execution was interrupted"
        return res


@pytest.fixture(scope="session")
def comfy_home(tmp_path_factory, tiny_ckpt) -> Path:
    """Register session folders with folder_paths, load core's extra nodes and this pack."""
    home = tmp_path_factory.mktemp("comfy_home")
    for sub in ("models/acestep", "models/checkpoints", "models/loras", "input", "output", "temp"):
        (home / sub).mkdir(parents=True, exist_ok=True)
    (home / "models/acestep" / MODEL_NAME).symlink_to(tiny_ckpt, target_is_directory=True)
    (home / "models/loras" / LORA_NAME).symlink_to(GOLDEN / "tiny_lora", target_is_directory=True)
    shutil.copy(GOLDEN / "inputs" / INPUT_WAV, home / "input" / INPUT_WAV)
    folder_paths.set_input_directory(str(home / "input"))
    folder_paths.set_output_directory(str(home / "output"))
    folder_paths.set_temp_directory(str(home / "temp"))
    asyncio.run(comfy_nodes.init_builtin_extra_nodes())
    BUILTIN_NAMES.update(comfy_nodes.NODE_CLASS_MAPPINGS)
    ok = asyncio.run(comfy_nodes.load_custom_node(str(REPO), module_parent="custom_nodes"))
    assert ok, "ComfyUI could not load the pack (see the log above)"
    # Isolate the model folders from whatever else uses this ComfyUI (e.g. a comfy_check run's links).
    folder_paths.models_dir = str(home / "models")
    for key in ("acestep", "checkpoints", "loras"):
        exts = folder_paths.folder_names_and_paths.get(key, ([], set()))[1]
        folder_paths.folder_names_and_paths[key] = ([str(home / "models" / key)], exts)
    return home


@pytest.fixture(scope="session")
def node_classes(comfy_home) -> dict:
    return dict(comfy_nodes.NODE_CLASS_MAPPINGS)


@pytest.fixture(scope="session")
def builtin_names(comfy_home) -> set[str]:
    return set(BUILTIN_NAMES)


@pytest.fixture(scope="session")
def our_nodes(node_classes) -> dict:
    """The node classes this pack registered (by ComfyUI's own bookkeeping: RELATIVE_PYTHON_MODULE)."""
    return {k: v for k, v in node_classes.items()
            if getattr(v, "RELATIVE_PYTHON_MODULE", "") == f"custom_nodes.{REPO.name}"}


@pytest.fixture(scope="session")
def pack(comfy_home):
    """The pack's modules as ComfyUI imported them (for helpers such as the node classes)."""
    mod = sys.modules[str(REPO).replace(".", "_x_")]
    return mod


@pytest.fixture(scope="session")
def core(pack):
    """The pack's own acestep_core, as its nodes import it (relatively, inside the pack's package).

    `core("sampling.noise")` is that submodule. Never `import acestep_core`: in ComfyUI's venv the
    library is not installed (users only install requirements.txt), and tests/nodes_run.sh checks that.
    """
    def module(name: str = ""):
        return importlib.import_module(".acestep_core" + (f".{name}" if name else ""), pack.__name__)

    return module


@pytest.fixture(scope="session")
def runner(comfy_home) -> GraphRunner:
    return GraphRunner()


@pytest.fixture
def fresh_runner(comfy_home) -> GraphRunner:
    return GraphRunner()


@pytest.fixture
def make_runner(comfy_home):
    """Independent runners (separate caches), e.g. to compute a reference without cache hits."""
    return GraphRunner


@pytest.fixture(scope="session")
def loaded_model(node_classes):
    """The tiny checkpoint through our loader node, float32 (what parity is measured in)."""
    out = node_classes["AceStepV1ModelLoader"].execute(model_name=MODEL_NAME, dtype="float32", offload="comfyui")
    return out.args[0]
