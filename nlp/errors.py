"""Errors every area shares: a row that cannot become a post, a missing optional extra.

A feature that needs an optional dependency raises :class:`NotInstalled`, whose message
names the extra and the command that installs it; commands print it as it is. Another
error that must name an extra's install command takes it from :func:`install_command`.
"""

from __future__ import annotations

import importlib
from types import ModuleType


def install_command(extra: str | None) -> str:
    """The command that installs one of the project's optional extras (``None``: the core)."""
    return "pip install -e ." if extra is None else f"pip install -e '.[{extra}]'"


class NotInstalled(ImportError):
    """An optional extra is missing; the message says which and how to install it.

    ``hint`` replaces the install command where more than the extra is needed; ``detail``
    adds what was found (a Python too new for the package, a file missing from it).
    """

    def __init__(self, module: str, extra: str | None, purpose: str, hint: str | None = None,
                 detail: str | None = None):
        self.module, self.extra = module, extra
        self.install = hint or install_command(extra)
        source = "a core dependency" if extra is None else f"from the {extra!r} extra"
        message = f"{purpose} needs {module}, {source}: {self.install}"
        super().__init__(f"{message} ({detail})" if detail else message)


def require(module: str, extra: str | None, purpose: str, hint: str | None = None) -> ModuleType:
    """Import ``module`` or raise :class:`NotInstalled` naming ``extra`` and ``purpose``."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise NotInstalled(module, extra, purpose, hint) from exc


class RowError(ValueError):
    """One row cannot become a post; the message is the quarantine reason."""
