"""Gold annotations: drawing the pool to label, agreement between annotators, the gold set.

The pool mixes a plain random sample per dataset (so prevalence can be estimated) with
candidates found by broad searches per theme and for churn intent (so rare themes get
enough positives). Searches are deliberately loose: annotators decide, the search
only raises the odds. Every item records where it came from (dataset, post id) and
why it was drawn (``sample``).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from nlp.taxonomy import SENTIMENTS, THEME_KEYS
from nlp.text import dedup_key

ANNOTATION_DIR = Path("data/annotations")
LABEL_KEYS = ("sentiment", "complaint", *THEME_KEYS, "churn_intent")

# Loose searches that raise the odds of a theme; annotators label what is really there.
SEARCHES = {
    "waiting": r"\bhold\b|\bwait|\bhours?\b|\bminutes?\b|\bdelay|still no|call ?back|\bqueue|"
               r"\bline\b|\bdays?\b",
    "ivr_menu": r"press \d|automat|robot|\bbots?\b|\bmenu|transferr?|hung up|hang up|"
                r"disconnect|canned|auto.?reply|copy.?paste|real person|\bhuman|get through|"
                r"\bscript",
    "not_known": r"\bagain\b|repeat|verif|account (number|#)|\bmember|loyal|\byears\b|status|"
                 r"\bgold\b|platinum|silver|elite|medallion|frequent fl|no record|"
                 r"doesn'?t exist|who i am|my name",
    "unresolved": r"\bstill\b|\btimes\b|called back|follow.?up|never (called|heard|got)|"
                  r"no (response|reply|answer)|promised|\bnobody\b|no one",
    "staff_attitude": r"\brude|attitude|\bagent|\bstaff|employee|attendant|\bcrew|unhelpful|"
                      r"incompeten|laugh|yell|\bcare\b|\bmanager",
    "self_service": r"website|\bsite\b|\bapp\b|online|log ?in|password|\berror|crash|kiosk|"
                    r"\bchat\b|\bportal|\bform\b|\bpage\b",
    "billing": r"charg|\bfees?\b|refund|\bprice|\bpa(y|id)\b|\$\d|\bbill|credit|voucher|"
               r"money|\bcost",
    "product_failure": r"cancel+ed|\bdelay|\blost\b|\bbags?\b|luggage|broken|damaged|\blate\b|"
                       r"missed|stuck|outage|not working|\bdown\b|\bdirty|\bfood",
    "marketing_spam": r"e-?mails?\b|\bspam|\bads?\b|advert|promo|\boffers?\b|newsletter|"
                      r"unsubscribe|text(s|ing)? me|marketing|upsell|commercial",
    "churn_intent": r"never (fly|flying|again|use|buy|book)|switch|cancel+(ing)? my|leaving|"
                    r"done with|last time|goodbye|won'?t be (flying|back|using)|my business|"
                    r"other airline|lost a customer|no longer|\bex-?customer|take my money",
}


# A second, tighter round for the themes the first round left short of 30 positives
# (too few of their loose-search candidates were really about them).
SUPPLEMENT = {
    "marketing_spam": r"\bspam|unsubscribe|junk mail|stop (sending|emailing|texting|calling)|"
                      r"too many (emails|ads|texts|notifications)|\bads?\b|advert|"
                      r"commercials?\b|promo(tion)?s?\b|newsletter|telemarket|robocall|"
                      r"sold my (data|info)|upsell|pushy|marketing|e-?mails? (every|all)",
    "not_known": r"loyal|\byears\b.{0,30}(customer|member|flying|flyer|with you)|"
                 r"(gold|platinum|silver|diamond|elite|medallion|premier|a-list|1k|status)\b|"
                 r"again.{0,30}(account|number|info|details|password|verify|confirmation)|"
                 r"repeat(ed)? (my|the)|verify|no record|doesn.?t (exist|show)|"
                 r"(don.?t|didn.?t) (know|recogni)|frequent fl|rapid rewards|aadvantage|"
                 r"mileage ?plus|skymiles|treat(ed)? (me )?like",
}


@dataclass(frozen=True)
class PoolPlan:
    """How many items to draw: a random sample per dataset, candidates per search, and the
    second round's candidates per supplementary search."""

    random_per_dataset: Mapping[str, int]
    per_search: int = 70
    seed: int = 2026
    per_supplement: int = 80


