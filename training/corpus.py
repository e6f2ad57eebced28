"""The multi-task training corpus: every usable post, its gold and weak labels, and masks.

``build_corpus`` (``radar corpus build``) writes a ``datasets.DatasetDict`` under
``data/processed/corpus/``:

- ``train``: every post of the registered datasets, de-duplicated by normalised text,
  minus the gold items, any near-duplicate of a gold ``test`` text and any post by a
  gold ``test`` author. Labels: the datasets' own gold sentiment (airline) and complaint
  (complaints-2019), and weak probabilities for every theme and churn intent.
  Rows of an industry held out for the out-of-domain test (``training.ood``) never enter.
  Intent and issue datasets add their mapped labels (``training.labels.map_intent``):
  complaint 0 and neutral sentiment for plain questions, complaint 1 for reported failures.
  Posts we wrote ourselves (``data/written/``) enter with their labels, one source per batch
  (``written-posts``, ``written-posts-2``; :data:`WRITTEN_FILES`).
- ``validation``: the gold ``dev`` and ``ood-dev`` items with their gold labels (all tasks),
  minus items of held-out industries.
- ``test``: the frozen gold ``test`` items with their gold labels (all tasks): in-domain.
- ``ood_test``: every gold item of a held-out industry (out-of-domain, by industry).

Every label has a mask (1 = present) and a source column. The same inputs give
byte-identical files: rows are sorted by (source, post_id), nothing random is drawn.
A data card (``DATA_CARD.md`` and ``data_card.json``) is written beside the data.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import datasets

from nlp.taxonomy import SENTIMENTS, THEME_KEYS
from nlp.text import dedup_key
from training import datasets as registry
from training.annotation import ANNOTATION_DIR, AnnotationError, read_jsonl
from training.labels import map_intent
from training.ood import industry_of, is_held_out
from training.splits import near_duplicate_key
from training.weak import WEAK_KEYS, WeakModel, evaluate_weak, fit_weak_model

CORPUS_DIR = Path("data/processed/corpus")
WRITTEN_SOURCE = "written-posts"
WRITTEN_FILE = Path("data/written/posts.jsonl")
# Every written batch is its own corpus source, so a config can weigh or drop it
# (``source_weights``) and an ablation can measure what it adds.
WRITTEN_FILES = {WRITTEN_SOURCE: WRITTEN_FILE,
                 "written-posts-2": Path("data/written/posts-2.jsonl")}
GOLD_FILE = "gold.jsonl"
FEATURES = datasets.Features({
    "source": datasets.Value("string"), "post_id": datasets.Value("string"),
    "text": datasets.Value("string"), "brand": datasets.Value("string"),
    "author_id": datasets.Value("string"), "created_at": datasets.Value("string"),
    "sentiment": datasets.Value("int8"), "sentiment_mask": datasets.Value("int8"),
    "sentiment_source": datasets.Value("string"),
    "complaint": datasets.Value("float32"), "complaint_mask": datasets.Value("int8"),
    "complaint_source": datasets.Value("string"),
    "themes": datasets.Sequence(datasets.Value("float32"), length=len(THEME_KEYS)),
    "themes_mask": datasets.Value("int8"), "themes_source": datasets.Value("string"),
    "churn_intent": datasets.Value("float32"), "churn_intent_mask": datasets.Value("int8"),
    "churn_intent_source": datasets.Value("string"),
    "industry": datasets.Value("string"),
})


class CorpusError(RuntimeError):
    """The corpus cannot be built from these inputs; the message says why."""


@dataclass(frozen=True)
class Corpus:
    """The built corpus, where it went, and the weak model behind its weak labels."""

    data: datasets.DatasetDict
    out_dir: Path
    weak: WeakModel
    card: dict


def load_gold(annotation_dir: Path = ANNOTATION_DIR) -> list[dict]:
    """The gold items (labels, origin, split); text is joined from the datasets, never stored."""
    path = Path(annotation_dir) / GOLD_FILE
    if not path.is_file():
        raise CorpusError(f"{path}: no gold annotations (issue [D]); see "
                          f"{annotation_dir}/README.md")
    return read_jsonl(path)


def input_digests(annotation_dir: Path, written_paths: Mapping[str, Path]) -> dict[str, str]:
    """sha256 of the files we keep in the repo that a corpus is built from (gold and each
    written batch), by path: a corpus whose inputs changed since is stale."""
    paths = [Path(annotation_dir) / GOLD_FILE, *map(Path, written_paths.values())]
    return {str(path): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in paths if path.is_file()}


def stale_inputs(corpus_dir: Path) -> list[str]:
    """The recorded inputs of a saved corpus whose files have changed since it was built
    (none for a corpus that records no inputs, or whose input files are gone)."""
    card_path = Path(corpus_dir) / "data_card.json"
    if not card_path.is_file():
        return []
    recorded = json.loads(card_path.read_text(encoding="utf-8")).get("inputs") or {}
    return [path for path, digest in sorted(recorded.items())
            if Path(path).is_file()
            and hashlib.sha256(Path(path).read_bytes()).hexdigest() != digest]


def load_written(path: Path, source: str = WRITTEN_SOURCE) -> list[dict]:
    """Posts we wrote ourselves (``data/written/README.md``): training only, never evaluated.

    Each line: ``post_id``, ``text``, ``industry``, and the labels of a gold item; the rows
    carry ``source`` (one name per written batch, :data:`WRITTEN_FILES`).
    """
    from training.annotation import check_label

    rows = []
    for number, record in enumerate(read_jsonl(path), start=1):
        where = f"{path}:{number}"
        if not record.get("post_id") or not str(record.get("text") or "").strip():
            raise CorpusError(f"{where}: a written post needs post_id and text")
        label = check_label({**record, "item_id": record["post_id"]}, where)
        rows.append({"source": source, "post_id": str(record["post_id"]),
                     "text": record["text"], "brand": None, "domain": record.get("industry"),
                     "author_id": None, "created_at": None, "reason": None,
                     **{k: label[k] for k in ("sentiment", "complaint", "themes",
                                              "churn_intent")}})
    return rows


def join_text(gold: Sequence[Mapping], rows_by_key: Mapping[tuple[str, str], Mapping]
              ) -> list[dict]:
    """Each gold item with its post's row (text, author, dataset labels) from the datasets."""
    out = []
    for item in gold:
        row = rows_by_key.get((item["source"], item["post_id"]))
        if row is None:
            raise AnnotationError(f"gold item {item['item_id']}: no post {item['post_id']!r} "
                                  f"in dataset {item['source']!r}")
        out.append({**row, "gold": item})
    return out


