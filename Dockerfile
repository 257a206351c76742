# itpwatch as a container: `itpwatch serve` (MLLP 2575, HTTP 8080), non-root, with a health check.
# docs/deployment.md explains the settings, secrets, TLS, PostgreSQL and upgrades; examples/deploy/compose.yaml
# runs it with PostgreSQL.
#
#   docker build -t itpwatch .
#   docker run -e ITPWATCH_HTTP_TOKEN_FILE=/run/secrets/http_token ... itpwatch

# -- build: durable-rules ships no wheels and compiles its C core -------------------------------------------
FROM python:3.11-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends gcc g++ make \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY pyproject.toml README.md LICENSE ./
COPY events events
COPY rules rules
COPY adapters adapters
COPY engine engine
RUN python -m venv /opt/itpwatch \
 && /opt/itpwatch/bin/pip install --no-cache-dir --upgrade pip \
 && /opt/itpwatch/bin/pip install --no-cache-dir .

# -- run: the virtual environment only, as an unprivileged user ----------------------------------------------
FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/itpwatch --create-home itpwatch
COPY --from=build /opt/itpwatch /opt/itpwatch
ENV PATH=/opt/itpwatch/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    ITPWATCH_LOG_FORMAT=json \
    ITPWATCH_BIND_HOST=0.0.0.0 \
    ITPWATCH_MLLP_PORT=2575 \
    ITPWATCH_HTTP_PORT=8080 \
    ITPWATCH_DATABASE_URL=sqlite:////var/lib/itpwatch/itpwatch.db
USER itpwatch
WORKDIR /var/lib/itpwatch
VOLUME ["/var/lib/itpwatch"]
EXPOSE 2575 8080
# Liveness of the HTTP listener (no token needed). Load balancers should use /health/ready instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
  CMD python -c "import os, sys, urllib.request; port = os.environ.get('ITPWATCH_HTTP_PORT', '8080'); sys.exit(0 if urllib.request.urlopen(f'http://127.0.0.1:{port}/health/live', timeout=4).status == 200 else 1)"
STOPSIGNAL SIGTERM
ENTRYPOINT ["itpwatch"]
CMD ["serve"]