def draw_pool(rows_by_dataset: Mapping[str, Sequence[Mapping]], plan: PoolPlan) -> list[dict]:
    """Items to annotate: the random sample first, then each search's candidates.

    De-duplicated by normalised text across the whole pool; deterministic for a plan.
    """
    rng = np.random.default_rng(plan.seed)
    seen: set[str] = set()
    pool: list[dict] = []

    def take(row: Mapping, dataset: str, sample: str) -> bool:
        key = dedup_key(row["text"])
        if key in seen or not key:
            return False
        seen.add(key)
        pool.append({"source": dataset, "post_id": row["post_id"], "text": row["text"],
                     "author_id": row.get("author_id"), "brand": row.get("brand"),
                     "sample": sample})
        return True

    for dataset in sorted(plan.random_per_dataset):
        rows = rows_by_dataset[dataset]
        order = rng.permutation(len(rows))
        taken = 0
        for i in order:
            if taken >= plan.random_per_dataset[dataset]:
                break
            taken += take(rows[int(i)], dataset, "random")
    # Only the plan's datasets: datasets registered later have their own round (training.ood).
    everything = [(d, r) for d in sorted(plan.random_per_dataset) for r in rows_by_dataset[d]]
    for name, pattern in SEARCHES.items():
        regex = re.compile(pattern, re.IGNORECASE)
        hits = [(d, r) for d, r in everything if regex.search(r["text"])]
        taken = 0
        for i in rng.permutation(len(hits)):
            if taken >= plan.per_search:
                break
            dataset, row = hits[int(i)]
            taken += take(row, dataset, f"search:{name}")
    # The second round draws after the first, so the first round's items keep their ids.
    for name, pattern in SUPPLEMENT.items() if plan.per_supplement else ():
        regex = re.compile(pattern, re.IGNORECASE)
        hits = [(d, r) for d, r in everything if regex.search(r["text"])]
        taken = 0
        for i in rng.permutation(len(hits)):
            if taken >= plan.per_supplement:
                break
            dataset, row = hits[int(i)]
            taken += take(row, dataset, f"search2:{name}")
    for number, item in enumerate(pool, start=1):
        item["item_id"] = f"g{number:04d}"
    return pool


# --- labels and agreement ---------------------------------------------------------------


class AnnotationError(ValueError):
    """An annotation file breaks the label format; the message names file and item."""


def check_label(record: Mapping, where: str) -> dict:
    """One annotator's labels for one item, validated: sentiment, complaint, themes, churn."""
    item = record.get("item_id")
    if record.get("sentiment") not in SENTIMENTS:
        raise AnnotationError(f"{where}: item {item}: sentiment must be one of {SENTIMENTS}, "
                              f"got {record.get('sentiment')!r}")
    for key in ("complaint", "churn_intent"):
        if record.get(key) not in (0, 1, True, False):
            raise AnnotationError(f"{where}: item {item}: {key} must be 0 or 1, "
                                  f"got {record.get(key)!r}")
    themes = record.get("themes")
    if not isinstance(themes, list) or set(themes) - set(THEME_KEYS):
        raise AnnotationError(f"{where}: item {item}: themes must be a list of {THEME_KEYS}, "
                              f"got {themes!r}")
    if themes and not record["complaint"]:
        raise AnnotationError(f"{where}: item {item}: themes apply only to complaints "
                              f"(taxonomy v1), got {themes} on a non-complaint")
    return {"item_id": item, "sentiment": record["sentiment"],
            "complaint": int(record["complaint"]), "themes": sorted(set(themes)),
            "churn_intent": int(record["churn_intent"]), "note": record.get("note")}


def read_labels(path: Path) -> dict[str, dict]:
    """An annotator's JSONL file as {item_id: labels}; duplicate items are an error."""
    out: dict[str, dict] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            raise AnnotationError(f"{path}:{number}: not JSON ({exc.msg})") from None
        label = check_label(record, f"{path}:{number}")
        if label["item_id"] in out:
            raise AnnotationError(f"{path}:{number}: item {label['item_id']} labelled twice")
        out[label["item_id"]] = label
    return out


def label_vector(label: Mapping, key: str) -> int | str:
    """One label of an item as a value: sentiment as text, the others as 0/1."""
    if key == "sentiment":
        return label["sentiment"]
    if key in THEME_KEYS:
        return int(key in label["themes"])
    return int(label[key])


def cohen_kappa(a: Sequence, b: Sequence) -> float | None:
    """Cohen's kappa of two annotators' labels; None when both use a single category."""
    if len(a) != len(b) or not a:
        raise ValueError("kappa needs two equally long, non-empty label lists")
    categories = sorted(set(a) | set(b), key=str)
    index = {c: i for i, c in enumerate(categories)}
    table = np.zeros((len(categories), len(categories)))
    for x, y in zip(a, b, strict=True):
        table[index[x], index[y]] += 1
    n = table.sum()
    observed = np.trace(table) / n
    expected = float((table.sum(axis=0) * table.sum(axis=1)).sum()) / (n * n)
    if expected >= 1.0:
        return None
    return float((observed - expected) / (1.0 - expected))