def _labels_row(row: Mapping, sentiment: tuple[int, int, str], complaint: tuple[float, int, str],
                themes: tuple[list[float], int, str], churn: tuple[float, int, str]) -> dict:
    return {
        "source": row["source"], "post_id": row["post_id"], "text": row["text"],
        "brand": row.get("brand"), "author_id": row.get("author_id"),
        "created_at": row.get("created_at"),
        "sentiment": sentiment[0], "sentiment_mask": sentiment[1], "sentiment_source": sentiment[2],
        "complaint": complaint[0], "complaint_mask": complaint[1], "complaint_source": complaint[2],
        "themes": themes[0], "themes_mask": themes[1], "themes_source": themes[2],
        "churn_intent": churn[0], "churn_intent_mask": churn[1], "churn_intent_source": churn[2],
        "industry": industry_of(row),
    }


def _gold_row(joined: Mapping, source: str = "gold-annotation") -> dict:
    g = joined["gold"]
    return _labels_row(
        joined, (SENTIMENTS.index(g["sentiment"]), 1, source),
        (float(g["complaint"]), 1, source),
        ([float(t in g["themes"]) for t in THEME_KEYS], 1, source),
        (float(g["churn_intent"]), 1, source))


def _train_row(row: Mapping, weak: Mapping[str, float]) -> dict:
    if row["source"] in WRITTEN_FILES:
        return _gold_row({**row, "gold": row}, source=row["source"])
    sentiment = ((SENTIMENTS.index(row["sentiment"]), 1, f"gold-{row['source']}")
                 if row.get("sentiment") else (-1, 0, "none"))
    complaint = ((float(row["complaint"]), 1, f"gold-{row['source']}")
                 if row.get("complaint") is not None else (-1.0, 0, "none"))
    mapped = map_intent(row)
    if mapped is not None and mapped.complaint is not None and complaint[1] == 0:
        complaint = (float(mapped.complaint), 1, f"map-{row['source']}")
        if mapped.complaint == 0:  # a plain question or request: neutral by the guide
            sentiment = (SENTIMENTS.index("neutral"), 1, f"map-{row['source']}")
        elif row["source"] == "cfpb-complaints-sample":  # a complaint letter to a regulator
            sentiment = (SENTIMENTS.index("negative"), 1, f"map-{row['source']}")
    return _labels_row(row, sentiment, complaint,
                       ([round(weak[t], 6) for t in THEME_KEYS], 1, "weak"),
                       (round(weak["churn_intent"], 6), 1, "weak"))


