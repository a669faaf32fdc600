"""Previews of stored files: posters (video), first-page thumbnails (PDF) and cover art (audio) made by
external tools within limits (``sandbox``, ``media``, ``posters``, ``service``), link unfurls
(``unfurl``: OpenGraph/oEmbed, ``is_unfurler``), highlighted text (``highlight``) and excerpts, and
photo metadata removal at upload (``photos``, ``exif``).

May import: ``core``, ``storage``, ``metrics``, ``errors``. Never HTTP or other features (the images'
bounded executor arrives as an object from services.py).
"""
