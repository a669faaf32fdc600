"""tornado-paste core: storage, ingest, models. Knows nothing about HTTP."""

__version__ = "0.1.0"
