# face-login: gunicorn on $PORT (8000), data in the /data volume, models from the pip packages.
#
# Two stages. annoy and hnswlib are published only as source archives, and python:3.11-slim has
# no compiler, so the build stage (with one) turns every requirement into a wheel and installs
# those wheels only (--no-index --only-binary) into a virtualenv, /opt/venv, then takes pip and
# setuptools out of it (nothing installs at run time). The runtime stage copies that virtualenv
# (COPY --from=build): no compiler, no wheels, no installer, no network. Plain
# COPY --from, not RUN --mount, so the classic builder (DOCKER_BUILDKIT=0, Debian's docker.io
# without buildx) and BuildKit build the same image.
#
# Read-only: `docker run --read-only --tmpfs /tmp -v face-login-data:/data ...`; /data is the
# only folder written besides /tmp (gunicorn's worker heartbeats, uploads spooled to disk).

FROM python:3.11-slim AS build

# Both add -march=native by default: a wheel tuned to the build machine's CPU can die of
# SIGILL on another. These keep annoy's other flags and build for any x86-64.
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ANNOY_COMPILER_ARGS=-D_CRT_SECURE_NO_WARNINGS,-fpermissive,-O3,-ffast-math,-fno-associative-math,-DANNOYLIB_MULTITHREADED_BUILD,-std=c++14 \
    HNSWLIB_NO_NATIVE=1

# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends g++ \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /build
COPY requirements.txt .
RUN pip wheel --wheel-dir /wheels -r requirements.txt \
    && python -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-index --only-binary=:all: --find-links=/wheels \
        -r requirements.txt \
    && /opt/venv/bin/pip uninstall --yes --quiet pip setuptools \
    && rm -rf /wheels


FROM python:3.11-slim

ARG PORT=8000
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ORT_DISABLE_TELEMETRY=1 \
    HOST=0.0.0.0 \
    PORT=${PORT} \
    FACE_LOGIN_DATA=/data \
    PATH=/opt/venv/bin:$PATH

RUN groupadd --gid 10001 facelogin \
    && useradd --create-home --uid 10001 --gid 10001 facelogin
WORKDIR /app

COPY --from=build /opt/venv /opt/venv

COPY config.ini gunicorn.conf.py ./
COPY serving ./serving
COPY app ./app
COPY face_engine ./face_engine
COPY templates ./templates
COPY static ./static
COPY LICENSES ./LICENSES

RUN mkdir -p /data && chown facelogin:facelogin /data
USER 10001:10001
VOLUME ["/data"]
EXPOSE ${PORT}

# The port is read when the check runs, so `docker run -e PORT=9000` is checked on 9000.
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import os, sys, urllib.request; port = os.environ.get('PORT', '8000'); sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:' + port + '/healthz', timeout=4).status == 200 else 1)"]

CMD ["gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"]
