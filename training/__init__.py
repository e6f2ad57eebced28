"""complaint-radar's models: dataset registry and loaders, gold annotations, weak labelling,
corpus building, fine-tuning, evaluation, behaviour tests, MLflow tracking (the only place
mlflow is imported for logging), and the training commands (``training.cli``) that the
root ``radar`` command mounts.

``training`` may import :mod:`nlp`, never :mod:`radar` or ``serve``
(tests/test_import_rules.py).
"""
