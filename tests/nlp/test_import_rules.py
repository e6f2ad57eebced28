"""The library part of nlp imports neither training nor serve, nor anything heavy."""

import subprocess
import sys

LIBRARY_MODULES = ["nlp.taxonomy", "nlp.text", "nlp.types", "nlp.classifier", "nlp.summary",
                   "nlp.baseline"]


def test_nlp_library_imports_no_training_serve_torch_or_mlflow():
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in LIBRARY_MODULES)
        + "bad = [m for m in ('training', 'serve', 'torch', 'mlflow', 'transformers') "
          "if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_cli_imports_training_only_when_a_command_runs():
    code = "import sys, nlp.cli; print('training' in sys.modules, 'mlflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False False"


def test_collection_and_store_stay_light():
    """Collecting and importing load no model stack, nor snscrape (GPL, optional)."""
    from nlp.collect import SOURCES

    modules = ["nlp.store", "nlp.collect.runner", "nlp.collect.files", *SOURCES.values()]
    code = (
        "import sys\n"
        + "".join(f"import {m}\n" for m in modules)
        + "bad = [m for m in ('training', 'serve', 'torch', 'mlflow', 'transformers', "
          "'snscrape', 'sklearn') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == ""