def agreement(first: Mapping[str, dict], second: Mapping[str, dict]
              ) -> list[dict[str, object]]:
    """Per label: items both labelled, raw agreement, kappa, positives per annotator."""
    shared = sorted(set(first) & set(second))
    rows = []
    for key in LABEL_KEYS:
        a = [label_vector(first[i], key) for i in shared]
        b = [label_vector(second[i], key) for i in shared]
        rows.append({
            "label": key, "items": len(shared),
            "agreement": sum(x == y for x, y in zip(a, b, strict=True)) / len(shared),
            "kappa": cohen_kappa(a, b),
            "positives": (None if key == "sentiment"
                          else (sum(int(x) for x in a), sum(int(y) for y in b))),
        })
    return rows


def write_jsonl(records: Iterable[Mapping], path: Path) -> None:
    """Sorted keys, one object per line, LF endings: byte-stable for the same records."""
    text = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    tmp = Path(path).with_name(f".{Path(path).name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


# --- the gold set -----------------------------------------------------------------------


def merge_labels(first: Mapping, second: Mapping, adjudicated: Mapping | None) -> dict:
    """Two annotators' labels of one item: equal ones stand, the adjudication settles the rest.

    Raises:
        AnnotationError: the two disagree and there is no adjudication for the item.
    """
    fields = ("sentiment", "complaint", "themes", "churn_intent")
    if all(first[f] == second[f] for f in fields):
        return {f: first[f] for f in fields}
    if adjudicated is None:
        differ = [f for f in fields if first[f] != second[f]]
        raise AnnotationError(f"item {first['item_id']}: annotators disagree on {differ} and "
                              "there is no adjudication for it")
    return {f: adjudicated[f] for f in fields}


def assemble_gold(pool: Sequence[Mapping], labels: Mapping[str, Mapping[str, dict]],
                  adjudication: Mapping[str, dict]) -> list[dict]:
    """One gold record per labelled pool item: its origin, labels and who labelled it.

    ``labels`` maps annotator name to that annotator's {item_id: labels}; an item with
    two annotators is merged (``merge_labels``), with one it is taken as is.
    """
    gold = []
    for item in pool:
        by = sorted(name for name, done in labels.items() if item["item_id"] in done)
        if not by:
            continue
        if len(by) > 2:
            raise AnnotationError(f"item {item['item_id']} has {len(by)} annotators ({by})")
        first = labels[by[0]][item["item_id"]]
        merged = (merge_labels(first, labels[by[1]][item["item_id"]],
                               adjudication.get(item["item_id"])) if len(by) == 2
                  else {f: first[f] for f in ("sentiment", "complaint", "themes",
                                              "churn_intent")})
        gold.append({"item_id": item["item_id"], "source": item["source"],
                     "post_id": item["post_id"], "sample": item["sample"],
                     "annotators": by, "adjudicated": item["item_id"] in adjudication,
                     **merged})
    return gold


def split_gold(gold: Sequence[Mapping], texts: Mapping[str, str],
               authors: Mapping[str, str | None], test_share: float = 0.5) -> dict[str, str]:
    """``dev`` or ``test`` per item: items sharing an author or a near-duplicate text are
    grouped and a group goes whole to one side, chosen by a hash of its first item id
    (stable when items are added)."""
    import hashlib

    from training.splits import near_duplicate_key

    parent = {g["item_id"]: g["item_id"] for g in gold}

    def find(x: str) -> str:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_of: dict[tuple[str, str], str] = {}
    for g in gold:
        item = g["item_id"]
        keys = [("text", near_duplicate_key(texts[item]))]
        if authors.get(item):
            keys.append(("author", str(authors[item]).casefold()))
        for key in keys:
            if key in first_of:
                parent[find(item)] = find(first_of[key])
            else:
                first_of[key] = item
    groups: dict[str, list[str]] = {}
    for g in gold:
        groups.setdefault(find(g["item_id"]), []).append(g["item_id"])
    side = {}
    for members in groups.values():
        anchor = min(members)
        digest = int(hashlib.sha256(anchor.encode()).hexdigest()[:8], 16) / 0xFFFFFFFF
        for item in members:
            side[item] = "test" if digest < test_share else "dev"
    return side


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines()
            if line.strip()]


POOL_FILE = "pool.jsonl"
RAW_DIR = "raw"
ADJUDICATION_FILE = "adjudication.jsonl"
DOUBLE = ("annotator-a", "annotator-b")
# The out-of-domain round's double-labelled pair (150 items, issue [H]).
DOUBLE_OOD = ("annotator-h", "annotator-i")


