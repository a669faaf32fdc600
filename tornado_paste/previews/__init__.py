"""Previews of stored files for pages (text excerpts).

May import: ``core``, ``storage``. Never HTTP.
"""
