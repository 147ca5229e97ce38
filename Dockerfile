# One image for the bot: `docker build -t videobot .` then `docker run --env-file .env -v videobot-data:/app/data videobot`
# (or `docker compose up -d` for the bot with PostgreSQL).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Requirements first: the dependency layer stays cached while only the code changes.
COPY requirements.txt ./
RUN pip install -r requirements.txt

# A fixed numeric id, so orchestrators that insist on runAsNonRoot can verify it without a passwd lookup.
RUN groupadd --gid 10001 videobot \
    && useradd --uid 10001 --gid videobot --home-dir /app --no-create-home videobot \
    && mkdir -p /app/data \
    && chown videobot:videobot /app/data

COPY bot/ ./bot/

# SQLite by default, in the volume; compose points DATABASE_URL at PostgreSQL instead.
ENV DATA_DIR=/app/data \
    DATABASE_URL=sqlite+aiosqlite:////app/data/videobot.db \
    HEALTH_PORT=8080

USER 10001:10001
# Declared after the chown: a new named volume starts as a copy of this directory, owned by the bot's user.
VOLUME ["/app/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; url = 'http://127.0.0.1:' + (os.environ.get('HEALTH_PORT') or '8080') + '/healthz'; sys.exit(0 if urllib.request.urlopen(url, timeout=4).status == 200 else 1)"]

ENTRYPOINT ["python", "-m", "bot"]
