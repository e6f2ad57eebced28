"""Imports run downward only, in every module (docs/architecture.md, "Import rules").

``nlp`` imports neither ``training``, ``radar`` nor ``serve``; ``training`` may import
``nlp``; ``radar`` may import ``nlp`` and ``training``; ``serve.py`` imports ``nlp`` and
``radar``. The one upward edge is the composition root: ``radar serve`` (in
``radar.cli.main``) starts ``serve.py``'s app. Every import statement counts, also the ones
inside functions, since a lazy import is still a dependency.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("nlp", "radar", "training")
ALLOWED = {
    "nlp": {"nlp"},
    "training": {"nlp", "training"},
    "radar": {"nlp", "training", "radar"},
    "serve": {"nlp", "radar", "serve"},
}
COMPOSITION_ROOT = {("radar.cli.main", "serve")}
HEAVY = ("torch", "transformers", "mlflow", "sklearn", "datasets")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(REPO).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    found = {_module_name(p): p for package in PACKAGES for p in (REPO / package).rglob("*.py")}
    found["serve"] = REPO / "serve.py"
    return found


MODULES = _modules()


def _imported(path: Path, module: str) -> set[str]:
    """Every project module name an import statement in ``path`` names (lazy ones too)."""
    names: set[str] = set()
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[:len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return {n for n in names if n.split(".")[0] in (*PACKAGES, "serve")}


def test_every_module_is_checked():
    assert len(MODULES) > 70
    for package in PACKAGES:
        assert any(name.startswith(f"{package}.") for name in MODULES), package


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_run_downward(module):
    top = module.split(".")[0]
    upward = sorted(name for name in _imported(MODULES[module], module)
                    if name.split(".")[0] not in ALLOWED[top]
                    and (module, name.split(".")[0]) not in COMPOSITION_ROOT)
    assert upward == [], f"{module} imports {upward} ({top} may import {sorted(ALLOWED[top])})"


def test_the_rule_catches_an_upward_import(tmp_path):
    """The checker itself: a module of nlp that imports radar lazily is found."""
    fake = tmp_path / "nlp" / "fake.py"
    fake.parent.mkdir()
    fake.write_text("def f():\n    from radar.store import open_store\n    from . import text\n")
    names = _imported(fake, "nlp.fake")
    assert "radar.store" in names and "nlp.text" in names


def _heavy_after_import(modules: list[str], extra: tuple[str, ...] = ()) -> list[str]:
    code = ("import sys\n" + "".join(f"import {m}\n" for m in modules)
            + f"print(','.join(m for m in {(*HEAVY, *extra)!r} if m in sys.modules))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0, out.stderr
    return [m for m in out.stdout.strip().split(",") if m]


def test_the_language_library_imports_nothing_heavy():
    """Types, text, risk and reports load no model stack; the classifier loads it per model."""
    library = ["nlp.taxonomy", "nlp.text", "nlp.types", "nlp.classifier", "nlp.summary",
               "nlp.classifier.baseline", "nlp.risk", "nlp.report", "nlp.dumps", "nlp.batch",
               "nlp.brands", "nlp.times", "nlp.errors"]
    assert _heavy_after_import(library, ("training", "radar", "serve")) == []


def test_the_command_line_loads_no_model_stack_until_a_command_runs():
    assert _heavy_after_import(["radar.cli"]) == []


def test_collection_and_store_stay_light():
    """Collecting and importing load no model stack, nor snscrape (GPL, optional)."""
    from radar.collect import SOURCES

    modules = ["radar.store", "radar.collect.runner", "radar.collect.files", *SOURCES.values()]
    assert _heavy_after_import(modules, ("training", "serve", "snscrape")) == []
