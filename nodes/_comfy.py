"""The one place the pack touches ComfyUI's node API (`comfy_api`).

The V3 API is still marked unstable; if it moves, only this file changes. Everything else in
`nodes/` imports `io`, `ui` and `ComfyExtension` from here.
"""
from __future__ import annotations

import logging

from comfy_api.latest import ComfyExtension, io  # noqa: F401  (re-exported)

LOG = logging.getLogger("acestep_v1")
CATEGORY = "audio/ACE-Step"
PREFIX = "[ACE-Step v1]"

# Socket types that only our nodes produce and consume.
ModelType = io.Custom("ACESTEP_V1_MODEL")
TagsType = io.Custom("ACESTEP_V1_TAGS")
LyricsType = io.Custom("ACESTEP_V1_LYRICS")
EditTargetType = io.Custom("ACESTEP_V1_EDIT_TARGET")
OptionsType = io.Custom("ACESTEP_V1_OPTIONS")


def info(msg: str, *args) -> None:
    LOG.info(f"{PREFIX} {msg}", *args)


def warn(msg: str, *args) -> None:
    LOG.warning(f"{PREFIX} {msg}", *args)
