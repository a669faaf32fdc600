"""The operators' command line: ``python -m tornado_paste.admin ...`` (or ``python run.py admin ...``).

Owns: the admin commands (stats, show, remove, block/unblock, import a blocklist, prune) and their
output. It works on the deployment's store and blobs directly, from its own process, so it
changes what every server process sees (blocks reach their links within ``blocklist_cache_ttl``).
See docs/admin.md.

May import: ``settings``, ``tornado_paste.services`` (to build the same services a server has),
and everything below it. Knows no HTTP.
"""
