"""The training area's commands, mounted by the root ``radar`` command (:mod:`radar.cli`).

- :mod:`training.cli.data`: ``radar datasets`` and ``radar corpus``;
- :mod:`training.cli.models`: ``radar train``, ``radar models`` and ``radar evaluate``.

Each command imports the training code it runs when it runs, so ``radar --help`` stays light.
"""

import typer

from training.cli import data, models


def register(app: typer.Typer) -> None:
    """Add every training command to ``app``."""
    models.register(app)
    data.register(app)
