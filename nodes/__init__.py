"""ComfyUI adapter for acestep_core: one small node per stage, exchanging ComfyUI's own types.

Imported relatively by the pack's root `__init__.py` (ComfyUI has its own top-level `nodes`
module, so this package is never installed or imported by that name). Importing it loads no
model and downloads nothing; the `models/acestep` folder is registered when ComfyUI asks for the
node list.
"""
from __future__ import annotations

from ._comfy import ComfyExtension, io
from . import conditioning, importer, latent, loaders, noise, paths, regions, sampling, training

NODE_CLASSES: list[type[io.ComfyNode]] = [
    *loaders.NODES,
    *conditioning.NODES,
    *latent.NODES,
    *noise.NODES,
    *regions.NODES,
    *sampling.NODES,
    *importer.NODES,
    *training.NODES,
]


class AceStepV1Extension(ComfyExtension):
    async def get_node_list(self) -> list[type[io.ComfyNode]]:
        paths.register_model_folder()
        return list(NODE_CLASSES)


async def comfy_entrypoint() -> AceStepV1Extension:
    paths.register_model_folder()
    return AceStepV1Extension()
