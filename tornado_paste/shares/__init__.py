"""Shares: collections (``/c/``), upload requests (``/u/``), manage links (``/m/``), download limits and
burn-after-read, passwords, and streamed zip archives.

Owns: the deterministic zip layout (``zipper``), argon2 password hashes, signed unlock grants and the
attempt limiter (``passwords``), the operator's share policy (``policy``), the download gate and the
manage operations (``files``), collections and upload requests (``collections``, ``requests``), their
and their cards. ``service.Shares`` is what handlers reach. Who is a link unfurler is the previews'
``is_unfurler``, handed in by ``services`` (``FileShares.is_unfurler``).

May import: ``tornado_paste.core``, ``tornado_paste.storage`` (the ``controls`` and ``collections``
concerns), ``tornado_paste.errors``; never another feature: the retention policy and the event feed
are handed in by ``services``.
"""
