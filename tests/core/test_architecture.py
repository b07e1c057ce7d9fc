"""The import rules of ARCHITECTURE.md, read from the source (ast), so a new import that breaks them fails here."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

import acestep_core
import acestep_core.audio
import acestep_core.lyrics
import acestep_core.training

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "acestep_core"

# Who may import whom inside acestep_core (top-level modules/packages of it), beside the standard
# library and third-party packages. A package not listed may import anything in acestep_core.
MAY_IMPORT = {
    "sampling": {"sampling", "settings"},
    "models": {"models", "audio"},
    "audio": {"audio"},
    "lyrics": {"lyrics"},
    "settings": {"settings", "sampling"},
    "components": set(),
    "record": {"settings", "sampling"},
    "conditioning": {"models"},
    "branches": {"conditioning", "models"},
    "tasks": {"tasks", "sampling", "audio", "settings", "conditioning"},
}
PUBLIC_SUBPACKAGES = {"audio": acestep_core.audio, "lyrics": acestep_core.lyrics,
                      "training": acestep_core.training}


def _resolve(module: str, level: int, name: str | None, pkg_parts: list[str]) -> list[str]:
    """Absolute dotted targets of one import (relative imports resolved against the file's package)."""
    if level == 0:
        return [module]
    base = pkg_parts[: len(pkg_parts) - level + 1]
    target = ".".join(base + ([module] if module else []))
    return [f"{target}.{name}" if name and not module else target]


def _imports(path: Path, root: Path, root_name: str) -> list[tuple[str, list[str], int]]:
    """(dotted target, imported names, line) of every import in a file."""
    rel = path.relative_to(root).with_suffix("")
    parts = [root_name, *rel.parts]
    pkg_parts = parts[:-1]  # a module's package; for an __init__.py, the package itself
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(a.name, [], node.lineno) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [a.name for a in node.names]
            if node.level and not node.module:  # from . import a, b
                out += [(t, [], node.lineno) for n in names for t in _resolve("", node.level, n, pkg_parts)]
            else:
                out += [(t, names, node.lineno) for t in _resolve(node.module or "", node.level, None, pkg_parts)]
    return out


def _core_files():
    return sorted(p for p in CORE.rglob("*.py") if "__pycache__" not in p.parts)


def test_core_never_imports_comfyui_or_the_nodes():
    bad = [f"{p.relative_to(REPO)}:{line} imports {t}" for p in _core_files()
           for t, _, line in _imports(p, CORE, "acestep_core")
           if t.split(".")[0] in {"comfy", "comfy_api", "folder_paths", "nodes", "server", "execution"}]
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("owner", sorted(MAY_IMPORT))
def test_layers_import_only_what_they_may(owner):
    files = [p for p in _core_files() if p.relative_to(CORE).parts[0].removesuffix(".py") == owner]
    assert files, f"no files for {owner}"
    bad = []
    for p in files:
        for target, _, line in _imports(p, CORE, "acestep_core"):
            parts = target.split(".")
            if parts[0] != "acestep_core" or len(parts) < 2:
                continue
            if parts[1] not in MAY_IMPORT[owner] | {owner}:
                bad.append(f"{p.relative_to(REPO)}:{line} imports {target}")
    assert not bad, f"{owner} may import only {sorted(MAY_IMPORT[owner])}:\n" + "\n".join(bad)


def test_nodes_use_only_the_public_api():
    """nodes/ imports acestep_core's exported names (its __all__, and the public subpackages'), nothing deeper."""
    bad = []
    for p in sorted((REPO / "nodes").glob("*.py")):
        for target, names, line in _imports(p, REPO / "nodes", "nodes"):
            parts = target.split(".")
            if "acestep_core" not in parts:
                continue
            sub = parts[parts.index("acestep_core") + 1:]
            if not sub:
                allowed = set(acestep_core.__all__)
            elif len(sub) == 1 and sub[0] in PUBLIC_SUBPACKAGES:
                allowed = set(PUBLIC_SUBPACKAGES[sub[0]].__all__)
            else:
                bad.append(f"{p.relative_to(REPO)}:{line} imports the private module {target}")
                continue
            bad += [f"{p.relative_to(REPO)}:{line} imports {n} (not exported by {target})"
                    for n in names if n not in allowed]
    assert not bad, "\n".join(bad)


def test_the_rules_catch_a_bad_import(tmp_path):
    """The checks above can fail: a sampling module importing a task, a node importing a private module."""
    pkg = tmp_path / "acestep_core" / "sampling"
    pkg.mkdir(parents=True)
    (pkg / "bad.py").write_text("from ..tasks.plan import LoopPlan\nfrom ..settings import SamplerSettings\n")
    targets = [t for t, _, _ in _imports(pkg / "bad.py", tmp_path / "acestep_core", "acestep_core")]
    assert targets == ["acestep_core.tasks.plan", "acestep_core.settings"]
    nodes = tmp_path / "nodes"
    nodes.mkdir()
    (nodes / "x.py").write_text("from ..acestep_core.tasks.plan import MAX_FRAMES\nfrom ..acestep_core import Lazy\n")
    targets = [t for t, _, _ in _imports(nodes / "x.py", nodes, "nodes")]
    assert targets == ["acestep_core.tasks.plan", "acestep_core"]
