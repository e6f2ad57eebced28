"""Dataset registry: where each public dataset comes from, how to verify it, how to load it.

Every loader returns a ``datasets.Dataset`` in one unified schema (``FEATURES``).
Files are looked up in this order, and verified by sha256 before use:

1. the mirror folder ``$RADAR_DATA_MIRROR`` (the Makefile points it at ``../shared/datasets``);
2. the cache folder ``$RADAR_CACHE_DIR`` (default ``data/raw``);
3. the canonical URL, downloaded into the cache (when the dataset has a direct URL).
"""

from __future__ import annotations

import csv
import os
import shutil
import tempfile
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import datasets

from nlp.collect.files import parse_airline_time as parse_airline_datetime
from nlp.dumps import sha256_file
from training.labels import map_airline_reason

MIRROR_ENV = "RADAR_DATA_MIRROR"
CACHE_ENV = "RADAR_CACHE_DIR"
DEFAULT_CACHE_DIR = Path("data/raw")

FEATURES = datasets.Features(
    {
        "source": datasets.Value("string"),
        "post_id": datasets.Value("string"),
        "text": datasets.Value("string"),
        "brand": datasets.Value("string"),
        "domain": datasets.Value("string"),
        "author_id": datasets.Value("string"),
        "created_at": datasets.Value("string"),  # ISO 8601, UTC ("...Z"), or None
        "sentiment": datasets.Value("string"),  # gold, or None
        "complaint": datasets.Value("int8"),  # gold 0/1, or None
        "reason": datasets.Value("string"),  # the dataset's own reason label, verbatim
        "themes": datasets.List(datasets.Value("string")),  # themes the gold reason supports
    }
)


class DatasetError(RuntimeError):
    """A dataset file is missing, corrupt or malformed; the message says what to do."""


class ChecksumError(DatasetError):
    """A dataset file's sha256 is not the registered one."""


@dataclass(frozen=True)
class DatasetSpec:
    """A public dataset we train or evaluate on: provenance, integrity and its loader."""

    name: str
    relpath: str  # path inside the mirror and the cache, as in the public release
    sha256: str
    homepage: str
    download_url: str | None  # None: no direct download (e.g. behind a login)
    license: str
    citation: str
    raw_rows: int
    loader: Callable[[Path], datasets.Dataset]

    def describe(self) -> dict[str, str | int | None]:
        return {
            "name": self.name,
            "file": self.relpath,
            "rows": self.raw_rows,
            "license": self.license,
            "homepage": self.homepage,
            "download_url": self.download_url,
            "sha256": self.sha256,
            "citation": self.citation,
        }


