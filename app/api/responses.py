"""What the views answer, as pydantic models the OpenAPI document is generated from.

Every model refuses fields it does not name (``additionalProperties: false``), so a response
with a field renamed, dropped or added no longer matches the document, and the contract test
(tests/api/test_response_contract.py) fails. The models only describe: the views build their
bodies as before (the hot paths stay plain dicts, nothing is validated per request).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar, cast

from pydantic import BaseModel, ConfigDict, Field
from pydantic.dataclasses import dataclass as pydantic_dataclass

T = TypeVar("T")


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


def example(body: dict[str, Any]) -> ConfigDict:
    """A strict model's config with one example body (checked by the contract test)."""
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [body]})


def strict_dataclass(shape: type[T]) -> type[T]:
    """A dataclass of the graph layer as a response model that refuses unknown fields."""
    strict = pydantic_dataclass(shape, config=ConfigDict(extra="forbid"), frozen=True)
    strict.__doc__ = shape.__doc__
    return cast(type[T], strict)


class ErrorBody(Strict):
    code: str = Field(description="stable machine-readable code, e.g. invalid_parameter")
    message: str = Field(description="what was wrong, for people")
    details: Any = Field(description="what it concerns (a parameter, fields), or null")


class Error(Strict):
    """The one error shape of every 4xx and 5xx (a 500 never echoes exception text)."""

    model_config = example(
        {
            "error": {
                "code": "invalid_parameter",
                "message": "query parameter 'k': must be between 1 and 1000, got 0",
                "details": {"parameter": "k"},
            }
        }
    )

    error: ErrorBody


class EventsAccepted(Strict):
    """All events stored (or already stored: a duplicate is the same event sent again)."""

    model_config = example({"accepted": 1, "duplicates": 0, "event_ids": ["3f2a9c0e5b7d4e1a"]})

    accepted: int = Field(description="events newly stored")
    duplicates: int = Field(description="events already stored (same user, item, type, time)")
    event_ids: list[str] = Field(description="the id of each event sent, in order")


class ItemsUpserted(Strict):
    """All items created or updated."""

    upserted: int = Field(description="items created or updated")
    item_ids: list[str] = Field(description="the id of each item sent, in order")


class SimilarToItem(Strict):
    type: Literal["similar_to_item"]
    item_id: str = Field(description="the user's own item it resembles")
    text: str


class CategoryYouLike(Strict):
    type: Literal["category_you_like"]
    category_id: str
    text: str


class Fallback(Strict):
    type: Literal["popular_in_your_categories", "popular", "search"]
    text: str


Reason = Annotated[SimilarToItem | CategoryYouLike | Fallback, Field(discriminator="type")]


class RecommendedItem(Strict):
    item_id: str
    title: str | None
    score: float = Field(description="relevance, higher first (comparable within one answer)")
    reasons: list[Reason] = Field(description="why it is here, from the graph")


class Recommendations(Strict):
    """Top-k items: personal (``fallback`` null) or a marked fallback."""

    model_config = example(
        {
            "user_id": "u1",
            "model_version": "v20261201-0930",
            "generated_at": "2026-12-01T10:00:00.000+00:00",
            "fallback": None,
            "items": [
                {
                    "item_id": "i3",
                    "title": "Trail shoe",
                    "score": 0.82,
                    "reasons": [
                        {
                            "type": "category_you_like",
                            "category_id": "shoes",
                            "text": "in Shoes, a category you like",
                        }
                    ],
                }
            ],
        }
    )

    user_id: str
    model_version: str | None = Field(description="the model that ranked them, if any")
    generated_at: datetime
    fallback: Literal["popular_in_your_categories", "popular", "search"] | None = Field(
        description="null: ranked for this user; else which fallback answered"
    )
    items: list[RecommendedItem]


class ScoredItem(Strict):
    item_id: str
    title: str | None
    score: float


class SearchResults(Strict):
    """The items whose text is nearest the query in meaning."""

    query: str = Field(description="the query as searched (white space stripped)")
    items: list[ScoredItem] = Field(description="best match first")


class SimilarItems(Strict):
    """The items nearest the item in embedding space."""

    item_id: str
    model_version: str | None = Field(description="the model whose vectors were compared")
    embedded: bool = Field(description="whether the item has a vector (else items is empty)")
    items: list[ScoredItem] = Field(description="nearest first; score is cosine similarity")


class CategoryRef(Strict):
    category_id: str
    name: str | None
    path: list[str] | None = Field(description="category ids from the root down")


class BrandRef(Strict):
    brand_id: str
    name: str | None


class Item(Strict):
    """An item's catalog properties (null where it has none), where it is filed, its
    brands and how many users interacted with it."""

    item_id: str
    title: str | None
    description: str | None
    price: float | None
    in_stock: bool | None
    in_catalog: bool | None = Field(description="false: seen only in events so far")
    brand_name: str | None
    attributes: dict[str, Any] | None = Field(description="the catalog's map of scalars")
    embedding_version: str | None = Field(description="the model version of its vector")
    categories: list[CategoryRef]
    brands: list[BrandRef]
    users: int
