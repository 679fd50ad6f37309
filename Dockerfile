# ledger-connector: runs `connector run` (the scheduler, the reminder workflow and the health endpoint).
#
#   docker build -t ledger-connector .
#   docker run -d --name connector --env-file .env -p 127.0.0.1:8080:8080 \
#     -v "$PWD/config.toml:/etc/connector/config.toml:ro" -v connector-data:/var/lib/connector \
#     ledger-connector
#   docker run --rm --env-file .env -v "$PWD/config.toml:/etc/connector/config.toml:ro" \
#     ledger-connector check-config                   # any other command works the same way
#   docker run --rm ledger-connector demo             # the Quick start demo, self-contained
#
# State lives in the volume /var/lib/connector, the working directory: the default SQLite store
# (sqlite:///data/connector.db -> /var/lib/connector/data/connector.db) and handover case files
# (data/handover). The image deliberately sets no CONNECTOR_DATABASE_URL: the environment overrides the
# configuration file, so a default here would silently replace the database_url in your config.toml. Use
# PostgreSQL by writing it in config.toml or by setting CONNECTOR_DATABASE_URL at run time
# (docker-compose.example.yml does).

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# --- build: install the package and its dependencies into a virtual environment -------------------------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_NO_CACHE_DIR=1
WORKDIR /src
COPY pyproject.toml README.md ./
COPY connector ./connector
COPY adapters ./adapters
# Same path as in the runtime image: a virtual environment is not relocatable.
RUN python -m venv /opt/connector/venv \
    && /opt/connector/venv/bin/pip install --no-cache-dir ".[demo]" \
    && /opt/connector/venv/bin/connector --help > /dev/null

# --- runtime ----------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="ledger-connector" \
      org.opencontainers.image.description="Credit-management connector for Dutch bookkeeping ledgers" \
      org.opencontainers.image.licenses="Apache-2.0"

# MALLOC_ARENA_MAX: many worker threads otherwise each grow a malloc arena of their own (RSS, not leaks).
ENV PATH=/opt/connector/venv/bin:$PATH \
    MALLOC_ARENA_MAX=2 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CONNECTOR_CONFIG=/etc/connector/config.toml \
    CONNECTOR_HEALTH_HOST=0.0.0.0 \
    CONNECTOR_ON_CONFIG_ERROR=wait

# Pango and a font for the printed letters (WeasyPrint renders them to PDF).
RUN apt-get update \
    && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 fonts-dejavu-core \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 connector \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/connector --no-create-home \
       --shell /usr/sbin/nologin connector \
    && mkdir -p /etc/connector /var/lib/connector/data/handover /var/lib/connector/data/post \
    && chown -R 10001:10001 /var/lib/connector

COPY --from=build /opt/connector/venv /opt/connector/venv

USER 10001:10001
WORKDIR /var/lib/connector
VOLUME ["/var/lib/connector"]
EXPOSE 8080
STOPSIGNAL SIGTERM

# A configuration error makes `connector run` print its problems once and wait (CONNECTOR_ON_CONFIG_ERROR=wait),
# unhealthy, instead of exiting: a restart policy would otherwise restart it into the same error forever.
# Liveness only (/healthz: process and scheduler alive). A ledger that is down makes /readyz fail, not this:
# restarting the container would not bring the ledger back. No curl in slim images, so Python's urllib.
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('CONNECTOR_HEALTH_PORT', '8080'), timeout=4)"]

ENTRYPOINT ["connector"]
CMD ["run"]
