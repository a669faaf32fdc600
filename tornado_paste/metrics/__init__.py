"""Observability: the batched StatsD client (``client``), the store timers (``instrumentation``), the
capacity levels (``capacity``) and the process's log setup (``logs``: JSON lines, request ids, redaction).

May import: ``core.tasks``, ``storage.base``, ``errors``. A failing StatsD never affects a request.
"""
