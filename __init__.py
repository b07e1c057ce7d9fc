"""ACE-Step v1 for ComfyUI (V3 node API).

ComfyUI imports this file as the pack's entry point. The nodes live in the relative package
`.nodes`; the engine is `acestep_core` (pure PyTorch, no ComfyUI import).
"""
import logging

WEB_DIRECTORY = "./js"

try:
    from .nodes import comfy_entrypoint  # noqa: F401
except ImportError as _err:
    if getattr(_err, "name", None) != "comfy_api" and "comfy_api" not in str(_err):
        raise  # a missing requirement: let ComfyUI show the traceback and "IMPORT FAILED"
    logging.getLogger("acestep_v1").error("[ACE-Step v1] these nodes need ComfyUI >= 0.3.64 (comfy_api V3): %s", _err)
    __all__ = ["WEB_DIRECTORY"]
else:
    __all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