def verify_file(spec: DatasetSpec, path: Path) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the registered sha256."""
    found = sha256_file(path)
    if found != spec.sha256:
        raise ChecksumError(
            f"{spec.name}: checksum mismatch for {path}\n"
            f"  expected sha256 {spec.sha256}\n  found    sha256 {found}\n"
            "The file is corrupt or a different release. Delete it and restore the original "
            f"({spec.homepage})."
        )


def _candidates(spec: DatasetSpec) -> list[tuple[str, Path]]:
    places = []
    mirror = os.environ.get(MIRROR_ENV)
    if mirror:
        places.append(("mirror", Path(mirror) / spec.relpath))
    cache = Path(os.environ.get(CACHE_ENV) or DEFAULT_CACHE_DIR)
    places.append(("cache", cache / spec.relpath))
    return places


def _download(spec: DatasetSpec, target: Path) -> None:
    if spec.download_url is None:
        raise DatasetError(
            f"{spec.name}: {spec.relpath} not found in the mirror or the cache, and it has no "
            f"direct download. Get it from {spec.homepage}, then put it at {target} "
            f"or set {MIRROR_ENV} to a folder holding {spec.relpath}."
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    # Closed by the `with` below; kept open here so its name is known to the cleanup.
    part = tempfile.NamedTemporaryFile(dir=target.parent, delete=False, suffix=".part")  # noqa: SIM115
    tmp_path = Path(part.name)
    try:
        with part, urllib.request.urlopen(spec.download_url, timeout=30) as response:
            shutil.copyfileobj(response, part)
        verify_file(spec, tmp_path)
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        tmp_path.unlink(missing_ok=True)
        raise DatasetError(
            f"{spec.name}: {spec.relpath} not found in the mirror or the cache, and the "
            f"download from {spec.download_url} failed ({exc}). With no network, put the file "
            f"at {target} or set {MIRROR_ENV} to a folder holding {spec.relpath}."
        ) from exc
    except ChecksumError:
        tmp_path.unlink(missing_ok=True)
        raise
    tmp_path.replace(target)  # only a verified file ever lands in the cache


def resolve_path(spec: DatasetSpec, download: bool = True) -> tuple[str, Path]:
    """Find a verified copy of ``spec``'s file: mirror, then cache, then download.

    Returns:
        ``(where, path)`` with ``where`` one of ``mirror``, ``cache``, ``download``.

    Raises:
        ChecksumError: the first copy found has the wrong sha256 (it is not skipped:
            a corrupt mirror should be fixed, not silently bypassed).
        DatasetError: no copy, and no download possible.
    """
    places = _candidates(spec)
    for where, path in places:
        if path.is_file():
            verify_file(spec, path)
            return where, path
    target = places[-1][1]
    if not download:
        looked = ", ".join(str(p) for _, p in places)
        raise DatasetError(
            f"{spec.name}: {spec.relpath} not found (looked in {looked}). "
            f"Set {MIRROR_ENV} to the datasets mirror, or run `radar datasets verify --download`."
        )
    _download(spec, target)
    return "download", target


def _read_text(spec_name: str, path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{spec_name}: {path} is not UTF-8 text ({exc})") from exc


def load_complaints_2019(path: Path) -> datasets.Dataset:
    """Preotiuc-Pietro et al. 2019: no header; rows are ``id, text, is_complaint, domain``."""
    rows = []
    reader = csv.reader(_read_text("complaints-2019", path).splitlines())
    for line_no, record in enumerate(reader, start=1):
        if len(record) != 4 or record[2] not in ("0", "1"):
            raise DatasetError(
                f"complaints-2019: {path} line {line_no} is malformed: expected 4 fields "
                f"(id, text, is_complaint 0/1, domain), found {record!r:.200}"
            )
        post_id, text, is_complaint, domain = record
        rows.append(
            _row("complaints-2019", post_id, text, domain=domain, complaint=int(is_complaint))
        )
    return datasets.Dataset.from_list(rows, features=FEATURES)


AIRLINE_COLUMNS = ("tweet_id", "airline_sentiment", "airline_sentiment_confidence",
                   "negativereason", "airline", "name", "text", "tweet_created")
def parse_airline_time(value: str) -> str:
    """``DD-MM-YYYY HH:MM`` (US Pacific, UTC-8) -> ISO 8601 UTC text (see nlp.collect.files)."""
    return parse_airline_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_airline_sentiment_2015(path: Path) -> datasets.Dataset:
    """Twitter US Airline Sentiment (Crowdflower, Feb 2015).

    Duplicates: 155 tweet ids appear twice (the original release re-annotated
    them; 119 pairs differ in a label or a confidence). One row per tweet id is
    kept: the one with the higher ``airline_sentiment_confidence``, the first
    in the file on a tie. Empty strings are missing values.
    """
    reader = csv.DictReader(_read_text("airline-sentiment-2015", path).splitlines())
    missing = [c for c in AIRLINE_COLUMNS if c not in (reader.fieldnames or [])]
    if missing:
        raise DatasetError(
            f"airline-sentiment-2015: {path} lacks columns {missing}; "
            f"found header {reader.fieldnames}"
        )
    best: dict[str, tuple[float, dict]] = {}
    for line_no, record in enumerate(reader, start=2):
        try:
            confidence = float(record["airline_sentiment_confidence"])
            created_at = parse_airline_time(record["tweet_created"])
            reason = record["negativereason"] or None
            themes = list(map_airline_reason(reason))
        except (TypeError, ValueError) as exc:
            raise DatasetError(
                f"airline-sentiment-2015: {path} line {line_no} is malformed ({exc})"
            ) from exc
        if record["airline_sentiment"] not in ("negative", "neutral", "positive"):
            raise DatasetError(
                f"airline-sentiment-2015: {path} line {line_no}: airline_sentiment "
                f"{record['airline_sentiment']!r} is not negative/neutral/positive"
            )
        row = _row(
            "airline-sentiment-2015",
            record["tweet_id"],
            record["text"],
            brand=record["airline"] or None,
            author_id=record["name"] or None,
            created_at=created_at,
            sentiment=record["airline_sentiment"],
            reason=reason,
            themes=themes,
        )
        kept = best.get(row["post_id"])
        if kept is None or confidence > kept[0]:
            best[row["post_id"]] = (confidence, row)
    return datasets.Dataset.from_list([row for _, row in best.values()], features=FEATURES)


def _row(source: str, post_id: str, text: str, **fields) -> dict:
    row = dict.fromkeys(FEATURES, None)
    row.update(source=source, post_id=post_id, text=text, themes=[])
    row.update(fields)
    return row


REGISTRY: dict[str, DatasetSpec] = {
    spec.name: spec
    for spec in (
        DatasetSpec(
            name="complaints-2019",
            relpath="complaints-2019/complaints-data.csv",
            sha256="ae687761af2ba2785ee4b92fe50dd14a0f12e0b4c7397c931b7fbd468cbf63ef",
            homepage="https://github.com/danielpreotiuc/complaints-social-media",
            download_url=(
                "https://raw.githubusercontent.com/danielpreotiuc/"
                "complaints-social-media/master/complaints-data.csv"
            ),
            license="released for research; cite the paper",
            citation=(
                "Preotiuc-Pietro, Gaman & Aletras (2019). Automatically Identifying "
                "Complaints in Social Media. ACL 2019."
            ),
            raw_rows=3449,
            loader=load_complaints_2019,
        ),
        DatasetSpec(
            name="airline-sentiment-2015",
            relpath="airline-sentiment-2015/Tweets.csv",
            sha256="ccd7c4c10e6370ab8ff975f4fd35269075ac477345c85a26407f4bdabb2ec9c3",
            homepage="https://www.kaggle.com/datasets/crowdflower/twitter-airline-sentiment",
            download_url=None,  # Kaggle needs a login; the Crowdflower original is gone
            license="CC BY-NC-SA 4.0",
            citation="Crowdflower (2015). Twitter US Airline Sentiment. Data for Everyone.",
            raw_rows=14640,
            loader=load_airline_sentiment_2015,
        ),
    )
}


def get_spec(name: str) -> DatasetSpec:
    try:
        return REGISTRY[name]
    except KeyError:
        raise DatasetError(
            f"unknown dataset {name!r}; known: {', '.join(sorted(REGISTRY))}"
        ) from None


def load(name: str, download: bool = True) -> datasets.Dataset:
    """Load a registered dataset, verified, in the unified schema (``FEATURES``)."""
    spec = get_spec(name)
    _, path = resolve_path(spec, download=download)
    return spec.loader(path)
