"""What an id may be: every id intake accepts must be addressable by every route.

User and item ids are path segments (``/api/v1/users/{user_id}``, ``/api/v1/items/{item_id}``)
and item ids are listed in ``exclude=a,b,c``, so an id must survive both:

* no ``/``: WSGI servers decode ``%2F`` before routing, so ``bi_mr%2F`` arrives as ``bi_mr/``
  and can never reach the route of user ``bi_mr/`` (nor be told apart from another path);
* no ``,``: the separator of list parameters such as ``exclude=``;
* not ``.`` or ``..``: clients and proxies remove dot segments from a path, even encoded ones;
* no whitespace or control characters (they are stripped or refused along the way);
* an item id may not be ``search``: ``/api/v1/items/search`` is the search route.

Every other character round-trips percent-encoded (``?``, ``#``, ``%``, ``;``, non-ASCII).
The same rule holds for every id field (event, user, item, session), so one id never passes
in one field and fails in another. Category and brand ids are slugs made from names (see
``graphdb.catalog``), addressed only in query parameters.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, StringConstraints

MAX_ID_CHARS = 128
# White space as Unicode defines it (what pydantic strips and Rust's \s matches), spelled out:
# the OpenAPI document's regexes are ECMA-262, whose \s differs (it spares U+0085, takes
# U+FEFF), and Python's str.strip also takes U+001C-U+001F; a '\s' would let the document
# and the code disagree. Free text is stripped of exactly these (``str.strip(WHITE_SPACE)``).
WHITE_SPACE = (
    "\t\n\v\f\r \x85\xa0\u1680"
    + "".join(map(chr, range(0x2000, 0x200B)))
    + ("\u2028\u2029\u202f\u205f\u3000")
)
WHITESPACE = "".join(f"\\u{ord(c):04x}" for c in WHITE_SPACE)  # as a regex class body
# Text with at least one character that is not white space (what survives a strip).
NOT_BLANK = rf"[^{WHITESPACE}]"
# Characters no id may hold; one without a character other than '.' must be three dots or
# more. Written without look-arounds: pydantic's (Rust) regex engine has none.
_BANNED = rf"{WHITESPACE}\x00-\x1f\x7f/,"
ID_PATTERN = rf"^(?:[^{_BANNED}]*[^{_BANNED}.][^{_BANNED}]*|\.{{3,}})$"
ID_RULE = (
    "ids may not contain '/', ',', whitespace or control characters, and may not be '.' "
    "or '..' (every id must be usable as a URL path segment)"
)
RESERVED_ITEM_IDS = frozenset({"search"})
RESERVED_ITEM_RULE = "'search' is not a valid item id: /api/v1/items/search is the search route"

# Never stripped, even in a model that strips its strings: an id with a space around it is
# refused as the pattern (and the OpenAPI document) says, not silently trimmed.
Identifier = Annotated[
    str,
    StringConstraints(strip_whitespace=False),
    Field(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN, description=ID_RULE),
]
