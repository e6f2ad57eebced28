"""complaint-radar, the product around the language code.

- ``collect/``: sources that fetch public posts page by page, file importers, the runner;
- ``store/``: the post store, all of its SQL (connection and migrations, posts, history);
- ``monitor/``: monitoring cycles, their config, alert rules and alert delivery;
- ``dashboard/``: the HTML pages and their views;
- ``cli/``: the root ``radar`` command, which mounts every area's commands;
- ``demo.py``: the end-to-end demo (``make demo``).

Imports run downward: ``radar`` may import :mod:`nlp` and :mod:`training`; neither of
them, nor ``serve.py``'s library code, imports ``radar`` except ``serve.py``.
"""
