"""Batch scoring at size: 100,000 generated rows through `radar score` in a subprocess.

Checks bounded peak memory (100k rows vs 20k rows), a SIGKILL mid-run followed by
--resume giving byte-identical output, and exact row accounting with a quarantine file.
Run with -s to see the measured figures.
"""

import csv
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest

pytestmark = pytest.mark.slow

RUN_WITH_RSS = (
    "import resource, sys\n"
    "from radar.cli import app\n"
    "sys.argv = ['radar'] + sys.argv[1:]\n"
    "code = 0\n"
    "try:\n    app()\nexcept SystemExit as exc:\n    code = exc.code\n"
    "print('MAXRSS_KB', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr)\n"
    "sys.exit(code)\n"
)


def _generate(path, n, texts):
    """n rows of real tweets; every 997th has empty text, every 1009th a bad time."""
    with path.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["review_id", "body", "brand", "author", "ts"])
        for i in range(n):
            text = "" if i % 997 == 5 else texts[i % len(texts)]
            ts = "soon" if i % 1009 == 7 else f"2015-02-{17 + i % 7:02d}T{i % 24:02d}:00:00Z"
            writer.writerow([f"r{i}", text, f"brand-{i % 5}", f"a{i % 3000}", ts])
    bad = sum(1 for i in range(n) if i % 997 == 5 or i % 1009 == 7)
    return path, bad


def _score_args(dump, out, model_dir, *extra):
    return ["score", str(dump), "--out", str(out), "--model", str(model_dir),
            "--text-col", "body", "--id-col", "review_id", "--author-col", "author",
            "--time-col", "ts", "--chunk-size", "2000", *extra]


def _run(args, env):
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, "-c", RUN_WITH_RSS, *args], capture_output=True,
                          text=True, env=env, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rss_kb = int(re.search(r"MAXRSS_KB (\d+)", proc.stderr).group(1))
    return proc, rss_kb / 1024, time.perf_counter() - started


@pytest.fixture(scope="module")
def setup(tiny_trained, real_datasets, tmp_path_factory):
    root = tmp_path_factory.mktemp("large")
    texts = real_datasets["airline-sentiment-2015"]["text"]
    env = {**os.environ, "COLUMNS": "200"}
    return root, texts, env, tiny_trained["result"].model_dir


def test_100k_rows_bounded_memory_exact_accounting(setup):
    root, texts, env, model_dir = setup
    small, _ = _generate(root / "small.csv", 20_000, texts)
    large, bad = _generate(root / "large.csv", 100_000, texts)
    _, rss_small, _ = _run(_score_args(small, root / "small.parquet", model_dir), env)
    proc, rss_large, seconds = _run(_score_args(large, root / "large.parquet", model_dir), env)
    print(f"\npeak RSS: 20k rows {rss_small:.0f} MiB, 100k rows {rss_large:.0f} MiB; "
          f"100k rows in {seconds:.1f} s")
    # Bounded: five times the rows may not cost more than a small constant.
    assert rss_large - rss_small < 40, (rss_small, rss_large)

    flat = " ".join(proc.stdout.split())
    assert f"rows in 100,000 = scored {100_000 - bad:,} + quarantined {bad:,}" in flat
    import pyarrow.parquet as pq

    assert pq.read_metadata(root / "large.parquet").num_rows == 100_000 - bad
    quarantine = (root / "large.parquet.quarantine.jsonl").read_text().splitlines()
    assert len(quarantine) == bad
    reasons = {json.loads(line)["reason"].split(" ")[0] for line in quarantine}
    assert reasons == {"empty", "unparseable"}


def test_sigkill_then_resume_gives_the_same_output(setup):
    root, texts, env, model_dir = setup
    dump, _ = _generate(root / "kill.csv", 100_000, texts)
    reference = root / "reference.jsonl"
    _run(_score_args(dump, reference, model_dir), env)

    out = root / "resumed.jsonl"
    parts = root / "resumed.jsonl.parts"
    proc = subprocess.Popen([sys.executable, "-m", "radar.cli", *_score_args(dump, out, model_dir)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(list(parts.glob("part-*.json"))) < 10 and time.monotonic() < deadline:
        assert proc.poll() is None, "the run finished before it could be killed"
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = len(list(parts.glob("part-*.json")))
    assert 10 <= done < 50 and not out.exists()

    resumed, _, _ = _run(_score_args(dump, out, model_dir, "--resume"), env)
    print(f"\nkilled after {done} of 50 parts; resumed")
    assert "from the interrupted run" in resumed.stdout
    assert out.read_bytes() == reference.read_bytes()
    assert (root / "resumed.jsonl.quarantine.jsonl").read_bytes() == \
        (root / "reference.jsonl.quarantine.jsonl").read_bytes()
