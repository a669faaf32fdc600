"""The core: the one ingest path and the pure pieces it is made of (records, cards and links,
filenames, sniffing, type policy, short codes, the secret, keyed locks, background tasks).

May import: ``tornado_paste.errors``, ``tornado_paste.storage`` (interfaces and blobs),
``tornado_paste.metrics``, ``settings``. Never HTTP (tornado.web, handlers).
"""
