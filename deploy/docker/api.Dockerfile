# API image (also the one-shot trainer): multi-stage, slim, non-root, no build tools at run time.
FROM python:3.11.11-slim-bookworm AS build
WORKDIR /src
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
# Every third-party package pinned and hash-checked (deploy/docker/requirements.lock, made by
# scripts/lock), then the project itself with nothing fetched on the side (build backend included).
COPY deploy/docker/requirements.lock ./
RUN pip install --no-cache-dir --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir --no-deps --no-build-isolation .

FROM python:3.11.11-slim-bookworm
RUN groupadd --system --gid 10001 mlops \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin mlops \
    && mkdir -p /artifacts /data /config \
    && chown 10001:10001 /artifacts /data /config
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    MLOPS_HOST=0.0.0.0 \
    MLOPS_PORT=5000 \
    MLOPS_ARTIFACTS_DIR=/artifacts \
    MLOPS_DB_PATH=/data/predictions.db \
    MLOPS_METRICS_DIR=/tmp/mlops-metrics
WORKDIR /data
USER 10001:10001
EXPOSE 5000
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:5000/ready', timeout=2)"]
CMD ["mlops", "serve"]
