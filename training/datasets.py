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

from nlp.brands import airline_2015_brand
from nlp.dumps import sha256_file
from nlp.times import parse_airline_time as parse_airline_datetime
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
    # Further files of a multi-file release, verified like the main one: (relpath, sha256).
    # A "@SHA256SUMS" sha256 means "listed, with its hash, in the main file" (nlu-plus-plus).
    extra_files: tuple[tuple[str, str], ...] = ()

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


def verify_file(spec: DatasetSpec, path: Path, expected: str | None = None) -> None:
    """Raise :class:`ChecksumError` unless ``path`` has the registered sha256."""
    expected = expected or spec.sha256
    found = sha256_file(path)
    if found != expected:
        raise ChecksumError(
            f"{spec.name}: checksum mismatch for {path}\n"
            f"  expected sha256 {expected}\n  found    sha256 {found}\n"
            "The file is corrupt or a different release. Delete it and restore the original "
            f"({spec.homepage})."
        )


def _sums_file(path: Path) -> dict[str, str]:
    """A ``sha256sum`` listing as {relative path: sha256}."""
    out = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        digest, _, name = line.strip().partition("  ")
        if digest and name:
            out[name.removeprefix("./")] = digest
    return out


def verify_extra_files(spec: DatasetSpec, main_path: Path) -> None:
    """Verify every further file of a multi-file release, beside the verified main file.

    Raises:
        DatasetError: a file is missing. ChecksumError: a file has another sha256.
    """
    if not spec.extra_files:
        return
    root = main_path.parent
    listed = _sums_file(main_path) if any(h == "@SHA256SUMS" for _, h in spec.extra_files) else {}
    for relpath, digest in spec.extra_files:
        if digest == "@SHA256SUMS":
            if relpath not in listed:
                raise DatasetError(f"{spec.name}: {relpath} is not listed in {main_path}")
            digest = listed[relpath]
        path = root / relpath
        if not path.is_file():
            raise DatasetError(f"{spec.name}: {path} is missing; the release has "
                               f"{len(spec.extra_files) + 1} files ({spec.homepage})")
        verify_file(spec, path, digest)


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
            verify_extra_files(spec, path)
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
    """``DD-MM-YYYY HH:MM`` (US Pacific, UTC-8) -> ISO 8601 UTC text (see nlp.times)."""
    return parse_airline_datetime(value).strftime("%Y-%m-%dT%H:%M:%SZ")


def load_airline_sentiment_2015(path: Path) -> datasets.Dataset:
    """Twitter US Airline Sentiment (Crowdflower, Feb 2015).

    Duplicates: 155 tweet ids appear twice (the original release re-annotated
    them; 119 pairs differ in a label or a confidence). One row per tweet id is
    kept: the one with the higher ``airline_sentiment_confidence``, the first
    in the file on a tie. Empty strings are missing values. The rows labelled "Delta" are
    JetBlue's (:func:`nlp.brands.airline_2015_brand`).
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
            brand=airline_2015_brand(record["airline"] or None, record["text"]),
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


def _csv_rows(spec_name: str, path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """A headed CSV's rows, after checking that ``columns`` are there."""
    reader = csv.DictReader(_read_text(spec_name, path).splitlines(keepends=True))
    missing = [c for c in columns if c not in (reader.fieldnames or [])]
    if missing:
        raise DatasetError(f"{spec_name}: {path} lacks columns {missing}; "
                           f"found header {reader.fieldnames}")
    return list(reader)


def load_banking77(path: Path) -> datasets.Dataset:
    """PolyAI banking77: ``train.csv`` and ``test.csv`` (``text, category``) of one bank's app.

    Both files are loaded (neither is our test set); ``post_id`` is ``train-N`` / ``test-N``
    (the data row number), ``reason`` the intent.
    """
    rows = []
    for part in ("train", "test"):
        for number, record in enumerate(
                _csv_rows("banking77", path.parent / f"{part}.csv", ("text", "category")), 1):
            if not record["text"] or not record["category"]:
                raise DatasetError(f"banking77: {part}.csv data row {number} lacks text or "
                                   f"category: {record!r:.200}")
            rows.append(_row("banking77", f"{part}-{number}", record["text"],
                             domain="banking", reason=record["category"]))
    return datasets.Dataset.from_list(rows, features=FEATURES)


