"""gunicorn settings, the one place for them: `gunicorn -c config/gunicorn.py config.wsgi`
(Procfile, docker-compose.yml, the tests' web processes, the security and OTLP benchmarks; the
gateway and explorer benchmarks run sync workers, see bench/gateway.py).

Threaded workers (gthread): a slow or idle client holds one thread of one worker, never a whole
worker, and a connection that has sent nothing yet waits in the worker's poller without taking
a thread at all. Password hashing and other CPU work still share the GIL, so the sign-in
throttle (django-axes) keeps brute force from occupying the threads. In production gunicorn
runs behind nginx, which buffers whole requests and responses (README "Security")."""

import os

bind = os.environ.get("SWITCHBOARD_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_WORKERS", 3))
worker_class = "gthread"
threads = int(os.environ.get("WEB_THREADS", 8))
timeout = int(os.environ.get("WEB_TIMEOUT", 30))
graceful_timeout = 20
keepalive = 5
# Bounded request heads (gunicorn's defaults, stated): longer lines or more fields get a 400.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190
accesslog = os.environ.get("WEB_ACCESS_LOG") or None  # "-" for stdout
loglevel = os.environ.get("WEB_LOG_LEVEL", "warning")
