"""ACE-Step v1 for ComfyUI (V3 node API).

ComfyUI imports this file as the pack's entry point. The nodes live in the relative package
`.nodes`; the engine is `acestep_core` (pure PyTorch, no ComfyUI import).
"""
import logging

WEB_DIRECTORY = "./js"
__all__ = ["WEB_DIRECTORY"]

if __package__:  # imported as the pack's package, as ComfyUI does
    try:
        from .nodes import comfy_entrypoint  # noqa: F401
    except ImportError as _err:
        if getattr(_err, "name", None) != "comfy_api" and "comfy_api" not in str(_err):
            raise  # a missing requirement: let ComfyUI show the traceback and "IMPORT FAILED"
        logging.getLogger("acestep_v1").error("[ACE-Step v1] these nodes need ComfyUI >= 0.3.64 (comfy_api V3): %s", _err)
    else:
        __all__ = ["WEB_DIRECTORY", "comfy_entrypoint"]
# else: imported as a plain module (e.g. pytest collecting a checkout whose folder name is no Python
# identifier): there is no package to import the nodes relatively from, and nothing to register.
