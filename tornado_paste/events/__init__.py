"""Real-time events: this process's reader of the shared event log and its fan-out
(``feed``), and what subscribers receive (``subscribers``).

May import: ``core``, ``storage``, ``metrics``, ``settings``. Never HTTP (``handlers/events.py``
adapts WebSockets and long-polls to the Subscriber protocol).
"""