def build_corpus(out_dir: Path = CORPUS_DIR, annotation_dir: Path = ANNOTATION_DIR,
                 rows_by_dataset: Mapping[str, Sequence[Mapping]] | None = None,
                 written_paths: Mapping[str, Path] | None = None) -> Corpus:
    """Build and save the corpus; see the module docstring."""
    if rows_by_dataset is None:
        rows_by_dataset = {name: registry.load(name).to_list()
                           for name in sorted(registry.REGISTRY)}
    written = WRITTEN_FILES if written_paths is None else written_paths
    rows_by_dataset = {**rows_by_dataset, **{source: load_written(Path(path), source)
                                             for source, path in written.items()
                                             if Path(path).is_file()}}
    rows = sorted((r for name in sorted(rows_by_dataset) for r in rows_by_dataset[name]),
                  key=lambda r: (r["source"], r["post_id"]))
    by_key = {(r["source"], r["post_id"]): r for r in rows}
    gold = join_text(load_gold(annotation_dir), by_key)
    ood_test = [g for g in gold if is_held_out(g)]
    dev = [g for g in gold if g["gold"]["split"] in ("dev", "ood-dev") and not is_held_out(g)]
    test = [g for g in gold if g["gold"]["split"] == "test"]
    if not dev or not test:
        raise CorpusError(f"gold needs dev and test items; found {len(dev)} dev, {len(test)} "
                          "test")

    gold_keys = {(g["source"], g["post_id"]) for g in gold}
    unseen = test + ood_test  # nothing like these may train
    test_texts = {near_duplicate_key(g["text"]) for g in unseen}
    test_authors = {str(g["author_id"]).casefold() for g in unseen if g.get("author_id")}
    train_rows, seen, dropped = [], set(), {"gold item": 0, "held-out industry": 0,
                                            "near-duplicate of gold test": 0,
                                            "author in gold test": 0, "duplicate text": 0}
    for row in rows:
        if (row["source"], row["post_id"]) in gold_keys:
            dropped["gold item"] += 1
        elif is_held_out(row):
            dropped["held-out industry"] += 1
        elif near_duplicate_key(row["text"]) in test_texts:
            dropped["near-duplicate of gold test"] += 1
        elif row.get("author_id") and str(row["author_id"]).casefold() in test_authors:
            dropped["author in gold test"] += 1
        elif dedup_key(row["text"]) in seen:
            dropped["duplicate text"] += 1
        else:
            seen.add(dedup_key(row["text"]))
            train_rows.append(row)

    weak = fit_weak_model(train_rows, dev, [g["gold"] for g in dev],
                          [g["gold"]["sample"] == "random" for g in dev])
    splits = {
        "train": [_train_row(r, weak.probabilities(r)) for r in train_rows],
        "validation": [_gold_row(g) for g in dev],
        "test": [_gold_row(g) for g in test],
    }
    if ood_test:  # gold of held-out industries (none in a corpus without them)
        splits["ood_test"] = [_gold_row(g) for g in ood_test]
    data = datasets.DatasetDict({
        name: datasets.Dataset.from_list(split_rows, features=FEATURES)
        for name, split_rows in splits.items()})
    card = {**data_card(data, weak, dev, test, dropped, ood_test),
            "inputs": input_digests(annotation_dir, written)}
    _save(data, card, Path(out_dir))
    return Corpus(data, Path(out_dir), weak, card)


