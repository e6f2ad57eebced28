"""The monitoring dashboard: view models over the risk history (``views``), the pages' date
range (``daterange``), CSV exports of their tables (``export``), Jinja2 templates and a
little CSS and JavaScript. ``serve.py`` serves it; plotly.js comes from the installed
plotly package, never from a CDN.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
from pathlib import Path

from nlp.errors import NotInstalled

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"
PLOTLY_JS = ("package_data", "plotly.min.js")  # inside the plotly package


def plotly_js_path() -> Path:
    """plotly.min.js as shipped inside the plotly Python package.

    Found without importing plotly (its import is heavy and the page needs only the file).

    Raises:
        NotInstalled: plotly (the ``serve`` extra) is not installed, or its package lacks
            the file.
    """
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise NotInstalled("plotly", "serve", "the dashboard")
    path = Path(next(iter(spec.submodule_search_locations))).joinpath(*PLOTLY_JS)
    if not path.is_file():
        raise NotInstalled("plotly", "serve", "the dashboard",
                           hint="pip install --force-reinstall plotly",
                           detail=f"plotly is installed but {path} is missing")
    return path


def plotly_version() -> str:
    """The installed plotly's version (it versions the script URL, which is cached for long)."""
    try:
        return importlib.metadata.version("plotly")
    except importlib.metadata.PackageNotFoundError:
        return "0"


def static_version() -> str:
    """A short hash of the dashboard's own static files, so a changed file gets a new URL."""
    digest = hashlib.sha256()
    for path in sorted(STATIC_DIR.glob("*")):
        if path.is_file():
            digest.update(path.name.encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:10]
