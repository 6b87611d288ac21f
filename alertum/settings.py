"""Alertum settings. Everything that differs between machines comes from the environment.

Embedded default (nothing set): SQLite in WAL mode under ./var, an in-process channel
layer and a file-system celery broker, a generated SECRET_KEY kept in ./var.
Production: DATABASE_URL (PostgreSQL, pooled) and REDIS_URL (celery + channels-redis),
SECRET_KEY required whenever DEBUG is off.
"""

import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from alertum.env import env_bool, env_int, env_list, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("ALERTUM_VAR_DIR", str(BASE_DIR / "var")))
VAR_DIR.mkdir(parents=True, exist_ok=True)

DEBUG = env_bool("DEBUG", False)
EMBEDDED = env_bool("ALERTUM_EMBEDDED", False)  # set by `manage.py up`
# pytest (8.2+) sets PYTEST_VERSION for the length of a run.
TESTING = env_bool("ALERTUM_TESTING", False) or "PYTEST_VERSION" in os.environ


def _secret_key() -> str:
    key = env_str("SECRET_KEY")
    if key:
        return key
    if not (DEBUG or EMBEDDED or TESTING):
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off (production)")
    # The embedded default generates one key per checkout and keeps it, so sessions
    # and signed links survive restarts. Never used in production (checked above).
    path = VAR_DIR / "secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = _secret_key()
ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "django_htmx",
    "django_celery_beat",
    "channels",
    "alertum.core",
    "alertum",
    "incidents",
    "monitoring",
    "monitoring.heartbeats",
    "oncall",
    "oncall.schedules",
    "statuspages",
]

# Doors for tools (intake, heartbeat pings) are served before the session stack.
MACHINE_DOOR_PREFIXES = ("/integrations/", "/ping/")
MACHINE_DOOR_URLCONF = "alertum.door_urls"  # the patterns under those prefixes

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "alertum.core.middleware.MachineDoorMiddleware",  # intake and ping doors skip the session/auth/CSRF stack
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "statuspages.middleware.StatusPageMiddleware",  # custom domains; cached public pages before sessions
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "alertum.core.middleware.UserTimezoneMiddleware",
]

ROOT_URLCONF = "alertum.urls"
WSGI_APPLICATION = "alertum.wsgi.application"
ASGI_APPLICATION = "alertum.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# The address people reach Alertum at: links in e-mails, pages and chat messages are absolute.
BASE_URL = env_str("ALERTUM_BASE_URL", "http://127.0.0.1:8000").rstrip("/")

DATABASE_URL = env_str("DATABASE_URL")
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL)
    if _db["ENGINE"] == "django.db.backends.postgresql":
        # Pooled connections (psycopg_pool). Persistent per-thread connections under
        # ASGI exhausted PostgreSQL ("too many clients"); the pool caps them.
        if env_bool("DB_PERSISTENT_CONNECTIONS", False):
            # Single-threaded processes only (gunicorn sync workers, set by its conf file):
            # one connection kept for the process's life; after an error it is closed at
            # the end of the request and the next request connects afresh.
            _db["CONN_MAX_AGE"] = None
            _db["OPTIONS"] = {}
        else:
            _db["CONN_MAX_AGE"] = 0
            _db["OPTIONS"] = {
                "pool": {
                    "min_size": env_int("DB_POOL_MIN", 2),
                    "max_size": env_int("DB_POOL_MAX", 20),
                    "timeout": 10,
                }
            }
    elif _db["ENGINE"] == "django.db.backends.sqlite3":
        _db["OPTIONS"] = {}
    else:
        raise ImproperlyConfigured(f"DATABASE_URL must be postgres:// or sqlite://, not {_db['ENGINE']}")
else:
    _db = {"ENGINE": "django.db.backends.sqlite3", "NAME": str(VAR_DIR / "alertum.sqlite3"), "OPTIONS": {}}

if _db["ENGINE"] == "django.db.backends.sqlite3":
    # WAL lets readers run beside the one writer; IMMEDIATE takes the write lock at
    # BEGIN so two writers queue on the busy timeout instead of failing with
    # "database is locked" when one upgrades a read lock mid-transaction.
    _db["OPTIONS"].update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        }
    )
    # A file, not :memory:, so that servers started by browser tests share it; one per
    # test process so that parallel runs do not trample each other.
    _db.setdefault("TEST", {})["NAME"] = str(VAR_DIR / f"test-{os.getpid()}.sqlite3")
DATABASES = {"default": _db}
IS_POSTGRES = _db["ENGINE"] == "django.db.backends.postgresql"

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "core.User"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "dashboard"
LOGOUT_REDIRECT_URL = "login"

