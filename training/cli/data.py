"""``radar datasets`` and ``radar corpus``: the public datasets, gold annotations and the corpus.

:func:`register` adds both command groups to the ``radar`` app.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table
from rich.text import Text

from nlp.console import console, err_console, fail, labelled, make_table

datasets_app = typer.Typer(help="The public datasets we train and evaluate on.",
                           no_args_is_help=True)
corpus_app = typer.Typer(help="Gold annotations, weak labels and the training corpus.",
                         no_args_is_help=True)


def register(app: typer.Typer) -> None:
    """Add ``datasets`` and ``corpus`` to ``app``."""
    app.add_typer(datasets_app, name="datasets")
    app.add_typer(corpus_app, name="corpus")


@datasets_app.command("list")
def datasets_list() -> None:
    """List the registered datasets with their source, license and where they resolve."""
    from training import datasets as registry

    table = make_table("name", "file", "rows", "license", "homepage", "found", numbers=("rows",),
                       title="registered datasets")
    for name, spec in sorted(registry.REGISTRY.items()):
        try:
            where, _ = registry.resolve_path(spec, download=False)
        except registry.DatasetError as exc:
            where = Text("missing" if not isinstance(exc, registry.ChecksumError)
                         else "checksum mismatch", style="red")
        table.add_row(name, spec.relpath, f"{spec.raw_rows:,}", spec.license, spec.homepage, where)
    console.print(table)


@datasets_app.command("verify")
def datasets_verify(
    download: Annotated[bool, typer.Option(help="Download missing files into the cache.")] = False,
) -> None:
    """Check every registered dataset file against its sha256 and load it."""
    from training import datasets as registry

    failures = 0
    for name, spec in sorted(registry.REGISTRY.items()):
        try:
            where, path = registry.resolve_path(spec, download=download)
            rows = len(spec.loader(path))
        except registry.DatasetError as exc:
            failures += 1
            err_console.print(labelled("FAIL", "red", str(exc)), soft_wrap=True)
            continue
        console.print(labelled("ok", "green", f"  {name}: {path} ({where}); sha256 matches; "
                               f"{spec.raw_rows:,} rows in the file, {rows:,} loaded (after "
                               "de-duplication and the loader's filters)"), soft_wrap=True)
    if failures:
        raise fail(f"{failures} dataset(s) failed verification")



AnnotationsOption = Annotated[Path, typer.Option(help="Gold annotations folder.")]
ANNOTATIONS = Path("data/annotations")


def _all_rows() -> dict:
    from training import datasets as registry

    return {name: registry.load(name).to_list() for name in sorted(registry.REGISTRY)}


@corpus_app.command("sample")
def corpus_sample(
    annotations: AnnotationsOption = ANNOTATIONS,
    texts: Annotated[Path, typer.Option(help="Where the pool with texts goes (for annotators; "
                                             "not committed).")] = Path(
        "data/processed/annotation-pool.jsonl"),
    per_search: Annotated[int, typer.Option(help="Candidates per theme search.")] = 70,
    random_airline: Annotated[int, typer.Option(help="Random airline tweets.")] = 200,
    random_complaints: Annotated[int, typer.Option(help="Random complaints-2019 tweets.")] = 100,
) -> None:
    """Draw the pool of posts to annotate (random sample + theme searches), deterministically."""
    from collections import Counter

    from training.annotation import PoolPlan, sample_pool
    from training.datasets import DatasetError

    plan = PoolPlan({"airline-sentiment-2015": random_airline,
                     "complaints-2019": random_complaints}, per_search)
    try:
        pool = sample_pool(_all_rows(), annotations, texts, plan)
    except DatasetError as exc:
        raise fail(str(exc)) from exc
    counts = Counter(item["sample"] for item in pool)
    console.print(f"{len(pool)} items -> {annotations / 'pool.jsonl'} (ids), {texts} (texts): "
                  + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())), soft_wrap=True)


@corpus_app.command("sample-ood")
def corpus_sample_ood(
    annotations: AnnotationsOption = ANNOTATIONS,
    texts: Annotated[Path, typer.Option(help="Where the pool with texts goes (for annotators; "
                                             "not committed).")] = Path(
        "data/processed/annotation-pool.jsonl"),
) -> None:
    """Append the out-of-domain rounds (industries beyond airlines) to the pool, once."""
    from collections import Counter

    from training.annotation import sample_ood_pool
    from training.datasets import DatasetError

    try:
        pool = sample_ood_pool(_all_rows(), annotations, texts)
    except DatasetError as exc:
        raise fail(str(exc)) from exc
    counts = Counter(item["industry"] for item in pool)
    console.print(f"{len(pool)} out-of-domain items -> {annotations / 'pool.jsonl'} (ids), "
                  f"{texts} (texts): " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())),
                  soft_wrap=True)


@corpus_app.command("agreement")
def corpus_agreement(
    annotations: AnnotationsOption = ANNOTATIONS,
    disagreements: Annotated[Path | None, typer.Option(
        help="Also write the items the two disagree on, with their texts, as JSONL for "
             "adjudication.")] = None,
    texts: Annotated[Path, typer.Option(help="The pool with texts (`radar corpus sample`).")
                     ] = Path("data/processed/annotation-pool.jsonl"),
    ood: Annotated[bool, typer.Option("--ood", help="The out-of-domain round's pair "
                                                    "(annotator-h, annotator-i).")] = False,
) -> None:
    """Cohen's kappa per label between the two annotators of the double-labelled items."""
    from training.annotation import DOUBLE as FIRST_ROUND
    from training.annotation import DOUBLE_OOD, AnnotationError, agreement, read_annotations

    DOUBLE = DOUBLE_OOD if ood else FIRST_ROUND  # noqa: N806

    try:
        labels, adjudication = read_annotations(annotations)
        first, second = (labels[name] for name in DOUBLE)
    except (AnnotationError, KeyError) as exc:
        raise fail(f"{exc}; expected raw/{DOUBLE[0]}.jsonl and raw/{DOUBLE[1]}.jsonl in "
                    f"{annotations}") from exc
    rows = agreement(first, second)
    numbers = ("agreement", "Cohen's kappa", f"positives {DOUBLE[0]}", f"positives {DOUBLE[1]}")
    table = make_table("label", *numbers, numbers=numbers,
                       title=f"agreement on {rows[0]['items']} double-labelled items "
                             f"({len(adjudication)} adjudicated)")
    for row in rows:
        kappa = "n/a" if row["kappa"] is None else f"{row['kappa']:.2f}"
        a, b = row["positives"] or ("-", "-")
        table.add_row(row["label"], f"{row['agreement']:.1%}", kappa, str(a), str(b))
    console.print(table)
    if disagreements is not None:
        from training.annotation import read_jsonl, write_jsonl

        text_of = {r["item_id"]: r["text"] for r in read_jsonl(texts)}
        fields = ("sentiment", "complaint", "themes", "churn_intent")
        items = [{"item_id": i, "text": text_of.get(i), DOUBLE[0]: {f: first[i][f] for f in fields},
                  DOUBLE[1]: {f: second[i][f] for f in fields},
                  "notes": [n for n in (first[i]["note"], second[i]["note"]) if n]}
                 for i in sorted(set(first) & set(second))
                 if any(first[i][f] != second[i][f] for f in fields)]
        write_jsonl(items, disagreements)
        console.print(f"{len(items)} items with a disagreement -> {disagreements}")


