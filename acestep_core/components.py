"""Pipeline components that are built on first use and can be dropped again.

`AceStepPipeline` takes its four components (text encoder, transformer, codec, lyric tokenizer)
ready-made or as `Lazy` builders: `from_pretrained` passes builders, so a song made with
`low_memory=True` holds one network at a time and a pipeline that never decodes never loads the
decoder.
"""
from __future__ import annotations

from typing import Callable, Generic, TypeVar

T = TypeVar("T")


class Lazy(Generic[T]):
    """A component made by `build()` when first asked for; `release()` drops it (it is rebuilt on demand)."""

    def __init__(self, build: Callable[[], T]):
        self._build = build
        self._value: T | None = None

    @property
    def loaded(self) -> bool:
        return self._value is not None

    def get(self) -> T:
        if self._value is None:
            self._value = self._build()
        return self._value

    def release(self) -> None:
        self._value = None


def resolve(component):
    """The component itself: built now if it is a `Lazy` builder."""
    return component.get() if isinstance(component, Lazy) else component


def is_loaded(component) -> bool:
    return component is not None and (component.loaded if isinstance(component, Lazy) else True)
