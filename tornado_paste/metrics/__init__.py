"""Metrics: the batched StatsD client (``client``) and the store timers (``instrumentation``).

May import: ``core.tasks``, ``storage.base``, ``errors``. A failing StatsD never affects a request.
"""
