"""A command-line client for a tornado-paste server: ``tornado-paste`` / ``python -m tornado_paste.client``.

Owns: uploads of files and standard input (one multipart POST, or resumable tus above a
threshold, resumed after an interruption from a small state file), printing the links,
deleting with the delete link or token, looking a file up. See docs/clients.md.

May import: ``tornado.httpclient`` (and the standard library, ``rich`` for the progress bar).
Nothing from the server side: it talks HTTP to any tornado-paste, like any other client.
"""
