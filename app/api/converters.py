"""The ``id`` URL converter: a path segment that is no valid id matches no route (a 404).

An id intake refuses (too long, with white space, ``..``) can name no stored user or item,
so such a path is refused at routing, as the OpenAPI document's id pattern says, and never
reaches a view (where, for recommendations, an unknown but well-formed user gets a fallback).
"""

from __future__ import annotations

from pydantic import TypeAdapter, ValidationError
from werkzeug.routing import BaseConverter
from werkzeug.routing import ValidationError as NoMatch

from app.ingest.ids import Identifier

_ID = TypeAdapter(Identifier)


class IdConverter(BaseConverter):
    def to_python(self, value: str) -> str:
        try:
            return _ID.validate_python(value)
        except ValidationError:
            raise NoMatch() from None
