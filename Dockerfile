# One image for the four services; the command picks the service.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1
WORKDIR /app
COPY pyproject.toml README.md ./
COPY shared ./shared
COPY services ./services
COPY simulator ./simulator
COPY migrations ./migrations
RUN pip install '.[fast]' \
    && useradd --system --uid 10001 cardsync
USER cardsync
ENTRYPOINT ["cardsync"]
CMD ["all"]
