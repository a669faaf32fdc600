"""tus 1.0 resumable uploads as core logic: vocabulary and header parsing (``protocol``),
one PATCH (``session``), final concatenations (``concat``), caps on open uploads (``quota``),
the service (``service``), blocking file work (``files``).

May import: ``core`` (the ingest path), ``storage``, ``limits.retention``, ``metrics``, ``errors``.
Never HTTP (``handlers/tus.py`` speaks the protocol).
"""
