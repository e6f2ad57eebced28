"""The root ``radar`` command: it mounts every area's commands and owns none of their logic.

Commands import their libraries when they run, so ``radar --help`` loads no model stack.
"""

from radar.cli.main import app

__all__ = ["app"]