@corpus_app.command("gold")
def corpus_gold(annotations: AnnotationsOption = ANNOTATIONS) -> None:
    """Assemble gold.jsonl (merged and adjudicated labels, dev/test split) from raw/."""
    from collections import Counter

    from training.annotation import AnnotationError, make_gold
    from training.datasets import DatasetError

    try:
        gold = make_gold(annotations, _all_rows())
    except (AnnotationError, DatasetError) as exc:
        raise fail(str(exc)) from exc
    splits = Counter(g["split"] for g in gold)
    themes = Counter(t for g in gold for t in g["themes"])
    console.print(f"{len(gold)} gold items -> {annotations / 'gold.jsonl'}: "
                  f"dev {splits['dev']}, test {splits['test']}; double-labelled "
                  f"{sum(len(g['annotators']) == 2 for g in gold)}; churn "
                  f"{sum(g['churn_intent'] for g in gold)}; themes "
                  + ", ".join(f"{k} {v}" for k, v in themes.most_common()), soft_wrap=True)


def _weak_table(title: str, metrics: dict) -> Table:
    numbers = ("precision", "recall", "F1", "support", "predicted")
    table = make_table("label", *numbers, numbers=numbers, title=title)
    for key, m in metrics.items():
        table.add_row(key, f"{m['precision']:.2f}", f"{m['recall']:.2f}", f"{m['f1']:.2f}",
                      str(m["support"]), str(m["predicted"]))
    return table


@corpus_app.command("build")
def corpus_build(
    annotations: AnnotationsOption = ANNOTATIONS,
    out: Annotated[Path, typer.Option(help="Output folder (replaced).")] = Path(
        "data/processed/corpus"),
) -> None:
    """Build the multi-task training corpus (DatasetDict + data card); prints the weak labels'
    quality on gold dev and test."""
    from training.annotation import AnnotationError
    from training.corpus import CorpusError, build_corpus
    from training.datasets import DatasetError

    try:
        corpus = build_corpus(out, annotations)
    except (AnnotationError, CorpusError, DatasetError) as exc:
        raise fail(str(exc)) from exc
    counts = make_table("split", "rows", "sentiment", "complaint yes/labelled", "themes", "churn",
                        numbers=("rows", "sentiment", "complaint yes/labelled", "churn"),
                        title="corpus: rows and labels per split (themes and churn: p >= 0.5)")
    for name, c in corpus.card["splits"].items():
        s = c["sentiment"]
        themes = ", ".join(f"{k} {v}" for k, v in c["themes_p>=0.5"].items())
        counts.add_row(name, f"{c['rows']:,}", f"{s['negative']}/{s['neutral']}/{s['positive']}",
                       f"{c['complaint']['yes']}/{c['complaint']['labelled']}", themes,
                       str(c["churn_intent_p>=0.5"]))
    console.print(counts)
    console.print(_weak_table("weak labels on gold dev (LFs selected and calibrated on dev)",
                              corpus.card["weak_on_dev"]))
    console.print(_weak_table("weak labels on gold test (the bar for a trained model)",
                              corpus.card["weak_on_test"]))
    dropped = [s.name for s in corpus.weak.stats if not s.kept]
    console.print(f"labelling functions kept {sum(s.kept for s in corpus.weak.stats)}, dropped "
                  f"{len(dropped)}: {', '.join(dropped) or '-'}", soft_wrap=True)
    sizes = ", ".join(f"{name} {len(split):,}" for name, split in corpus.data.items())
    console.print(f"corpus -> {out} ({sizes}); data card: {out / 'DATA_CARD.md'}",
                  soft_wrap=True)
