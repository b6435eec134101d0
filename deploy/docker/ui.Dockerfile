# UI image: Streamlit pages talking to the API over the compose network.
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
    && useradd --system --uid 10001 --gid 10001 --no-create-home --shell /usr/sbin/nologin mlops
COPY --from=build /opt/venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    MLOPS_HOST=0.0.0.0 \
    MLOPS_UI_PORT=8501 \
    MLOPS_API_URL=http://api:5000 \
    MLOPS_PROMETHEUS_URL=http://prometheus:9090
WORKDIR /tmp
USER 10001:10001
EXPOSE 8501
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=2)"]
CMD ["mlops", "ui"]
