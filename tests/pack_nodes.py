"""The node ids the pack's source declares (`node_id="AceStepV1..."` in nodes/*.py).

What ComfyUI must register after loading the pack, read from the source rather than listed by hand:
the install tests import it, tests/nodes_run.sh runs it (`python tests/pack_nodes.py` prints them
comma-separated for comfy_check's --expect-nodes).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def expected_node_ids(repo: Path = REPO) -> set[str]:
    ids: set[str] = set()
    for f in (repo / "nodes").glob("*.py"):
        ids |= set(re.findall(r'node_id="(AceStepV1\w+)"', f.read_text(encoding="utf-8")))
    return ids


if __name__ == "__main__":
    found = expected_node_ids()
    if not found:
        sys.exit("no node_id found in nodes/*.py")
    print(",".join(sorted(found)))