NLUPP_DOMAINS = ("banking", "hotels")


def load_nlu_plus_plus(path: Path) -> datasets.Dataset:
    """NLU++ (banking, hotels): 20 JSON folds per domain of ``{text, intents[], slots}``.

    ``post_id`` is ``<domain>-<fold>-<index>``; ``reason`` the intents joined by ``|``.
    """
    import json

    rows = []
    for domain in NLUPP_DOMAINS:
        for fold in range(20):
            file = path.parent / "data" / domain / f"fold{fold}.json"
            try:
                items = json.loads(_read_text("nlu-plus-plus", file))
            except json.JSONDecodeError as exc:
                raise DatasetError(f"nlu-plus-plus: {file} is not JSON ({exc})") from exc
            for index, item in enumerate(items):
                if not isinstance(item, dict) or not isinstance(item.get("text"), str):
                    raise DatasetError(f"nlu-plus-plus: {file} item {index} has no text")
                rows.append(_row("nlu-plus-plus", f"{domain}-{fold}-{index}", item["text"],
                                 domain=domain,
                                 reason="|".join(sorted(item.get("intents") or []))))
    return datasets.Dataset.from_list(rows, features=FEATURES)


BITEXT_COLUMNS = ("instruction", "intent", "category")


def load_bitext(path: Path) -> datasets.Dataset:
    """Bitext customer-support sample: generated requests, ``instruction`` is the customer.

    ``post_id`` is the data row number; ``reason`` the intent (27 of them).
    """
    rows = []
    for number, record in enumerate(_csv_rows("bitext-customer-support", path,
                                              BITEXT_COLUMNS), 1):
        if not record["instruction"].strip() or not record["intent"]:
            raise DatasetError(f"bitext-customer-support: data row {number} lacks instruction "
                               f"or intent")
        rows.append(_row("bitext-customer-support", str(number), record["instruction"],
                         domain="customer-support", reason=record["intent"]))
    return datasets.Dataset.from_list(rows, features=FEATURES)


CFPB_COLUMNS = ("Date received", "Product", "Issue", "Sub-issue",
                "Consumer complaint narrative", "Company", "Complaint ID")
# A narrative is a formal letter (median 790 characters); the model reads a post's first
# 64 tokens, so annotators and models alike get the letter's opening, cut at a word.
CFPB_MAX_CHARS = 600
CFPB_INDUSTRY = {
    "Credit reporting, credit repair services, or other personal consumer reports":
        "credit-reporting",
    "Debt collection": "debt-collection",
    "Mortgage": "lending", "Student loan": "lending", "Vehicle loan or lease": "lending",
    "Payday loan, title loan, or personal loan": "lending", "Consumer Loan": "lending",
    "Payday loan": "lending",
    "Credit card or prepaid card": "cards", "Credit card": "cards",
    "Checking or savings account": "bank-accounts", "Bank account or service": "bank-accounts",
    "Money transfer, virtual currency, or money service": "money-transfer",
}


def cut_letter(text: str, limit: int = CFPB_MAX_CHARS) -> str:
    """A long narrative's opening: whitespace collapsed, cut at the last word before ``limit``."""
    text = " ".join(text.split())
    if len(text) <= limit:
        return text
    return text[:limit].rsplit(" ", 1)[0] + " …"


