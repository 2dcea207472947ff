# syntax=docker/dockerfile:1
# alertbridge image: the package installed into a venv in a builder stage, copied into a slim
# final stage that runs as a numeric non-root user with the store on a volume.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/alertbridge
WORKDIR /src
COPY requirements.lock pyproject.toml README.md ./
COPY bridge ./bridge
# Dependencies exactly as requirements.lock pins them, each file checked against its hash (the
# lock includes the fast extra's uvloop, which `serve` uses when installed); then the package
# itself, resolving nothing again.
RUN /opt/alertbridge/bin/pip install --require-hashes -r requirements.lock \
    && /opt/alertbridge/bin/pip install --no-deps . \
    && /opt/alertbridge/bin/pip uninstall --yes pip setuptools

FROM ${PYTHON_IMAGE}
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="alertbridge" \
      org.opencontainers.image.description="Alertmanager, Grafana and GitHub webhooks to WhatsApp through the Blueticks API" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.documentation="docs/deploy.md"
ENV PATH=/opt/alertbridge/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN groupadd --system --gid 10001 alertbridge \
    && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
       --shell /usr/sbin/nologin alertbridge \
    && mkdir -p /etc/alertbridge/rules /etc/alertbridge/templates /var/lib/alertbridge \
    && chown 10001:10001 /var/lib/alertbridge
COPY --from=builder /opt/alertbridge /opt/alertbridge
USER 10001:10001
WORKDIR /var/lib/alertbridge
VOLUME ["/var/lib/alertbridge"]
EXPOSE 8080
# No curl in slim images: python's urllib fails (exit 1) on a refused connection or non-2xx.
HEALTHCHECK --interval=30s --timeout=5s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4)"]
ENTRYPOINT ["alertbridge"]
CMD ["serve", "--config", "/etc/alertbridge/config.yaml"]
