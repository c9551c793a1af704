"""The process's one Neo4j driver, owned by the Flask app and closed with it."""

from __future__ import annotations

import atexit

from flask import Flask, current_app
from neo4j import Driver

from app.settings import Settings
from graphdb.driver import connect

EXTENSION_KEY = "interest_graph.driver"


def init_graph(app: Flask, settings: Settings) -> None:
    driver = connect(settings.neo4j_target(), verify=False, retry_time_s=settings.neo4j_retry_s)
    app.extensions[EXTENSION_KEY] = driver
    atexit.register(driver.close)


def graph_driver() -> Driver:
    driver: Driver = current_app.extensions[EXTENSION_KEY]
    return driver


def database() -> str:
    settings = current_app.config["SETTINGS"]
    return str(settings.neo4j_database)
