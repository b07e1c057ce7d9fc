"""Optional text packages, imported only when a line needs them.

Upstream swallows every error inside the per-line encoder, so a missing package silently deletes
lyric lines. Importing through :func:`require` turns that into an error that names the package and
the pip command (spec §4.4).
"""
from __future__ import annotations

import importlib
from types import ModuleType

# import name -> (distribution name, pinned version the golden fixtures were made with)
_PINS: dict[str, tuple[str, str]] = {
    "py3langid": ("py3langid", "0.3.0"),
    "num2words": ("num2words", "0.5.14"),
    "pypinyin": ("pypinyin", "0.53.0"),
    "hangul_romanize": ("hangul-romanize", "0.1.0"),
    "cutlet": ("cutlet", "0.5.2"),
    "fugashi": ("fugashi", "1.5.2"),
    "unidic_lite": ("unidic-lite", "1.0.8"),
}


class MissingLanguagePackage(ImportError):
    """A package needed to process lyrics in some language is not installed."""

    def __init__(self, package: str, language: str | None = None, pip_command: str | None = None):
        dist, version = _PINS.get(package, (package, ""))
        self.package = dist
        self.language = language
        self.pip_command = pip_command or f"pip install {dist}{'==' + version if version else ''}"
        need = f"lyrics in language {language!r} need" if language else "lyric processing needs"
        super().__init__(
            f"{need} the Python package {dist!r}, which is not installed. "
            f"Install it with: {self.pip_command}",
            name=package,
        )


def require(module: str, language: str | None = None, pip_command: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`MissingLanguagePackage` naming it."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        # Name what is really absent: importing cutlet fails on fugashi when only fugashi is missing.
        missing = (getattr(err, "name", None) or module).split(".")[0]
        raise MissingLanguagePackage(missing, language, pip_command) from err
