"""gunicorn for every HTTP door in production (daphne serves only /ws/; DESIGN.md says why).

    gunicorn -c deploy/gunicorn.conf.py alertum.wsgi
"""

import multiprocessing
import os

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
# One sync worker per core plus one: while a worker waits on PostgreSQL (an accept or a
# ping is one round trip), the spare one uses the core. Measured on 2 cores (docs/
# performance.md): pings and accepts +5-10%, the trivial view unchanged.
workers = int(os.environ.get("GUNICORN_WORKERS", multiprocessing.cpu_count() + 1))
# Threads overlap a request's wait on PostgreSQL's commit (fsync) and Redis with another
# request's CPU work; intake accepts are mostly such waits (docs/performance.md).
threads = int(os.environ.get("GUNICORN_THREADS", 1))
worker_class = "gthread" if threads > 1 else "sync"
# A sync worker serves one request at a time on one thread: it keeps one PostgreSQL
# connection for its life instead of taking one from the pool and handing it back on
# every request (~0.05-0.1 ms of CPU of a ~1 ms intake accept). The pool is for threaded
# and ASGI processes, whose threads would otherwise each hold a connection (DESIGN.md).
if worker_class == "sync":
    os.environ.setdefault("DB_PERSISTENT_CONNECTIONS", "1")
# Keep-alive lets the proxy reuse connections; intake senders retry on 5xx, so a short
# timeout that frees a stuck worker is better than a long one.
keepalive = 5
timeout = 30
# Recycle a worker after this many requests (bounds slow leaks); benchmarks set 0 so that a
# restart (~2 s of CPU importing the app) does not land in one measured run.
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", 10000))
max_requests_jitter = 1000
accesslog = os.environ.get("GUNICORN_ACCESSLOG")  # off unless set: logging every request costs ~10% here