def data_card(data: datasets.DatasetDict, weak: WeakModel, dev: Sequence[Mapping],
              test: Sequence[Mapping], dropped: Mapping[str, int],
              ood_test: Sequence[Mapping] = ()) -> dict:
    """Counts per label per split, label sources, licenses, the weak labels' quality."""
    counts = {}
    for name, split in data.items():
        themes = [sum(row[i] >= 0.5 for row in split["themes"]) for i in range(len(THEME_KEYS))]
        counts[name] = {
            "rows": len(split),
            "sentiment": {s: sum(1 for v, m in zip(split["sentiment"], split["sentiment_mask"],
                                                  strict=True) if m and v == i)
                          for i, s in enumerate(SENTIMENTS)},
            "complaint": {"yes": sum(1 for v, m in zip(split["complaint"],
                                                      split["complaint_mask"], strict=True)
                                     if m and v >= 0.5),
                          "labelled": sum(split["complaint_mask"])},
            "themes_p>=0.5": dict(zip(THEME_KEYS, themes, strict=True)),
            "churn_intent_p>=0.5": sum(v >= 0.5 for v in split["churn_intent"]),
            "sources": {col: dict(sorted(_count(split[col]).items()))
                        for col in ("sentiment_source", "complaint_source", "themes_source",
                                    "churn_intent_source")},
        }
    return {
        "splits": counts,
        "dropped_from_train": dict(dropped),
        "licenses": {name: {"license": spec.license, "citation": spec.citation,
                            "homepage": spec.homepage}
                     for name, spec in sorted(registry.REGISTRY.items())},
        "labelling_functions": [
            {"name": s.name, "polarity": s.polarity, "coverage": round(s.coverage, 4),
             "fires_dev": s.fires_dev, "precision_dev": round(s.precision, 3),
             "recall_dev": round(s.recall_dev, 3), "kept": s.kept}
            for s in weak.stats],
        "weak_on_dev": _rounded(evaluate_weak(weak, dev, [g["gold"] for g in dev])),
        "weak_on_test": _rounded(evaluate_weak(weak, test, [g["gold"] for g in test])),
        "weak_on_ood_test": (_rounded(evaluate_weak(weak, ood_test,
                                                    [g["gold"] for g in ood_test]))
                             if ood_test else {}),
        "mapped_complaint_on_dev": mapped_complaint_agreement(dev),
    }


def mapped_complaint_agreement(dev: Sequence[Mapping]) -> dict[str, dict[str, float]]:
    """Per dataset: how often an intent's mapped complaint label (``map_intent``) matches
    gold dev, the check before trusting the mapping as training signal."""
    out: dict[str, dict[str, float]] = {}
    for item in dev:
        mapped = map_intent(item)
        if mapped is None or mapped.complaint is None:
            continue
        row = out.setdefault(item["source"], {"items": 0, "agree": 0})
        row["items"] += 1
        row["agree"] += int(mapped.complaint == int(item["gold"]["complaint"]))
    return {k: {**v, "accuracy": round(v["agree"] / v["items"], 3)} for k, v in out.items()}