# --- Time and language ------------------------------------------------------------------
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- Static and uploaded files ----------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STATICFILES_DIRS = [BASE_DIR / "static"]
# The embedded default and tests serve static files straight from the apps (no
# collectstatic step); production runs collectstatic and serves the hashed copies.
WHITENOISE_USE_FINDERS = DEBUG or EMBEDDED or TESTING
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if WHITENOISE_USE_FINDERS
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))
EVIDENCE_MAX_BYTES = env_int("EVIDENCE_MAX_BYTES", 10 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 2 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Redis: celery broker and channel layer ---------------------------------------------
REDIS_URL = env_str("REDIS_URL")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": env_str("CHANNEL_LAYER_BACKEND", "channels_redis.core.RedisChannelLayer"),
            "CONFIG": {"hosts": [REDIS_URL], "prefix": env_str("CHANNELS_PREFIX", "alertum")},
        }
    }
    CELERY_BROKER_URL = REDIS_URL
else:
    # Embedded default: the channel layer lives in the web process; events raised in
    # the worker reach open pages through the consumer's catch-up poll
    # (docs/live-updates.md). The broker is a folder shared by web, worker and beat.
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    _broker_dir = VAR_DIR / "broker"
    (_broker_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir),
        "data_folder_out": str(_broker_dir),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
        "control_folder": str(_broker_dir / "control"),
    }

# Cache: shared counters (intake rate limits) must be shared by every web process, so
# Redis when there is one; the embedded default runs one web process, so memory will do.
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": env_str("CHANNELS_PREFIX", "alertum")}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TASK_IGNORE_RESULT = True

# Seconds between live-page catch-up polls (the safety net under a lossy channel layer).
LIVE_POLL_SECONDS = env_int("LIVE_POLL_SECONDS", 2 if not REDIS_URL else 15)
# At most one "monitors changed" message per overview connection this often (docs/live-updates.md).
MONITORS_LIVE_MIN_GAP_SECONDS = env_int("MONITORS_LIVE_MIN_GAP_SECONDS", 2)

# --- E-mail ----------------------------------------------------------------------------
EMAIL_HOST = env_str("EMAIL_HOST", "127.0.0.1")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "alertum@localhost")
if not env_str("EMAIL_HOST"):
    # No SMTP server configured: the embedded default writes mail to files instead of
    # failing every notification; set EMAIL_HOST to deliver for real.
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")

# --- REST API --------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "alertum.core.api_auth.ApiTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["alertum.core.api_auth.TokenScopePermission"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "alertum.core.api_errors.exception_handler",
    "DEFAULT_FILTER_BACKENDS": [],
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Alertum API",
    "DESCRIPTION": "Incidents, services, teams and maintenance windows. Token or session auth.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.IsAuthenticated"],
    "COMPONENT_SPLIT_REQUEST": True,
    # Swagger UI from drf-spectacular-sidecar's static files: no CDN, no third-party request.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    # Two choice sets share the field name "role" (team roles, incident roles).
    "ENUM_NAME_OVERRIDES": {"TeamRoleEnum": "alertum.core.models.Role",
                            "IncidentRoleEnum": "incidents.models.IncidentRole",
                            # Intake's own status, severity, kind and state beside the incidents' ones.
                            "IncidentStatusEnum": "incidents.models.Status",
                            "IncidentSeverityEnum": "incidents.models.Severity",
                            "MaintenanceStateEnum": "alertum.core.models.MaintenanceWindow.State",
                            "AlertStatusEnum": "incidents.models.Alert.Status",
                            "AlertSeverityEnum": "incidents.models.Alert.Severity",
                            "IntegrationKindEnum": "incidents.models.Integration.Kind",
                            "RawEventStateEnum": "incidents.models.RawEvent.State"},
}

# --- Security --------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads it to send X-CSRFToken
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
SECURE_REFERRER_POLICY = "same-origin"
if env_bool("BEHIND_TLS_PROXY", False):
    # The proxy terminates TLS and says so in X-Forwarded-Proto (deploy/nginx.conf).
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
if not DEBUG and not EMBEDDED and not TESTING and env_bool("SECURE_COOKIES", True):
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "WARNING")},
    "loggers": {"alertum": {"level": env_str("LOG_LEVEL", "INFO")}},
}

if TESTING:
    # Fast hashing for the cast of test users; never outside tests.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

# --- Notification transports (alertum/core/notify; docs/notifications.md) ---------------
# Every HTTP call of a transport has a short connect and read timeout: a slow chat API
# must never hold a paging worker.
NOTIFY_CONNECT_TIMEOUT = env_int("NOTIFY_CONNECT_TIMEOUT", 5)
NOTIFY_READ_TIMEOUT = env_int("NOTIFY_READ_TIMEOUT", 10)
NOTIFY_EMAIL_TIMEOUT = env_int("NOTIFY_EMAIL_TIMEOUT", 15)
# Per-contact throttles: kind -> (at most this many sends, per this many seconds).
# A throttled send is delayed (transient, with retry-after), never dropped.
NOTIFY_THROTTLES = {
    "sms": (env_int("NOTIFY_SMS_LIMIT", 10), env_int("NOTIFY_SMS_WINDOW", 600)),
    "voice": (env_int("NOTIFY_VOICE_LIMIT", 3), env_int("NOTIFY_VOICE_WINDOW", 600)),
    "email": (env_int("NOTIFY_EMAIL_LIMIT", 30), env_int("NOTIFY_EMAIL_WINDOW", 600)),
}
# SMS and voice through a Twilio-compatible REST API (any provider speaking it works).
TWILIO_BASE_URL = env_str("TWILIO_BASE_URL", "https://api.twilio.com")
TWILIO_ACCOUNT_SID = env_str("TWILIO_ACCOUNT_SID", "")
TWILIO_AUTH_TOKEN = env_str("TWILIO_AUTH_TOKEN", "")
TWILIO_FROM_NUMBER = env_str("TWILIO_FROM_NUMBER", "")
TWILIO_MESSAGING_SERVICE_SID = env_str("TWILIO_MESSAGING_SERVICE_SID", "")  # used for SMS instead of From when set

