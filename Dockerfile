# One image for the bot: `docker build -t videobot .` then `docker run --env-file .env -v videobot-data:/app/data videobot`
# (or `docker compose up -d` for the bot with PostgreSQL).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies first: the layer stays cached while only the code changes. The lock pins every package with its
# hashes (rebuilt from requirements.in by `bash .ci/lock`), so each build installs exactly the same files.
COPY requirements.lock ./
RUN pip install --require-hashes -r requirements.lock

# A fixed numeric id, so orchestrators that insist on runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --gid 10001 videobot \
    && useradd --uid 10001 --gid videobot --home-dir /app --no-create-home videobot \
    && mkdir -p /app/data \
    && chown videobot:videobot /app/data

COPY bot/ ./bot/

# SQLite by default, in the volume; compose points DATABASE_URL at PostgreSQL instead.
# /healthz and /metrics listen on every interface of the container (the bot's own default is loopback only), so
# a scraper on the container network reaches them; the port is published nowhere unless you publish it.
ENV DATA_DIR=/app/data \
    DATABASE_URL=sqlite+aiosqlite:////app/data/videobot.db \
    HEALTH_HOST=0.0.0.0 \
    HEALTH_PORT=8080

USER 10001:10001
# Declared after the chown: a new named volume starts as a copy of this directory, owned by the bot's user.
VOLUME ["/app/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:' + (os.environ.get('HEALTH_PORT') or '8080') + '/healthz'; sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]

ENTRYPOINT ["python", "-m", "bot"]
