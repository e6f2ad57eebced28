"""``python -m radar.cli``: the ``radar`` command."""

from radar.cli.main import app

app()