def _count(values: Sequence[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def _rounded(metrics: Mapping[str, Mapping[str, float]]) -> dict:
    return {k: {m: round(v, 4) if isinstance(v, float) else v for m, v in row.items()}
            for k, row in metrics.items()}


def _save(data: datasets.DatasetDict, card: dict, out_dir: Path) -> None:
    tmp = out_dir.with_name(f".{out_dir.name}.tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    bars = datasets.is_progress_bar_enabled()
    datasets.disable_progress_bars()  # a bar per split of a few seconds is noise
    try:
        data.save_to_disk(str(tmp))
    finally:
        if bars:
            datasets.enable_progress_bars()
    (tmp / "data_card.json").write_text(json.dumps(card, indent=2, sort_keys=True) + "\n",
                                        encoding="utf-8")
    (tmp / "DATA_CARD.md").write_text(render_card(card), encoding="utf-8")
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp.rename(out_dir)


def render_card(card: Mapping) -> str:
    """The data card as Markdown."""
    lines = ["# Training corpus: data card", "",
             "Built by `radar corpus build` (training/corpus.py). Gold test items, their "
             "near-duplicates and their authors never enter `train`.", "",
             "| split | rows | sentiment neg/neu/pos | complaint yes / labelled | "
             + " | ".join(THEME_KEYS) + " | churn |",
             "|---|---|---|---|" + "---|" * (len(THEME_KEYS) + 1)]
    for name, c in card["splits"].items():
        s = c["sentiment"]
        lines.append(f"| {name} | {c['rows']:,} | {s['negative']}/{s['neutral']}/{s['positive']}"
                     f" | {c['complaint']['yes']} / {c['complaint']['labelled']} | "
                     + " | ".join(str(c["themes_p>=0.5"][t]) for t in THEME_KEYS)
                     + f" | {c['churn_intent_p>=0.5']} |")
    lines += ["", "Theme and churn counts are items with probability ≥ 0.5 (weak in `train`, "
              "gold elsewhere).", "", "## Label sources", ""]
    for name, c in card["splits"].items():
        lines.append(f"- **{name}**: " + "; ".join(
            f"{col.removesuffix('_source')}: " + ", ".join(f"{k} {v:,}" for k, v in src.items())
            for col, src in c["sources"].items()))
    lines += ["", "## Dropped from train", ""]
    lines += [f"- {k}: {v:,}" for k, v in card["dropped_from_train"].items()]
    lines += ["", "## Weak labels on gold", "",
              "| label | dev P | dev R | dev F1 | dev support | test P | test R | test F1 "
              "| test support |", "|---|---|---|---|---|---|---|---|---|"]
    for key in WEAK_KEYS:
        d, t = card["weak_on_dev"][key], card["weak_on_test"][key]
        lines.append(f"| {key} | {d['precision']:.2f} | {d['recall']:.2f} | {d['f1']:.2f} | "
                     f"{d['support']} | {t['precision']:.2f} | {t['recall']:.2f} | "
                     f"{t['f1']:.2f} | {t['support']} |")
    if card.get("weak_on_ood_test"):
        lines += ["", "## Weak labels on the out-of-domain test", "",
                  "| label | P | R | F1 | support |", "|---|---|---|---|---|"]
        for key in WEAK_KEYS:
            o = card["weak_on_ood_test"][key]
            lines.append(f"| {key} | {o['precision']:.2f} | {o['recall']:.2f} | {o['f1']:.2f} | "
                         f"{o['support']} |")
    if card.get("mapped_complaint_on_dev"):
        lines += ["", "## Mapped complaint labels on gold dev", "",
                  "An intent's mapped complaint label (plain question: 0; reported failure: 1) "
                  "against gold dev, per dataset.", "",
                  "| dataset | dev items | agree | accuracy |", "|---|---|---|---|"]
        for name, row in sorted(card["mapped_complaint_on_dev"].items()):
            lines.append(f"| {name} | {row['items']} | {row['agree']} | {row['accuracy']:.2f} |")
    lines += ["", "## Labelling functions", "",
              "Precision is Laplace-smoothed; recall is the share of dev items whose gold value "
              "is the function's vote that it votes on.", "",
              "| LF | votes | corpus coverage | dev fires | dev precision | dev recall | kept |",
              "|---|---|---|---|---|---|---|"]
    for lf in card["labelling_functions"]:
        lines.append(f"| {lf['name']} | {lf['polarity']} | {lf['coverage']:.2%} | "
                     f"{lf['fires_dev']} | {lf['precision_dev']:.2f} | {lf['recall_dev']:.2f} | "
                     f"{'yes' if lf['kept'] else 'no'} |")
    lines += ["", "## Licenses", ""]
    lines += [f"- {name}: {v['license']}. {v['citation']}" for name, v in card["licenses"].items()]
    return "\n".join(lines) + "\n"
