"""Console feedback for long work: each stage says what it does, with a bar where it has steps.

Loading a network or decoding takes about a minute on a CPU; silence that long looks like a hang.
`ReportingPipeline` is the pipeline with its slow stages announced (the library itself prints
nothing), and `StepBar` is a bar that finishes exactly once.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Callable

from .components import Lazy, resolve
from .costs import human_seconds
from .pipeline import AceStepPipeline


def say(message: str) -> None:
    """One line of progress on stderr (stdout carries only the results)."""
    print(message, file=sys.stderr, flush=True)


class StepBar:
    """A `callback(done, total, ...)` drawing one tqdm bar; it closes once, at the last step."""

    def __init__(self, desc: str, unit: str):
        self.desc, self.unit = desc, unit
        self.bar = None
        self.closed = False

    def __call__(self, done: int, total: int, *_: Any) -> None:
        if self.closed:
            return
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=self.desc, unit=self.unit, file=sys.stderr, dynamic_ncols=True)
        if done >= total:  # close() draws the final state: drawing it here too prints 100 % twice
            self.bar.n = done
            self.close()
        else:
            self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None and not self.closed:
            self.bar.close()
        self.closed = True


class Announced(Lazy):
    """A `Lazy` component that says when it starts building and how long it took.

    It wraps the pipeline's own builder, so releasing it (low_memory) drops the network too.
    """

    def __init__(self, inner: Any, what: str):
        self.inner = inner
        super().__init__(self._announced_build)
        self.what = what

    def _announced_build(self):
        if isinstance(self.inner, Lazy) and self.inner.loaded:
            return self.inner.get()
        start = time.monotonic()
        say(f"loading {self.what} …")
        value = resolve(self.inner)
        say(f"loaded {self.what} in {human_seconds(time.monotonic() - start)}")
        return value

    def release(self) -> None:
        super().release()
        if isinstance(self.inner, Lazy):
            self.inner.release()


class ReportingPipeline(AceStepPipeline):
    """The pipeline with its slow stages announced: loading, text, audio encoding, decoding."""

    @classmethod
    def around(cls, pipe: AceStepPipeline, names: dict[str, str], *, low_memory: bool) -> "ReportingPipeline":
        """Another view of `pipe`'s components, each announced under `names[component]`."""
        parts = {k: Announced(v, names[k]) if k in names else v for k, v in pipe.components.items()}
        return cls(**parts, dtype=pipe.dtype, device=pipe.device, cpu_offload=pipe.cpu_offload,
                   low_memory=low_memory)

    def encode_prompt(self, prompt, *, erg: bool = True):
        return _timed("encoding the tags", lambda: super(ReportingPipeline, self).encode_prompt(prompt, erg=erg))

    def encode_audio(self, audio, sample_rate=None):
        return _timed("encoding the source audio",
                      lambda: super(ReportingPipeline, self).encode_audio(audio, sample_rate))

    def decode_latents(self, latents, sample_rate=48000, *, mode="plain", on_chunk=None, on_layer=None):
        bar = StepBar(f"decoding ({mode})", "part")

        def both(done: int, total: int) -> None:
            bar(done, total)
            if on_chunk is not None:
                on_chunk(done, total)

        self.codec  # load first, so that its loading line is not drawn over by the bar
        try:
            return _timed("decoding the latents to audio", lambda: super(ReportingPipeline, self).decode_latents(
                latents, sample_rate, mode=mode, on_chunk=both, on_layer=on_layer))
        finally:
            bar.close()


def _timed(what: str, work: Callable[[], Any]) -> Any:
    say(f"{what} …")
    start = time.monotonic()
    value = work()
    say(f"{what}: done in {human_seconds(time.monotonic() - start)}")
    return value
