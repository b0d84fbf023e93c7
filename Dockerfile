# syntax=docker/dockerfile:1
# T21's container image: `t21` as the entrypoint, `serve --no-worker` by default (the API), or
# `worker`, `migrate`, … as the command. Built in two stages so nothing that builds (uv, the
# build backend, compilers) reaches the final image. Checked in CI by hadolint, and its install
# steps (deploy/install.sh) are run there into a fresh virtual environment.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 UV_NO_CACHE=1 UV_PYTHON_DOWNLOADS=never
RUN pip install --no-cache-dir uv==0.13.9
WORKDIR /src
COPY pyproject.toml README.md requirements.lock requirements-prod.lock ./
COPY deploy/install.sh deploy/install.sh
COPY src ./src
RUN sh deploy/install.sh /opt/t21

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="t21" \
      org.opencontainers.image.description="T21: AI-assisted social media publishing backend"
ENV PATH=/opt/t21/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    T21_ENV=production \
    T21_HOST=0.0.0.0 \
    T21_PORT=8000 \
    T21_DATA_DIR=/var/lib/t21
RUN groupadd --system --gid 10001 t21 \
    && useradd --system --uid 10001 --gid t21 --home-dir /var/lib/t21 --shell /usr/sbin/nologin t21 \
    && mkdir -p /var/lib/t21 \
    && chown t21:t21 /var/lib/t21
COPY --from=build /opt/t21 /opt/t21
USER 10001:10001
WORKDIR /var/lib/t21
EXPOSE 8000 8001
# Liveness of the API process (the worker's ops port answers the same path on 8001; compose and
# Kubernetes set their own checks per service).
HEALTHCHECK --interval=15s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('HEALTHCHECK_PORT', os.environ.get('T21_PORT', '8000')) + '/health', timeout=2)"]
ENTRYPOINT ["t21"]
CMD ["serve", "--no-worker"]
