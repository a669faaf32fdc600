"""Ready-made configurations for screenshot and command-line uploaders, filled in with the public URL.

Pure text builders (no I/O, no HTTP): ``handlers/clients.py`` serves them under
``/api/v1/clients/``. See docs/clients.md for how each is used.
"""

from __future__ import annotations

import json
import shlex
import urllib.parse

SHAREX_VERSION = "16.1.0"


def host_of(base: str) -> str:
    return urllib.parse.urlsplit(base).netloc or base


def sharex_config(base: str) -> str:
    """A ShareX custom uploader (``.sxcu``): multipart POST /, links read from the JSON card."""
    config = {
        "Version": SHAREX_VERSION,
        "Name": f"tornado-paste ({host_of(base)})",
        "DestinationType": "ImageUploader, TextUploader, FileUploader",
        "RequestMethod": "POST",
        "RequestURL": f"{base}/",
        "Headers": {"Accept": "application/json"},
        "Body": "MultipartFormData",
        "FileFormName": "file",
        "URL": "{json:url_s}",
        "ThumbnailURL": "{json:url_i}",
        # A page that asks before deleting (ShareX opens this with GET); the token is in its fragment.
        "DeletionURL": "{json:url_delete}",
        "ErrorMessage": "{json:error.message}",
    }
    return json.dumps(config, indent=2) + "\n"


def curl_recipe(base: str) -> str:
    """The one-line upload: the short link on the first line, the delete link on the second."""
    return f"curl -F file=@FILE {shlex.quote(base + '/')}"


def upload_script(base: str) -> str:
    """A POSIX shell uploader for Flameshot (``flameshot gui --raw | upload.sh``) and terminals."""
    return f"""#!/bin/sh
# tornado-paste uploader for {host_of(base)} (served by {base}/api/v1/clients/upload.sh).
#
#   upload.sh photo.png notes.txt          upload files
#   some-command | upload.sh               upload standard input
#   flameshot gui --raw | upload.sh        upload a Flameshot screenshot
#
# Prints, per file, the short link then the delete link (a page that asks before deleting),
# copies the short link to the clipboard (wl-copy or xclip, when installed) and notifies
# (notify-send). Settings: TORNADO_PASTE_URL (server), TORNADO_PASTE_EXPIRES (1h|1d|7d|30d|never),
# TORNADO_PASTE_PRIVATE=1 (unlisted).
set -eu
server="${{TORNADO_PASTE_URL:-{shlex.quote(base)}}}"
[ "$#" -gt 0 ] || set -- -
status=0
for file in "$@"; do
    if [ "$file" = "-" ]; then part="file=@-"; else part="file=@\\"$file\\""; fi
    set -- -fsS -H "Accept: text/plain" -F "$part"
    [ -z "${{TORNADO_PASTE_EXPIRES:-}}" ] || set -- "$@" -F "expires=$TORNADO_PASTE_EXPIRES"
    [ -z "${{TORNADO_PASTE_PRIVATE:-}}" ] || set -- "$@" -F "private=1"
    if ! answer=$(curl "$@" "$server/"); then
        echo "upload.sh: uploading $file failed" >&2
        status=1
        continue
    fi
    printf '%s\\n' "$answer"
    link=$(printf '%s\\n' "$answer" | sed -n 1p)
    if command -v wl-copy >/dev/null 2>&1 && [ -n "${{WAYLAND_DISPLAY:-}}" ]; then
        printf '%s' "$link" | wl-copy 2>/dev/null || true
    elif command -v xclip >/dev/null 2>&1 && [ -n "${{DISPLAY:-}}" ]; then
        printf '%s' "$link" | xclip -selection clipboard 2>/dev/null || true
    fi
    if command -v notify-send >/dev/null 2>&1 && [ -n "${{DISPLAY:-}}${{WAYLAND_DISPLAY:-}}" ]; then
        notify-send "tornado-paste" "$link" 2>/dev/null || true
    fi
done
exit "$status"
"""
