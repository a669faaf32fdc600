"""tornado-paste's core: everything but HTTP. Layers, lowest first (each may import only those below it):

- ``errors``: the Refusal vocabulary.
- ``core.records``: what storage keeps (file records, tus state, log entries).
- ``storage``: every SQL and MongoDB statement, behind one small interface per concern; the blobs.
- ``metrics``: the StatsD client and store timers.
- ``core``: the one ingest path and its pure parts (cards and links, filenames, sniffing, policy...).
- features: ``images``, ``tus``, ``events``, ``limits``, ``previews``, ``shares`` (they never import each other,
  except ``tus`` using ``limits.retention`` for file lifetimes).
- ``services``: the one place that builds and wires them all.
- ``admin``: the operators' command line, an entry point above ``services`` (like ``run.py``).

Beside the layers, ``client`` is a command-line client of any tornado-paste server: it speaks
HTTP and imports nothing else of ours.

Each subpackage's docstring says what it owns and may import; ``tests/test_layering.py`` checks it.
"""

__version__ = "0.1.0"
