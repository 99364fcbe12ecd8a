# syntax=docker/dockerfile:1
# Dialer's container image: one image for every process kind (`dialer` is the entrypoint;
# the command picks the process). docs/deploy.md explains the choices and how to refresh the
# pinned base image and package versions.

# python:3.11.10-slim-bookworm (the interpreter the test suite runs on), pinned by digest so
# that a rebuilt tag cannot change the image under us.
ARG PYTHON_IMAGE=python:3.11.10-slim-bookworm@sha256:5148c0e4bbb64271bca1d3322360ebf4bfb7564507ae32dd639322e4952a6b16

# ---------------------------------------------------------------- build: a virtualenv
FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python -m venv /opt/dialer
COPY deploy/constraints.txt ./constraints.txt
COPY pyproject.toml README.md ./
COPY src ./src
# Every package at the version in deploy/constraints.txt; wheels only for dependencies, so
# the build stage needs no compiler either.
RUN /opt/dialer/bin/pip install --only-binary=:all: \
        --constraint constraints.txt . \
    && /opt/dialer/bin/python -m compileall -q /opt/dialer/lib

# ---------------------------------------------------------------- runtime: no build tools
FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="dialer" \
      org.opencontainers.image.description="Outbound call campaign engine" \
      org.opencontainers.image.licenses="Apache-2.0"
# A fixed, unprivileged uid/gid (Kubernetes' runAsNonRoot checks a numeric user).
RUN groupadd --system --gid 10001 dialer \
    && useradd --system --uid 10001 --gid dialer --home-dir /var/lib/dialer \
        --create-home --shell /usr/sbin/nologin dialer
COPY --from=build /opt/dialer /opt/dialer
ENV PATH=/opt/dialer/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    DIALER_LISTEN=0.0.0.0:8000 \
    DIALER_METRICS_HOST=0.0.0.0 \
    DIALER_HEALTHCHECK_URL=http://127.0.0.1:8000/healthz
# beat keeps its schedule file in the working directory: it must be writable.
WORKDIR /var/lib/dialer
USER 10001:10001
EXPOSE 8000
# The listener's liveness by default; processes without HTTP (dispatcher, worker) point
# DIALER_HEALTHCHECK_URL at their metrics port, and beat has none (docs/deploy.md#health).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request as r; r.urlopen(os.environ['DIALER_HEALTHCHECK_URL'], timeout=4)"]
ENTRYPOINT ["dialer"]
CMD ["serve", "--api-only"]
