"""complaint-radar: the library (types, taxonomy, text, classifier, CLI)."""
