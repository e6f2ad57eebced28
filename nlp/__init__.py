"""complaint-radar's language code: what a post says and what it means for a brand.

- ``types``, ``taxonomy`` (the label schema), ``text`` (``normalize_text``), ``brands``,
  ``times`` (reading times into UTC), ``errors`` (errors every area shares), ``console``
  (terminal output every area's commands share);
- ``classifier/``: loading a model, the model folder format, the baseline and the
  multi-task transformer, the ONNX export, batching, the output contract, micro-batching;
- ``dumps`` and ``batch``: reading review dumps and scoring them;
- ``summary``, ``risk`` (the pure ex-customer-at-risk score) and ``report``.

``nlp`` imports neither :mod:`training`, :mod:`radar` nor ``serve``; torch, transformers
and mlflow only inside the code that builds or runs a model (tests/test_import_rules.py).
"""
