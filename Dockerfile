# syntax=docker/dockerfile:1
# permit_service: one image for every process. docker-compose.yml runs it as `migrate` (flask db
# upgrade), `app` (gunicorn, the default command), `worker` and `beat` (celery).
ARG PYTHON_VERSION=3.11

# --- build: a virtualenv holding the dependencies only --------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH
WORKDIR /src
# Only the lock file first: this layer (the slow pip install) is rebuilt when the dependencies
# change, not on every source edit. It installs exactly the versions `make run` and CI use
# (requirements/run.txt, made by `make lock`); --no-deps: nothing is resolved afresh here.
# psycopg[binary] ships wheels, so no compiler is needed.
COPY requirements/run.txt ./requirements.txt
RUN pip install --no-deps -r requirements.txt

# --- runtime: the virtualenv, the source, a non-root user ------------------------------------
FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONPATH=/app \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FLASK_APP=wsgi \
    INSTANCE_PATH=/app/instance \
    GUNICORN_BIND=0.0.0.0:8000 \
    LOG_FORMAT=json
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app
WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# The source stays owned by root: the service user can read it, not change it.
COPY wsgi.py celery_app.py gunicorn.conf.py ./
COPY migrations ./migrations
COPY permit_service ./permit_service
# The pages' message catalogues (.po -> .mo; the .mo files are not in git).
RUN pybabel compile -d permit_service/translations
# instance/ is the one writable place (Beat's schedule file); data lives in PostgreSQL.
RUN python -m compileall -q permit_service migrations \
    && mkdir -p /app/instance/metrics && chown app:app /app/instance /app/instance/metrics
USER app
EXPOSE 8000
# Liveness of the web process; compose overrides it per service (readiness for app, ping for worker).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"]
# gunicorn stops on SIGTERM gracefully: workers finish requests within GUNICORN_GRACEFUL_TIMEOUT.
STOPSIGNAL SIGTERM
CMD ["gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"]
