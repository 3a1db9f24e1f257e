"""Text PostgreSQL cannot store: NUL characters, and unpaired surrogates (which JSON's \\uD800
escapes can produce). Either would fail deep in the database driver as a 500; the API refuses
both at the door (the URL in tradenet.middleware, bodies in tradenet.api.parsers)."""

import re

UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
