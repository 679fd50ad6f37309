# First version: runs one mirror pass per invocation. The daemon (`connector run`) with its health
# endpoint and HEALTHCHECK arrives with the scheduling work.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY connector ./connector
COPY adapters ./adapters
RUN pip install --no-cache-dir --prefix=/install .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    CONNECTOR_CONFIG=/config/config.toml \
    CONNECTOR_DATABASE_URL=sqlite:////data/connector.db
COPY --from=build /install /usr/local
RUN useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin connector \
    && mkdir -p /data /config \
    && chown connector /data
USER connector
WORKDIR /data
VOLUME ["/data"]
ENTRYPOINT ["connector"]
CMD ["sync"]
