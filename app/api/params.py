"""Query-string parsing with 400s that name the parameter and the accepted range."""

from __future__ import annotations

from typing import Annotated

from flask import request
from pydantic import BaseModel, ConfigDict, StringConstraints
from pydantic.json_schema import SkipJsonSchema

from app.api.errors import ApiError
from app.ingest.ids import NOT_BLANK, WHITE_SPACE
from app.serving.search import MAX_QUERY_CHARS

# Not given is absent (None), never a JSON null: the document shows the string alone.
OptionalText = str | SkipJsonSchema[None]
# Free text as ``text_arg`` takes it (a query in words): 1 to 500 characters, not blank.
QueryText = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_QUERY_CHARS, pattern=NOT_BLANK)
]


class QueryModel(BaseModel):
    """A route's query parameters, for the OpenAPI document (the view parses them itself
    with the functions below, so that each refusal names its parameter)."""

    model_config = ConfigDict(extra="forbid")


# A boolean is spelled as the OpenAPI document's query serialisation spells it, nothing else.
TRUE = {"true"}
FALSE = {"false"}


def _bad(name: str, message: str) -> ApiError:
    return ApiError(
        400, "invalid_parameter", f"query parameter '{name}': {message}", {"parameter": name}
    )


def int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:  # an empty value ('k=') is not a number: refused, as the document says
        return default
    try:
        value = int(raw)
    except ValueError:
        raise _bad(name, f"expected an integer, got {raw!r}") from None
    if not low <= value <= high:
        raise _bad(name, f"must be between {low} and {high}, got {value}")
    return value


def float_arg(name: str, default: float, low: float, high: float) -> float:
    raw = request.args.get(name)
    if raw is None:  # an empty value ('k=') is not a number: refused, as the document says
        return default
    try:
        value = float(raw)
    except ValueError:
        raise _bad(name, f"expected a number, got {raw!r}") from None
    if not low <= value <= high:
        raise _bad(name, f"must be between {low} and {high}, got {value}")
    return value


def bool_arg(name: str, default: bool) -> bool:
    raw = request.args.get(name)
    if raw is None:  # an empty value ('k=') is not a number: refused, as the document says
        return default
    if raw in TRUE:
        return True
    if raw in FALSE:
        return False
    raise _bad(name, f"expected true or false, got {raw!r}")


def list_arg(name: str, max_items: int = 1000) -> tuple[str, ...]:
    raw = request.args.get(name, "")
    values = tuple(v.strip() for v in raw.split(",") if v.strip())
    if len(values) > max_items:
        raise _bad(name, f"at most {max_items} values")
    return values


def str_arg(name: str) -> str | None:
    raw = request.args.get(name)
    return raw.strip() or None if raw is not None else None


def text_arg(name: str, max_chars: int, required: bool = False) -> str | None:
    """Free text (e.g. a search query): absent is ``None`` unless required; blank is refused."""
    raw = request.args.get(name)
    if raw is None and not required:
        return None
    text = (raw or "").strip(WHITE_SPACE)  # the white space the document's pattern means
    if not text or len(text) > max_chars:
        raise _bad(name, f"give 1 to {max_chars} characters of text")
    return text


def reject_unknown(allowed: set[str]) -> None:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise _bad(unknown[0], f"unknown parameter; accepted: {', '.join(sorted(allowed))}")
