"""The Interest Graph Service, one folder per process.

``api/`` serves HTTP, ``serving/`` ranks inside it, ``ingest/`` gets data in, ``worker/`` runs the
scheduled jobs and ``training/`` trains a version; ``cli.py`` and ``settings.py`` serve them all.
"""