def load_cfpb(path: Path) -> datasets.Dataset:
    """CFPB complaints sample: only rows with the consumer's narrative (1,532 of 6,623).

    ``post_id`` is the Complaint ID, ``brand`` the company, ``domain`` the industry of the
    product (``CFPB_INDUSTRY``), ``reason`` "Issue | Sub-issue", ``created_at`` the date
    received; the text is the narrative's opening (``cut_letter``).
    """
    from datetime import datetime

    rows = []
    for number, record in enumerate(_csv_rows("cfpb-complaints-sample", path, CFPB_COLUMNS), 2):
        narrative = record["Consumer complaint narrative"].strip()
        if not narrative:
            continue
        try:
            received = datetime.strptime(record["Date received"], "%Y/%m/%d")
        except ValueError as exc:
            raise DatasetError(f"cfpb-complaints-sample: {path} record {number}: date "
                               f"{record['Date received']!r} is not YYYY/M/D") from exc
        rows.append(_row(
            "cfpb-complaints-sample", record["Complaint ID"], cut_letter(narrative),
            brand=record["Company"] or None,
            domain=CFPB_INDUSTRY.get(record["Product"], "other-finance"),
            created_at=received.strftime("%Y-%m-%dT00:00:00Z"),
            reason=" | ".join(v for v in (record["Issue"], record["Sub-issue"]) if v)))
    return datasets.Dataset.from_list(rows, features=FEATURES)


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
        DatasetSpec(
            name="banking77",
            relpath="banking77/train.csv",
            sha256="b06e26ac675513959a63135f11b94ea7786ed02da65db93a5650d8838cbc664b",
            extra_files=(
                ("test.csv", "d12d6e3bc4c3103966ae786dc435913c0c563dfa328f5a3646d0e62cfeeb474d"),
                ("categories.json",
                 "53261da888122daf2d120d925458631d9619e15d82e56052e7a42e535ce32b63"),
            ),
            homepage="https://github.com/PolyAI-LDN/task-specific-datasets",
            download_url=None,  # three files; get banking_data/ at commit 57ec275
            license="CC BY 4.0",
            citation=("Casanueva et al. (2020). Efficient Intent Detection with Dual Sentence "
                      "Encoders. NLP4ConvAI."),
            raw_rows=13083,
            loader=load_banking77,
        ),
        DatasetSpec(
            name="nlu-plus-plus",
            relpath="nlu-plus-plus/SHA256SUMS",
            sha256="778c1d91f47b4de2195b996640a99ac348f992bd3d82f9814dd13cee8b714e48",
            extra_files=(("data/ontology.json", "@SHA256SUMS"),
                         *((f"data/{d}/fold{k}.json", "@SHA256SUMS")
                           for d in NLUPP_DOMAINS for k in range(20))),
            homepage="https://github.com/PolyAI-LDN/task-specific-datasets",
            download_url=None,  # 41 files; get nlupp/ at commit 57ec275
            license="CC BY 4.0",
            citation=("Casanueva et al. (2022). NLU++: A Multi-Label, Slot-Rich, Generalisable "
                      "Dataset for Natural Language Understanding in Task-Oriented Dialogue. "
                      "Findings of NAACL."),
            raw_rows=3080,
            loader=load_nlu_plus_plus,
        ),
        DatasetSpec(
            name="bitext-customer-support",
            relpath="bitext-customer-support/Bitext_Sample_Customer_Support_Training_Dataset.csv",
            sha256="079b0cec48d34c319c9877b6d178390bf7187a7f7a604958e0ed5a096bba5af6",
            homepage="https://github.com/bitext/customer-support-llm-chatbot-training-dataset",
            download_url=None,
            license="CDLA-Sharing 1.0",
            citation=("Bitext (2023). Customer Support LLM Chatbot Training Dataset (sample). "
                      "Machine-generated text."),
            raw_rows=4514,
            loader=load_bitext,
        ),
        DatasetSpec(
            name="cfpb-complaints-sample",
            relpath="cfpb-complaints-sample/complaints_sample.csv",
            sha256="62db0ac12e10f32b77f876283818fe7f6508fed767791d90dda190fd1922878f",
            homepage="https://github.com/ZiyuYan9/consumer_complaints",
            download_url=None,
            license="US government data, public domain (CC0 1.0)",
            citation=("US Consumer Financial Protection Bureau, Consumer Complaint Database "
                      "(random sample)."),
            raw_rows=6623,
            loader=load_cfpb,
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
