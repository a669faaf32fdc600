"""Blob stores: where file bytes live, named by their sha256. ``local`` is the content-addressed
directory (staging file, fsync, atomic link, directory fsync, retire/re-check, sweep).

May import: ``tornado_paste.errors`` only.
"""
