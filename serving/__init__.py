"""The server side face-login adds to gunicorn: a worker whose threads get whole requests."""
