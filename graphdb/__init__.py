"""Neo4j side of the service: server provisioning, schema migrations, writes and reads.

Imports ``neo4j`` only: never ``torch`` or ``flask``. Results leave this package as plain
dataclasses, dicts and numpy arrays, never as driver records.
"""
