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

from pydantic import Field

MAX_ID_CHARS = 128
# Characters no id may hold; one without a character other than '.' must be three dots or
# more. Written without look-arounds: pydantic's (Rust) regex engine has none.
_BANNED = r"\s\x00-\x1f\x7f/,"
ID_PATTERN = rf"^(?:[^{_BANNED}]*[^{_BANNED}.][^{_BANNED}]*|\.{{3,}})$"
ID_RULE = (
    "ids may not contain '/', ',', whitespace or control characters, and may not be '.' "
    "or '..' (every id must be usable as a URL path segment)"
)
RESERVED_ITEM_IDS = frozenset({"search"})
RESERVED_ITEM_RULE = "'search' is not a valid item id: /api/v1/items/search is the search route"

Identifier = Annotated[
    str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN, description=ID_RULE)
]
