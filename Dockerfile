# One image for the API, the one-shot migration and the worker (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# CPU-only PyTorch wheels: serving and the worker need no CUDA, whose wheels add gigabytes.
# Pass --build-arg TORCH_INDEX_URL=<index> to take torch from another package index.
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu

WORKDIR /app
# Only what the package needs, so a local .venv or Neo4j state never enters the image.
COPY pyproject.toml README.md ./
COPY app ./app
COPY graphdb ./graphdb
COPY ml ./ml
RUN pip install --extra-index-url "${TORCH_INDEX_URL}" . \
    && useradd --create-home --uid 10001 interest \
    && mkdir -p /app/var/models && chown -R interest /app/var
# The model registry (IG_MODEL_DIR): the worker's volume mounts here, and a named volume
# takes the folder's owner on first use, so the unprivileged user can write versions.
# The migration files are not package data; IG_MIGRATIONS_DIR tells `migrate` where they are.
COPY migrations ./migrations
ENV IG_MIGRATIONS_DIR=/app/migrations

USER interest
ENV IG_HOST=0.0.0.0 \
    IG_PORT=8000
EXPOSE 8000
CMD ["interest-graph", "serve"]
