"""Errors every area shares: a row that cannot become a post, a missing optional extra.

A feature that needs an optional dependency raises :class:`NotInstalled`, whose message
names the extra and the command that installs it; commands print it as it is.
"""

from __future__ import annotations

import importlib
from types import ModuleType


class NotInstalled(ImportError):
    """An optional extra is missing; the message says which and how to install it."""

    def __init__(self, module: str, extra: str, purpose: str, hint: str | None = None):
        self.module, self.extra = module, extra
        install = hint or f"pip install -e '.[{extra}]'"
        super().__init__(f"{purpose} needs {module}, from the {extra!r} extra: {install}")


def require(module: str, extra: str, purpose: str, hint: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`NotInstalled` naming ``extra`` and ``purpose``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise NotInstalled(module, extra, purpose, hint) from exc


class RowError(ValueError):
    """One row cannot become a post; the message is the quarantine reason."""