# --- monitoring (checks, heartbeats, journeys) ----------------------------------------
# Raw check results are kept this many days; roll-ups per granularity as below (>= 400).
MONITORING_RAW_RETENTION_DAYS = env_int("MONITORING_RAW_RETENTION_DAYS", 7)
MONITORING_ROLLUP_RETENTION_DAYS = {
    "minute": env_int("MONITORING_MINUTE_RETENTION_DAYS", 400),
    "hour": env_int("MONITORING_HOUR_RETENTION_DAYS", 400),
    "day": env_int("MONITORING_DAY_RETENTION_DAYS", 800),
}
# Checks run on a bounded thread pool per worker; each engine tick runs this long.
MONITORING_CHECK_THREADS = env_int("MONITORING_CHECK_THREADS", 64)
MONITORING_TICK_SECONDS = env_int("MONITORING_TICK_SECONDS", 5)
# Heartbeat pings commit durably by default: an answered ping is on disk. On opts into
# PostgreSQL's synchronous_commit=off for steady-state pings (a database crash may lose the
# last fraction of a second of them; state changes always commit durably). docs/heartbeats.md.
HEARTBEAT_PING_ASYNC_COMMIT = env_bool("HEARTBEAT_PING_ASYNC_COMMIT", False)

# --- oncall (schedules, escalation, paging) -------------------------------------------
# Escalation and paging (docs/escalation.md). Links in notifications are absolute: the
# address people reach Alertum at.
ONCALL_BASE_URL = BASE_URL
ONCALL_LINK_MAX_AGE = env_int("ONCALL_LINK_MAX_AGE", 24 * 3600)  # seconds an acknowledge/resolve link works
ONCALL_PAGE_LEASE = env_int("ONCALL_PAGE_LEASE", 60)  # a page claimed longer ago than this is re-sent
ONCALL_PAGE_MAX_ATTEMPTS = env_int("ONCALL_PAGE_MAX_ATTEMPTS", 8)
# Kick a celery task at each due time (the beat ticks are the safety net under lost kicks).
ONCALL_KICKS = env_bool("ONCALL_KICKS", True)
# Kicks for escalation levels are rounded up to this many milliseconds and sent once per
# instant: a storm of levels due within it is one task (which recruits more workers).
ONCALL_KICK_QUANTUM_MS = env_int("ONCALL_KICK_QUANTUM_MS", 250)
# A level is fired (targets resolved, pages written, the timeline note) up to this many
# seconds before it is due; its pages are sent at the due time, and an acknowledgement in
# between cancels them. A storm of levels due at one instant then only sends at that instant.
ONCALL_FIRE_AHEAD_SECONDS = env_int("ONCALL_FIRE_AHEAD_SECONDS", 5)
# Threads per paging worker process sending a claimed batch of pages concurrently.
ONCALL_SEND_THREADS = env_int("ONCALL_SEND_THREADS", 16)

# --- statuspages (public pages, subscribers) ------------------------------------------
# Absolute links in subscriber e-mails and webhooks, and the scheme of custom domains.
STATUSPAGES_BASE_URL = env_str("STATUSPAGES_BASE_URL", BASE_URL)
STATUSPAGES_DOMAIN_SCHEME = env_str("STATUSPAGES_DOMAIN_SCHEME", "https")
# Seconds a rendered public page or JSON may be served without a re-render even if
# nothing bumped it (derived statuses move without a write); 0 turns the cache off
# (the benchmark's uncached figure). Writes bump it at once either way.
STATUSPAGES_CACHE_SECONDS = env_int("STATUSPAGES_CACHE_SECONDS", 60)
# The status pages' own choice sets beside the incidents' ones in the OpenAPI schema.
SPECTACULAR_SETTINGS["ENUM_NAME_OVERRIDES"].update({
    "ComponentStatusEnum": "statuspages.models.ComponentStatus",
    "PublicIncidentStatusEnum": "statuspages.models.IncidentStatus",
    "PublicMaintenanceStatusEnum": "statuspages.models.MaintenanceStatus",
    "PublicImpactEnum": "statuspages.models.Impact",
    "NoticeStateEnum": "statuspages.models.Notice.State",
    "SubscriberKindEnum": "statuspages.models.Subscriber.Kind",
    "StakeholderAudienceKindEnum": "statuspages.models.StakeholderAudience.Kind",
    "StatusPageAccessEnum": "statuspages.models.StatusPage.Access",
})
