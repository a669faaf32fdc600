"""Images: pure Pillow rendering (``render``), the derivative service with single-flight
(``service``) and the bounded executor CPU work runs in (``executor``).

May import: ``core``, ``storage``, ``metrics``, ``errors``. Never HTTP or other features.
"""
