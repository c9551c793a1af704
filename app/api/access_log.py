"""Access-log lines without user ids: the route template stands for the path.

``/api/v1/users/u42/recommendations?k=5`` is logged as ``/api/v1/users/<user_id>/recommendations``:
an erased user's id must not stay behind in the logs, and ids in paths are the only personal
data a request line carries. The app tags each request's WSGI environ with its matched rule
(:func:`init_route_tagging`); gunicorn's access logger (:class:`RouteAccessLogger`, set in
``app.api.gunicorn_hooks``) writes that instead of the path, drops the query string (``q=``
holds free text) and the referer, and writes ``-`` for a path that matched no route.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask, request
from gunicorn.glogging import Logger

ROUTE_KEY = "interest_graph.route"
UNMATCHED = "-"
# Environ entries that hold the path, the query or the referer.
_PATH_KEYS = ("RAW_URI", "PATH_INFO", "REQUEST_URI")
_DROPPED_KEYS = ("QUERY_STRING", "HTTP_REFERER")
# A rule's converter (``<id:user_id>``) is routing detail: the log names the variable alone.
_CONVERTER = re.compile(r"<[^:<>]+:([^<>]+)>")


def route_template(rule: str) -> str:
    """``/users/<id:user_id>`` as ``/users/<user_id>``."""
    return _CONVERTER.sub(r"<\1>", rule)


def init_route_tagging(app: Flask) -> None:
    """Every request records its route template where the access logger finds it (first of
    the app's before-request hooks, so a request refused by a later one is tagged too)."""

    def tag_route() -> None:
        rule = request.url_rule
        request.environ[ROUTE_KEY] = route_template(rule.rule) if rule is not None else UNMATCHED

    app.before_request_funcs.setdefault(None, []).insert(0, tag_route)


def loggable_environ(environ: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``environ`` whose path is the route template, with no query and no referer."""
    route = environ.get(ROUTE_KEY) or UNMATCHED
    safe = {k: v for k, v in environ.items() if k not in _DROPPED_KEYS}
    safe.update({key: route for key in _PATH_KEYS})
    safe["QUERY_STRING"] = ""
    return safe


class RouteAccessLogger(Logger):
    """Gunicorn's logger, its access lines built from :func:`loggable_environ`."""

    def atoms(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> Any:
        atoms = super().atoms(resp, req, loggable_environ(environ), request_time)
        atoms["f"] = "-"
        atoms.pop("{referer}i", None)
        return atoms
