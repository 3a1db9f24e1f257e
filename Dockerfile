# TradeNet: the ASGI app (REST API, admin, live updates) with uvicorn workers.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
RUN useradd --create-home --uid 10001 tradenet

COPY pyproject.toml README.md ./
COPY tradenet ./tradenet
COPY trades ./trades
COPY cargo ./cargo
COPY credits ./credits
COPY inventory ./inventory
COPY updates ./updates
COPY website ./website
COPY core ./core
RUN pip install .

COPY manage.py ./
COPY deploy ./deploy
# Static files are gathered at build time; WhiteNoise serves them, compressed and hashed.
RUN DJANGO_DEBUG=0 DJANGO_SECRET_KEY=build-only DATABASE_URL=postgres://build@localhost/build \
    python manage.py collectstatic --noinput --verbosity 0 \
    && chown -R tradenet /app

USER tradenet
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD python -c "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status != 200)"
CMD ["deploy/start.sh"]