def sample_pool(rows_by_dataset: Mapping[str, Sequence[Mapping]], annotation_dir: Path,
                texts_path: Path, plan: PoolPlan) -> list[dict]:
    """Draw the pool; write its ids (committed) and a copy with texts for annotators (not)."""
    pool = draw_pool(rows_by_dataset, plan)
    write_jsonl([{k: item[k] for k in ("item_id", "source", "post_id", "sample")}
                 for item in pool], Path(annotation_dir) / POOL_FILE)
    Path(texts_path).parent.mkdir(parents=True, exist_ok=True)
    write_jsonl([{"item_id": item["item_id"], "text": item["text"]} for item in pool],
                Path(texts_path))
    return pool


def sample_ood_pool(rows_by_dataset: Mapping[str, Sequence[Mapping]], annotation_dir: Path,
                    texts_path: Path) -> list[dict]:
    """Append the out-of-domain round (``training.ood``) to the pool, once.

    Returns the round's items; the texts of the whole pool are written for annotators.
    """
    from training.ood import SUPPLEMENT_PLAN_FIELDS, OodPlan, draw_ood_pool

    path = Path(annotation_dir) / POOL_FILE
    first_round = [item for item in read_jsonl(path)
                   if not str(item["sample"]).startswith("ood")]
    rows = {(r["source"], r["post_id"]): r for name in rows_by_dataset
            for r in rows_by_dataset[name]}
    existing = [rows[(i["source"], i["post_id"])] for i in first_round]
    ood = draw_ood_pool(rows_by_dataset, existing, OodPlan(first_number=len(first_round) + 1))
    existing += ood
    ood += draw_ood_pool(rows_by_dataset, existing, OodPlan(
        first_number=len(first_round) + len(ood) + 1, **SUPPLEMENT_PLAN_FIELDS))
    write_jsonl([{k: item[k] for k in ("item_id", "source", "post_id", "sample")}
                 for item in first_round]
                + [{k: item[k] for k in ("item_id", "source", "post_id", "sample", "industry")}
                   for item in ood], path)
    Path(texts_path).parent.mkdir(parents=True, exist_ok=True)
    write_jsonl([{"item_id": i["item_id"], "text": rows[(i["source"], i["post_id"])]["text"]}
                 for i in first_round] + [{"item_id": i["item_id"], "text": i["text"]}
                                          for i in ood], Path(texts_path))
    return ood


def read_annotations(annotation_dir: Path) -> tuple[dict[str, dict[str, dict]], dict[str, dict]]:
    """Every annotator's labels ({name: {item_id: labels}}) and the adjudications."""
    raw = Path(annotation_dir) / RAW_DIR
    labels = {p.stem: read_labels(p) for p in sorted(raw.glob("annotator-*.jsonl"))}
    if not labels:
        raise AnnotationError(f"{raw}: no annotator-*.jsonl files")
    adjudication_path = raw / ADJUDICATION_FILE
    adjudication = read_labels(adjudication_path) if adjudication_path.is_file() else {}
    return labels, adjudication


def make_gold(annotation_dir: Path, rows_by_dataset: Mapping[str, Sequence[Mapping]]
              ) -> list[dict]:
    """Assemble ``gold.jsonl`` from the pool, the annotators' files and the adjudications,
    with each item's ``dev`` / ``test`` side; returns the gold records."""
    annotation_dir = Path(annotation_dir)
    pool = read_jsonl(annotation_dir / POOL_FILE)
    labels, adjudication = read_annotations(annotation_dir)
    gold = assemble_gold(pool, labels, adjudication)
    rows = {(r["source"], r["post_id"]): r for name in rows_by_dataset
            for r in rows_by_dataset[name]}
    # The out-of-domain round is split by industry (training.ood), frozen; the first round
    # keeps its hashed dev/test split, computed over its own items only so it never moves.
    industry = {i["item_id"]: i["industry"] for i in pool if i.get("industry")}
    first = [g for g in gold if g["item_id"] not in industry]
    texts = {g["item_id"]: rows[(g["source"], g["post_id"])]["text"] for g in first}
    authors = {g["item_id"]: rows[(g["source"], g["post_id"])].get("author_id") for g in first}
    side = split_gold(first, texts, authors)
    from training.ood import ood_side

    for g in gold:
        if g["item_id"] in industry:
            g["industry"] = industry[g["item_id"]]
            g["split"] = ood_side(industry[g["item_id"]])
        else:
            g["split"] = side[g["item_id"]]
    write_jsonl(gold, annotation_dir / "gold.jsonl")
    return gold
