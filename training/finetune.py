"""Fine-tuning the multi-task network: data, batching, the masked loss, the epoch loop.

Cheap epochs on a few CPU cores come from:
- tokenising once, to ``max_length`` (64 covers all but a few tweets);
- length-bucketed batches: shuffle, cut into chunks of 50 batches, sort each chunk by
  length and cut it into batches, then shuffle the batches; each batch is padded only to
  its own longest text (dynamic padding), so little compute goes to padding;
- early stopping on gold dev, keeping the best epoch's weights.

The loss is the sum over tasks of a weighted, masked mean: rows without a label for a
task add nothing to that task's loss. Sentiment uses class-weighted cross-entropy;
complaint, themes and churn use BCE with logits and a positive-class weight
(``neg/pos``, capped) so rare labels are not ignored; the weak theme and churn labels
are probabilities and enter as soft targets.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import datasets
import numpy as np
import torch
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from torch.nn import functional as F  # noqa: N812

from nlp.classifier.multitask import MultiTaskNetwork
from nlp.text import normalize_text
from training.config import FineTuneConfig
from training.metrics import dev_score, head_metrics

BUCKET_BATCHES = 50
LOGIT_KEYS = ("sentiment", "complaint", "themes", "churn_intent")
SHOWN_METRICS = ("sentiment_macro_f1", "complaint_ap", "themes_mean_ap", "churn_intent_ap")


@dataclass(frozen=True)
class Encoded:
    """A split tokenised once, with its labels and masks as arrays."""

    input_ids: list[list[int]]
    labels: dict[str, np.ndarray]

    def __len__(self) -> int:
        return len(self.input_ids)

    @property
    def lengths(self) -> np.ndarray:
        return np.fromiter((len(x) for x in self.input_ids), dtype=np.int64,
                           count=len(self.input_ids))


def encode_split(ds: datasets.Dataset, tokenizer, max_length: int,
                 weak_label_weight: float = 1.0) -> Encoded:
    """Tokenise a corpus split (``training.corpus.FEATURES``) and gather its labels.

    ``weak_label_weight`` scales the masks of weak theme and churn labels: the masked loss
    then counts such a row that much (``_masked_mean`` divides by the masks' sum).
    """
    texts = [normalize_text(t) for t in ds["text"]]
    ids = tokenizer(texts, truncation=True, max_length=max_length)["input_ids"] if texts else []
    labels = {
        "sentiment": np.asarray(ds["sentiment"], dtype=np.int64),
        "sentiment_mask": np.asarray(ds["sentiment_mask"], dtype=np.float32),
        "complaint": np.asarray(ds["complaint"], dtype=np.float32),
        "complaint_mask": np.asarray(ds["complaint_mask"], dtype=np.float32),
        "themes": np.asarray(ds["themes"], dtype=np.float32).reshape(len(ds), -1),
        "themes_mask": np.asarray(ds["themes_mask"], dtype=np.float32),
        "churn_intent": np.asarray(ds["churn_intent"], dtype=np.float32),
        "churn_intent_mask": np.asarray(ds["churn_intent_mask"], dtype=np.float32),
    }
    if weak_label_weight != 1.0:
        for task in ("themes", "churn_intent"):
            weak = np.asarray(ds[f"{task}_source"]) == "weak"
            labels[f"{task}_mask"] = np.where(weak, labels[f"{task}_mask"] * weak_label_weight,
                                              labels[f"{task}_mask"]).astype(np.float32)
    return Encoded(ids, labels)


def bucketed_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator
                     ) -> list[np.ndarray]:
    """Length-bucketed batches in a random order (see the module docstring)."""
    order = rng.permutation(len(lengths))
    batches = []
    chunk = batch_size * BUCKET_BATCHES
    for start in range(0, len(order), chunk):
        part = order[start:start + chunk]
        part = part[np.argsort(lengths[part], kind="stable")]
        batches += [part[i:i + batch_size] for i in range(0, len(part), batch_size)]
    return [batches[i] for i in rng.permutation(len(batches))]


def sorted_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Batches of similar length in a fixed order, for evaluation."""
    order = np.argsort(lengths, kind="stable")
    return [order[i:i + batch_size] for i in range(0, len(order), batch_size)]


def pick_device() -> torch.device:
    """The GPU when there is one (a lent accelerator), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def collate(encoded: Encoded, index: np.ndarray, pad_id: int,
            device: torch.device | None = None) -> dict[str, torch.Tensor]:
    """Pad one batch to its longest text; labels and masks as tensors (on ``device``)."""
    rows = [encoded.input_ids[i] for i in index]
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    attention = torch.zeros((len(rows), width), dtype=torch.long)
    for i, row in enumerate(rows):
        ids[i, :len(row)] = torch.tensor(row, dtype=torch.long)
        attention[i, :len(row)] = 1
    batch = {"input_ids": ids, "attention_mask": attention}
    for key, values in encoded.labels.items():
        batch[key] = torch.from_numpy(values[index])
    if device is not None and device.type != "cpu":
        batch = {k: v.to(device, non_blocking=True) for k, v in batch.items()}
    return batch


@dataclass(frozen=True)
class LossWeights:
    """Per-task weights and the class weights that keep rare labels from being ignored."""

    tasks: Mapping[str, float]
    sentiment: torch.Tensor  # one weight per class
    complaint: torch.Tensor  # pos_weight, scalar
    themes: torch.Tensor  # pos_weight per theme
    churn_intent: torch.Tensor  # pos_weight, scalar

    @classmethod
    def from_train(cls, train: Encoded, tasks: Mapping[str, float], max_pos_weight: float,
                   n_sentiments: int) -> LossWeights:
        lab = train.labels
        mask = lab["sentiment_mask"] > 0
        counts = np.bincount(lab["sentiment"][mask], minlength=n_sentiments).astype(np.float64)
        counts = np.maximum(counts, 1.0)
        # sqrt of inverse frequency: rare classes count more without swamping the rest
        sentiment = np.sqrt(counts.sum() / (n_sentiments * counts))

        def pos_weight(values: np.ndarray, row_mask: np.ndarray) -> np.ndarray:
            rows = values[row_mask > 0]
            if len(rows) == 0:
                return np.ones(values.shape[1:] or (), dtype=np.float64)
            positive = np.clip(rows.mean(axis=0), 1e-6, 1 - 1e-6)
            return np.clip((1 - positive) / positive, 1.0, max_pos_weight)

        def tensor(values) -> torch.Tensor:
            return torch.tensor(values, dtype=torch.float32)

        return cls(tasks=dict(tasks), sentiment=tensor(sentiment),
                   complaint=tensor(pos_weight(lab["complaint"], lab["complaint_mask"])),
                   themes=tensor(pos_weight(lab["themes"], lab["themes_mask"])),
                   churn_intent=tensor(pos_weight(lab["churn_intent"],
                                                  lab["churn_intent_mask"])))

    def to(self, device: torch.device) -> LossWeights:
        return LossWeights(self.tasks, self.sentiment.to(device), self.complaint.to(device),
                           self.themes.to(device), self.churn_intent.to(device))

    def to_dict(self) -> dict:
        return {"tasks": dict(self.tasks), "sentiment": self.sentiment.tolist(),
                "complaint": float(self.complaint), "themes": self.themes.tolist(),
                "churn_intent": float(self.churn_intent)}


def _masked_mean(losses: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (losses * mask).sum() / mask.sum().clamp(min=1.0)


def multitask_loss(outputs: Mapping[str, torch.Tensor], batch: Mapping[str, torch.Tensor],
                   weights: LossWeights) -> tuple[torch.Tensor, dict[str, float]]:
    """Weighted sum of the masked per-task losses, and each task's loss for logging."""
    sentiment_mask = batch["sentiment_mask"]
    sentiment_target = batch["sentiment"].clamp(min=0)  # -1 (absent) is masked out below
    per_task = {
        "sentiment": _masked_mean(
            F.cross_entropy(outputs["sentiment"], sentiment_target,
                            weight=weights.sentiment, reduction="none"), sentiment_mask),
        "complaint": _masked_mean(
            F.binary_cross_entropy_with_logits(
                outputs["complaint"], batch["complaint"].clamp(0, 1),
                pos_weight=weights.complaint, reduction="none"), batch["complaint_mask"]),
        "themes": _masked_mean(
            F.binary_cross_entropy_with_logits(
                outputs["themes"], batch["themes"].clamp(0, 1), pos_weight=weights.themes,
                reduction="none").mean(dim=1), batch["themes_mask"]),
        "churn_intent": _masked_mean(
            F.binary_cross_entropy_with_logits(
                outputs["churn_intent"], batch["churn_intent"].clamp(0, 1),
                pos_weight=weights.churn_intent, reduction="none"),
            batch["churn_intent_mask"]),
    }
    total = sum(weights.tasks[k] * v for k, v in per_task.items())
    return total, {k: float(v.detach()) for k, v in per_task.items()}


def predict_logits(network: MultiTaskNetwork, encoded: Encoded, batch_size: int, pad_id: int
                   ) -> dict[str, np.ndarray]:
    """All four heads' logits for a split, in its row order."""
    network.eval()
    device = next(network.parameters()).device
    out: dict[str, np.ndarray] = {}
    with torch.inference_mode():
        for index in sorted_batches(encoded.lengths, batch_size):
            batch = collate(encoded, index, pad_id, device)
            heads = network(batch["input_ids"], batch["attention_mask"])
            for key, values in heads.items():
                if key not in out:
                    out[key] = np.zeros((len(encoded), *values.shape[1:]), dtype=np.float32)
                out[key][index] = values.float().cpu().numpy()
    return out


@dataclass(frozen=True)
class EpochRecord:
    """What one epoch did: its mean losses, dev metrics and time."""

    epoch: int
    losses: dict[str, float]
    dev: dict[str, float]
    seconds: float


@dataclass(frozen=True)
class FitResult:
    """The best epoch's network (restored), the history, and how long it took."""

    network: MultiTaskNetwork
    history: list[EpochRecord]
    best_epoch: int
    seconds: float


def fit(network: MultiTaskNetwork, train: Encoded, dev: Encoded, config: FineTuneConfig,
        pad_id: int, n_sentiments: int, console: Console,
        on_epoch: Callable[[EpochRecord], None] | None = None) -> FitResult:
    """Train with early stopping on gold dev; returns the network at its best epoch."""
    from transformers import get_linear_schedule_with_warmup

    started = time.perf_counter()
    torch.manual_seed(config.seed)
    rng = np.random.default_rng(config.seed)
    device = pick_device()
    network.to(device)
    weights = LossWeights.from_train(train, config.task_weights, config.max_pos_weight,
                                     n_sentiments).to(device)
    steps_per_epoch = math.ceil(len(train) / config.batch_size)
    encoder_params = [p for n, p in network.named_parameters() if n.startswith("encoder.")]
    head_params = [p for n, p in network.named_parameters() if not n.startswith("encoder.")]
    optimizer = torch.optim.AdamW([
        {"params": encoder_params, "lr": config.lr},
        {"params": head_params, "lr": config.head_lr},
    ], weight_decay=config.weight_decay)
    total_steps = steps_per_epoch * config.epochs
    scheduler = get_linear_schedule_with_warmup(
        optimizer, int(config.warmup_ratio * total_steps), total_steps)

    history: list[EpochRecord] = []
    best_score, best_epoch, best_state, stale = -math.inf, 0, None, 0
    for epoch in range(1, config.epochs + 1):
        epoch_started = time.perf_counter()
        network.train()
        sums = dict.fromkeys(LOGIT_KEYS, 0.0)
        sums["total"] = 0.0
        batches = bucketed_batches(train.lengths, config.batch_size, rng)
        with _progress(console) as progress:
            task = progress.add_task(f"epoch {epoch}/{config.epochs}", total=len(batches))
            for step, index in enumerate(batches, start=1):
                batch = collate(train, index, pad_id, device)
                outputs = network(batch["input_ids"], batch["attention_mask"])
                loss, parts = multitask_loss(outputs, batch, weights)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(network.parameters(), 1.0)
                optimizer.step()
                scheduler.step()
                sums["total"] += float(loss.detach())
                for k, v in parts.items():
                    sums[k] += v
                progress.update(task, advance=1, description=f"epoch {epoch}/{config.epochs} "
                                f"loss {sums['total'] / step:.3f}")
                if not console.is_terminal and step % max(len(batches) // 10, 1) == 0:
                    _log_progress(console, epoch, step, len(batches), sums["total"] / step,
                                  time.perf_counter() - epoch_started)
        losses = {k: v / max(len(batches), 1) for k, v in sums.items()}
        logits = predict_logits(network, dev, config.eval_batch_size, pad_id)
        metrics = head_metrics(logits, dev.labels)
        metrics["dev_score"] = dev_score(metrics)
        record = EpochRecord(epoch, losses, metrics, time.perf_counter() - epoch_started)
        history.append(record)
        shown = ", ".join(f"{k} {metrics[k]:.3f}" for k in SHOWN_METRICS if k in metrics)
        console.print(f"epoch {epoch}: loss {losses['total']:.4f}, dev score "
                      f"{metrics['dev_score']:.4f} ({shown}), {record.seconds:.0f} s")
        if on_epoch is not None:
            on_epoch(record)
        if metrics["dev_score"] > best_score:
            best_score, best_epoch, stale = metrics["dev_score"], epoch, 0
            best_state = {k: v.detach().to("cpu", copy=True)
                          for k, v in network.state_dict().items()}
        else:
            stale += 1
            if stale > config.patience:
                console.print(f"early stop: no dev improvement for {stale} epoch(s)")
                break
    if best_state is not None:
        network.load_state_dict(best_state)
    network.to("cpu").eval()  # saved, calibrated and served from the CPU
    return FitResult(network, history, best_epoch, time.perf_counter() - started)


def _log_progress(console: Console, epoch: int, step: int, steps: int, loss: float,
                  elapsed: float) -> None:
    """A plain progress line for logs, where a live bar does not render."""
    eta = elapsed / step * (steps - step)
    console.print(f"epoch {epoch}: batch {step}/{steps}, loss {loss:.3f}, {elapsed:.0f} s "
                  f"elapsed, ETA {eta:.0f} s")


def _progress(console: Console) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), TextColumn("ETA"), TimeRemainingColumn(),
                    console=console, transient=False,
                    disable=not console.is_terminal)
