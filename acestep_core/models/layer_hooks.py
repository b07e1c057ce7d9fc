"""A caller's hook run before every layer of a network, so a long pass can be stopped part-way.

Why: one DCAE-decoder or vocoder pass of a long song runs for seconds to tens of seconds on a CPU
(60 s: the decoder ~20 s, each vocoder window ~5-9 s), so a caller that can only stop between
passes (ComfyUI's Cancel, a Ctrl-C handler) waits that long. A forward pre-hook on every submodule
gives it a chance before each layer instead (the longest single layer of the released decoder,
a 3x3 convolution of ~195 GFLOP, takes well under a second there). The hooks only call the
caller's function: no tensor is touched, so outputs stay bit-identical, and they are removed on
leaving, also when the hook raises.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from torch import nn

LayerHook = Callable[[], None]
"""Called with no arguments before a layer runs; an exception it raises aborts the forward."""


@contextmanager
def before_each_layer(hook: LayerHook | None, *modules: nn.Module) -> Iterator[None]:
    """Inside, ``hook()`` runs before the forward of every submodule of ``modules`` (themselves included).

    ``None`` registers nothing, so the uninterrupted path is the plain one.
    """
    if hook is None:
        yield
        return

    def pre_hook(_module: nn.Module, _args: tuple) -> None:
        hook()

    handles = []
    seen: set[int] = set()
    try:
        for module in modules:
            for sub in module.modules():
                if id(sub) not in seen:
                    seen.add(id(sub))
                    handles.append(sub.register_forward_pre_hook(pre_hook))
        yield
    finally:
        for handle in handles:
            handle.remove()
