"""complaint-radar training: dataset registry, baselines, evaluation, MLflow tracking."""
