"""Monitoring: scheduled cycles that collect, import, score, update the risk history and alert.

- :mod:`radar.monitor.cycle`: one monitoring cycle and its steps;
- :mod:`radar.monitor.config`: the monitor's YAML config, validated;
- :mod:`radar.monitor.alerts`: the alert rules and their messages;
- :mod:`radar.monitor.notify`: delivering alerts (e-mail, webhooks, Slack);
- :mod:`radar.monitor.cli`: the ``radar monitor`` command.
"""
