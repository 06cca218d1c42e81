# One image for the four services; the command picks the service (`cardsync all` when none is given).
#   docker build -t cardsync .                   the services: no simulator, no test tools
#   docker build --target demo -t cardsync-demo .  the same plus the simulated tenant, for `cardsync demo`
# Dependencies come from the lock (requirements/*.txt, exported from uv.lock by scripts/lock), each file checked
# against its hash; both stages use the same base image, so the virtual environment copies across.
ARG PYTHON_IMAGE=python:3.11.13-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/cardsync
COPY requirements/runtime.txt /tmp/requirements/
RUN /opt/cardsync/bin/pip install --require-hashes --only-binary=:all: -r /tmp/requirements/runtime.txt
COPY pyproject.toml README.md /src/
COPY shared /src/shared
COPY services /src/services
COPY migrations /src/migrations
RUN /opt/cardsync/bin/pip install --no-deps /src

FROM build AS demo-build
COPY requirements/demo.txt /tmp/requirements/
RUN /opt/cardsync/bin/pip install --require-hashes --only-binary=:all: -r /tmp/requirements/demo.txt
COPY simulator /src/simulator
RUN /opt/cardsync/bin/pip install --no-deps --force-reinstall /src

FROM ${PYTHON_IMAGE} AS base
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
ARG SOURCE=unknown
LABEL org.opencontainers.image.title="cardsync" \
      org.opencontainers.image.description="Keeps digital business card teams in step with Microsoft Entra ID." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin cardsync
ENV PATH=/opt/cardsync/bin:$PATH PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 CARDSYNC_API_HOST=0.0.0.0
# The API (scheduler) and the workers' /healthz and /metrics: fetcher, reconciler, notifier.
EXPOSE 8080 8081 8082 8083
HEALTHCHECK --interval=15s --timeout=10s --start-period=30s --retries=3 CMD ["cardsync", "healthcheck"]
ENTRYPOINT ["cardsync"]
CMD ["all"]

FROM base AS demo
COPY --from=demo-build /opt/cardsync /opt/cardsync
USER 10001:10001
CMD ["demo"]

# Last, so that a build without --target makes the lean image.
FROM base AS runtime
COPY --from=build /opt/cardsync /opt/cardsync
USER 10001:10001
