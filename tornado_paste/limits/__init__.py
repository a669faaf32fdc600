"""Abuse controls and lifetimes: per-client rate limits (``ratelimit``), upload admission
(``admission``), both gathered from Settings (``controls``), and retention: the expiry policy and
the sweeper (``retention``).

May import: ``core``, ``storage``, ``metrics``, ``errors``, ``settings``. Never HTTP.
"""
