# First version: runs one mirror pass per invocation. The daemon (`connector run`) with its health
# endpoint and HEALTHCHECK arrives with the scheduling work.
#
#   docker build -t ledger-connector .
#   docker run --rm --env-file connector.env \
#     -v "$PWD/config.toml:/etc/connector/config.toml:ro" -v connector-data:/var/lib/connector/data \
#     ledger-connector sync
#
# The default store is sqlite:///data/connector.db, relative to the working directory: the data volume.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY connector ./connector
COPY adapters ./adapters
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CONNECTOR_CONFIG=/etc/connector/config.toml
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --home-dir /var/lib/connector --shell /usr/sbin/nologin connector \
    && mkdir -p /etc/connector /var/lib/connector/data \
    && chown -R connector /var/lib/connector
USER connector
WORKDIR /var/lib/connector
VOLUME ["/var/lib/connector/data"]
ENTRYPOINT ["connector"]
CMD ["sync"]
