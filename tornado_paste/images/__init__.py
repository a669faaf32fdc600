"""Images: pure Pillow rendering (``render``), what a resize asks for and the size it gets
(``request``), the derivative service with single-flight (``service``), the derivatives as an
LRU cache under a byte budget and a per-parent cap (``cache``) and the bounded executor CPU work
runs in, with per-client shares (``executor``).

May import: ``core``, ``storage``, ``metrics``, ``errors``. Never HTTP or other features.
"""
