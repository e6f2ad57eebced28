"""The shared missing-extra error: what its message names, and ``require``."""

from __future__ import annotations

import sys

import pytest

from nlp.errors import NotInstalled, install_command, require


def test_the_message_names_the_purpose_module_extra_and_install_command():
    error = NotInstalled("plotly", "serve", "the dashboard")
    assert str(error) == "the dashboard needs plotly, from the 'serve' extra: " \
                         "pip install -e '.[serve]'"
    assert (error.module, error.extra, error.install) == ("plotly", "serve",
                                                          "pip install -e '.[serve]'")
    assert isinstance(error, ImportError)  # `except ImportError` still catches it


def test_a_hint_replaces_the_install_command_and_a_detail_is_added_after_it():
    error = NotInstalled("snscrape", "snscrape", "the Telegram source",
                         hint="use Python 3.11, then pip install -e '.[snscrape]'",
                         detail="this is Python 3.12.1")
    assert str(error) == ("the Telegram source needs snscrape, from the 'snscrape' extra: use "
                          "Python 3.11, then pip install -e '.[snscrape]' (this is Python 3.12.1)")


def test_install_command_is_the_one_every_message_uses():
    assert install_command("teacher") == "pip install -e '.[teacher]'"
    assert NotInstalled("x", "teacher", "p").install == install_command("teacher")


def test_a_core_dependency_is_named_as_such():
    error = NotInstalled("mlflow", None, "loading models:/x@champion")
    assert str(error) == ("loading models:/x@champion needs mlflow, a core dependency: "
                          "pip install -e .")


def test_require_returns_the_module_or_raises_naming_the_extra(monkeypatch):
    assert require("json", None, "reading") is sys.modules["json"]
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # import fails as if missing
    with pytest.raises(NotInstalled, match=r"^the ONNX backend needs onnxruntime, from the "
                                           r"'onnx' extra: pip install -e '\.\[onnx\]'$") as caught:
        require("onnxruntime", "onnx", "the ONNX backend")
    assert isinstance(caught.value.__cause__, ImportError)
