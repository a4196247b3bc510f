"""Switchboard settings. Everything a deployment changes is read from the environment here,
and only here (names in README's configuration table)."""

import ipaddress
import os
import secrets
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    return os.environ.get(name, str(default)).strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    return int(os.environ.get(name, default))


# --- Core ---------------------------------------------------------------------------
DEBUG = env_bool("DJANGO_DEBUG", False)


def _dev_secret_key() -> str:
    """A per-checkout random key, kept in a git-ignored file, for machines that set none."""
    path = BASE_DIR / ".secret_key"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(50))
        path.chmod(0o600)
    return path.read_text().strip()


SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY") or _dev_secret_key()
ALLOWED_HOSTS = [h for h in os.environ.get("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("DJANGO_CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "graphene_django",
    "django_htmx",
    "django_celery_beat",
    "axes",
    "csp",
    "core",
    "teams",
    "catalog",
    "graph",
    "changes",  # deploys, the event log and webhooks (issue 14)
    "scorecards",  # scorecards: checks with levels computed from the catalog and graph (issue 15)
    "portal",  # pages combining apps, and `manage.py seed_demo`
    "devtools",  # the simulated fleet's `manage.py fleet` (make run, tests, benchmarks); no models
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "config.security.NoStoreMiddleware",
    "config.security.CSPMiddleware",  # django-csp's, minus the gateway check
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # last, as django-axes requires: turns a lockout into the 429 page
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
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
            ]
        },
    }
]

# --- Database -----------------------------------------------------------------------
# SQLite by default. IMMEDIATE transactions take the write lock at BEGIN, so two requests
# racing for a team's last free seat serialise instead of both reading "one free".
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{BASE_DIR / 'db.sqlite3'}"), conn_max_age=60
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    DATABASES["default"]["OPTIONS"] = {
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    # A file, not memory, so the Celery workers that tests start see the test data.
    DATABASES["default"]["TEST"] = {"NAME": os.environ.get("TEST_SQLITE_NAME", str(BASE_DIR / "var" / "test.sqlite3"))}
    (BASE_DIR / "var").mkdir(exist_ok=True)
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery broker, locks ---------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
CACHES = {
    "default": {
        "BACKEND": "core.redis.RedisCache",  # Django's, reusing its redis client
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("SWITCHBOARD_CACHE_PREFIX", "swb"),
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5},
    }
}

# --- Celery -------------------------------------------------------------------------
CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", REDIS_URL)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", REDIS_URL)
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 120)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 150)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# How long a task taken by a worker that died stays invisible before Redis hands it out again.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 600),
    "unacked_restore_interval": env_int("CELERY_RESTORE_INTERVAL", 10),
    "unacked_restore_throttle": env_int("CELERY_RESTORE_THROTTLE", 10),
}
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
# The schedule lives in the database (django-celery-beat); config/beat.py sends it from one beat
# process at a time (a lease in Redis), so extra beat processes are hot standbys.
CELERY_BEAT_SCHEDULER = "config.beat:SingleBeatScheduler"
BEAT_LOCK_SECONDS = env_int("BEAT_LOCK_SECONDS", 30)
if BEAT_LOCK_SECONDS < 3:
    raise ImproperlyConfigured("BEAT_LOCK_SECONDS must be at least 3 (the lease is renewed every third of it).")
CELERY_WORKER_HIJACK_ROOT_LOGGER = False

# --- Neo4j --------------------------------------------------------------------------
NEO4J_URI = os.environ.get("NEO4J_URI", "bolt://127.0.0.1:7687")
NEO4J_USER = os.environ.get("NEO4J_USER", "neo4j")
NEO4J_PASSWORD = os.environ.get("NEO4J_PASSWORD", "switchboard-dev")
NEO4J_DATABASE = os.environ.get("NEO4J_DATABASE", "neo4j")

# --- Discovery ----------------------------------------------------------------------
# Production default: RFC 1918 only. Loopback is added by default only with DJANGO_DEBUG on;
# `make run` (scripts/run) and the tests set it explicitly.
_RFC1918 = "10.0.0.0/8,172.16.0.0/12,192.168.0.0/16"
DISCOVERY_ALLOWED_NETWORKS = [
    ipaddress.ip_network(n.strip())
    for n in os.environ.get(
        "DISCOVERY_ALLOWED_NETWORKS", f"127.0.0.0/8,::1/128,{_RFC1918}" if DEBUG else _RFC1918
    ).split(",")
    if n.strip()
]
# Catalog as code (catalog/descriptors): limits on descriptor input and per-team ownership of the new kinds.
CATALOG_MAX_BYTES = env_int("CATALOG_MAX_BYTES", 2 * 1024 * 1024)  # one descriptor file or posted body
CATALOG_MAX_DOCUMENTS = env_int("CATALOG_MAX_DOCUMENTS", 10_000)  # YAML documents per file
CATALOG_MAX_DEPTH = env_int("CATALOG_MAX_DEPTH", 32)  # nesting of mappings and sequences
CATALOG_MAX_SYSTEMS_PER_TEAM = env_int("CATALOG_MAX_SYSTEMS_PER_TEAM", 8)
CATALOG_MAX_DOMAINS_PER_TEAM = env_int("CATALOG_MAX_DOMAINS_PER_TEAM", 4)
CATALOG_MAX_RESOURCES_PER_TEAM = env_int("CATALOG_MAX_RESOURCES_PER_TEAM", 16)
# URL and git locations (issue 12): fetched under the crawler's allow-list, within these bounds.
CATALOG_FETCH_TIMEOUT = env_int("CATALOG_FETCH_TIMEOUT", 30)  # seconds for one URL or one git clone
CATALOG_GIT_MAX_BYTES = env_int("CATALOG_GIT_MAX_BYTES", 100 * 1024 * 1024)  # a checkout on disk
CATALOG_GIT_MAX_FILES = env_int("CATALOG_GIT_MAX_FILES", 2000)  # descriptor files a glob may match
CATALOG_GIT_ALLOW_LOCAL = env_bool("CATALOG_GIT_ALLOW_LOCAL", False)  # file:// and paths for everyone
CATALOG_REFRESH_MINUTES = env_int("CATALOG_REFRESH_MINUTES", 30)  # beat refresh of URL and git locations
CATALOG_ORPHAN_GRACE_HOURS = env_int("CATALOG_ORPHAN_GRACE_HOURS", 168)  # default grace before removal
DISCOVERY_EDGE_TTL = env_int("DISCOVERY_EDGE_TTL", 3600)  # seconds unseen before "stale"
DISCOVERY_EDGE_REMOVE_AFTER = env_int("DISCOVERY_EDGE_REMOVE_AFTER", 7 * 24 * 3600)
# Edge change events (appeared / stale / disappeared): at most this many named per merge or aging step.
DISCOVERY_EDGE_EVENTS_MAX = env_int("DISCOVERY_EDGE_EVENTS_MAX", 1000)
# Edge history (changes.EdgeSample / EdgeHourly): on or off, full-resolution days and hourly roll-up days kept.
EDGE_HISTORY = env_bool("EDGE_HISTORY", True)
EDGE_HISTORY_RAW_HOURS = env_int("EDGE_HISTORY_RAW_HOURS", 48)
EDGE_HISTORY_HOURLY_DAYS = env_int("EDGE_HISTORY_HOURLY_DAYS", 90)
EDGE_HISTORY_MAX_EDGES = env_int("EDGE_HISTORY_MAX_EDGES", 50)  # edges per direction in one service's history
# Scorecards (issue 15): days of daily level counts kept per scorecard, team and org.
SCORECARD_HISTORY_DAYS = env_int("SCORECARD_HISTORY_DAYS", 180)
SCORECARDS_MAX = env_int("SCORECARDS_MAX", 200)  # each card is recomputed over every service it covers
SCORECARDS_MAX_PER_ORG = env_int("SCORECARDS_MAX_PER_ORG", 25)
# SLOs (issue 14): multi-window burn-rate alert rules "factor:long:short,..." (changes/slo.py), and the
# share of calls in windows whose p99 met the target that counts as meeting the latency objective.
SLO_BURN_RULES = os.environ.get("SLO_BURN_RULES", "14.4:1h:5m,6:6h:30m")
SLO_LATENCY_OBJECTIVE = float(os.environ.get("SLO_LATENCY_OBJECTIVE", 0.99))
KEY_EXPIRY_WARNING_DAYS = env_int("KEY_EXPIRY_WARNING_DAYS", 7)  # key.expiring: days before an active key expires
DISCOVERY_FETCH_TIMEOUT = float(os.environ.get("DISCOVERY_FETCH_TIMEOUT", 5))
DISCOVERY_MAX_BYTES = env_int("DISCOVERY_MAX_BYTES", 10 * 1024 * 1024)
DISCOVERY_MAX_SERIES = env_int("DISCOVERY_MAX_SERIES", 50_000)
DISCOVERY_CONCURRENCY = env_int("DISCOVERY_CONCURRENCY", 64)
DISCOVERY_CHUNK_SIZE = env_int("DISCOVERY_CHUNK_SIZE", 250)
DISCOVERY_SCHEDULE_MINUTES = env_int("DISCOVERY_SCHEDULE_MINUTES", 5)
# Metric rules: extend by appending dicts of the same shape (see graph/discovery/rules.py).
DISCOVERY_EXTRA_METRIC_RULES: list[dict] = []
# The discovery sources, in the order a target's sources observe it (README: "Adding a
# discovery source"). Each is one class following graph/discovery/sources/base.py's Source.
DISCOVERY_SOURCES = [
    "graph.discovery.sources.prometheus.PrometheusSource",
    "graph.discovery.sources.health.HealthSource",
    "graph.discovery.sources.tracing.ZipkinSource",
    "graph.discovery.sources.tracing.JaegerSource",
    "graph.discovery.sources.gateway.GatewayUsageSource",
    "graph.discovery.sources.otlp.OtlpSource",
    "graph.discovery.sources.central.CentralPrometheusSource",
]
# Central Prometheus source: the exporter namespace that prefixes the service-graph metrics
# (``<ns>_traces_service_graph_request_total``), empty for none; the key sealing outbound
# credentials of metrics backends (default: derived from SECRET_KEY; changing it voids them).
DISCOVERY_SERVICE_GRAPH_NAMESPACE = os.environ.get("DISCOVERY_SERVICE_GRAPH_NAMESPACE", "").strip()
DISCOVERY_CREDENTIALS_KEY = os.environ.get("DISCOVERY_CREDENTIALS_KEY", "")

# OTLP push (POST /v1/traces, /v1/metrics; graph/services/otlp.py). Bodies as sent and after
# gzip; resources read per request (the rest are rejected and counted); peers and metric series
# kept per reporting service; buffered requests over all services before 429 with Retry-After.
OTLP_MAX_BODY_BYTES = env_int("OTLP_MAX_BODY_BYTES", 4 * 1024 * 1024)
OTLP_MAX_DECODED_BYTES = env_int("OTLP_MAX_DECODED_BYTES", 16 * 1024 * 1024)
OTLP_MAX_RESOURCES = env_int("OTLP_MAX_RESOURCES", 1000)
OTLP_MAX_PEERS_PER_SERVICE = env_int("OTLP_MAX_PEERS_PER_SERVICE", 1000)
OTLP_MAX_SERIES_PER_SERVICE = env_int("OTLP_MAX_SERIES_PER_SERVICE", 10_000)
OTLP_BUFFER_MAX_ENTRIES = env_int("OTLP_BUFFER_MAX_ENTRIES", 50_000)
OTLP_RETRY_AFTER_SECONDS = env_int("OTLP_RETRY_AFTER_SECONDS", 30)
OTLP_FAILURES_PER_MINUTE = env_int("OTLP_FAILURES_PER_MINUTE", 60)  # failed key attempts per address, then 429

# --- API keys -----------------------------------------------------------------------
KEY_LOCAL_CACHE_SECONDS = float(os.environ.get("KEY_LOCAL_CACHE_SECONDS", 0.5))
GATEWAY_FAILURES_PER_MINUTE = env_int("GATEWAY_FAILURES_PER_MINUTE", 60)
# How the gateway passes the original request: "envoy" (ext_authz appends the path to
# /gateway/verify, the method is the request's) or "nginx" (auth_request sends
# X-Original-URI / X-Original-Method, read only in this mode).
GATEWAY_MODE = os.environ.get("GATEWAY_MODE", "envoy").strip().lower()
if GATEWAY_MODE not in ("envoy", "nginx"):
    raise ImproperlyConfigured("GATEWAY_MODE must be 'envoy' or 'nginx'.")
# A key with a rate limit or daily quota while Redis cannot be asked: "open" answers as if no
# limit applied (logged), "closed" refuses with 503 quota_unavailable. Keys without limits never ask.
GATEWAY_QUOTA_REDIS_DOWN = os.environ.get("GATEWAY_QUOTA_REDIS_DOWN", "open").strip().lower()
if GATEWAY_QUOTA_REDIS_DOWN not in ("open", "closed"):
    raise ImproperlyConfigured("GATEWAY_QUOTA_REDIS_DOWN must be 'open' or 'closed'.")
# Days before an API's sunset at which its consumers get api.sunset_approaching (each once).
API_SUNSET_NOTICE_DAYS = sorted(
    {int(d) for d in os.environ.get("API_SUNSET_NOTICE_DAYS", "30,7,1").split(",") if d.strip()}, reverse=True
)
# Proxies (IPs or CIDR networks, comma-separated) whose X-Forwarded-For is believed when
# finding a client's address (core/clientip.py); default: none, the peer address counts.
TRUSTED_PROXIES = [p.strip() for p in os.environ.get("TRUSTED_PROXIES", "").split(",") if p.strip()]

# --- Change over time: events and webhooks (changes/) --------------------------------
# Webhook deliveries: per-attempt timeout, attempts before a delivery is dead-lettered (and its
# subscription disabled), exponential back-off base and cap between attempts (seconds).
WEBHOOK_TIMEOUT = float(os.environ.get("WEBHOOK_TIMEOUT", 10))
WEBHOOK_MAX_ATTEMPTS = env_int("WEBHOOK_MAX_ATTEMPTS", 15)
WEBHOOK_RETRY_BASE_SECONDS = float(os.environ.get("WEBHOOK_RETRY_BASE_SECONDS", 5))
WEBHOOK_RETRY_MAX_SECONDS = float(os.environ.get("WEBHOOK_RETRY_MAX_SECONDS", 3600))
# GET /api/v1/events/?wait=N: the longest a long poll is held open (seconds).
EVENTS_MAX_WAIT = env_int("EVENTS_MAX_WAIT", 25)
# Long polls waiting at once (each holds a web thread): per user, and over every web process.
EVENTS_MAX_WAITERS_PER_USER = env_int("EVENTS_MAX_WAITERS_PER_USER", 2)
EVENTS_MAX_WAITERS = env_int("EVENTS_MAX_WAITERS", 8)
# Regression detection after a deploy (changes/regressions.py): each edge into or out of the
# deployed service, the window after the deploy against the window before it (seconds each).
# Flagged when the error rate rises by at least _ABS (0..1) AND by _REL of its value before, or
# the p95 by _ABS_MS AND _REL, with at least REGRESSION_MIN_CALLS calls in each window.
REGRESSION_WINDOW_SECONDS = env_int("REGRESSION_WINDOW_SECONDS", 900)
REGRESSION_MIN_CALLS = env_int("REGRESSION_MIN_CALLS", 100)
REGRESSION_ERROR_RATE_ABS = float(os.environ.get("REGRESSION_ERROR_RATE_ABS", 0.02))
REGRESSION_ERROR_RATE_REL = float(os.environ.get("REGRESSION_ERROR_RATE_REL", 0.5))
REGRESSION_P95_ABS_MS = float(os.environ.get("REGRESSION_P95_ABS_MS", 50))
REGRESSION_P95_REL = float(os.environ.get("REGRESSION_P95_REL", 0.5))
# GET /api/v1/services/<slug>/changes: most items of each kind in one answer (then ``truncated``).
CHANGES_MAX_ITEMS = env_int("CHANGES_MAX_ITEMS", 200)

# --- REST / GraphQL -----------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "core.api.CursorPagination",
    # JSON bodies go through core.api.JSONParser, which bounds their nesting (JSON_MAX_DEPTH).
    "DEFAULT_PARSER_CLASSES": [
        "core.api.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    # Documents the shared error responses (core.openapi).
    "DEFAULT_SCHEMA_CLASS": "core.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.api.exception_handler",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
API_DOCS_PUBLIC = env_bool("API_DOCS_PUBLIC", False)
SPECTACULAR_SETTINGS = {
    "TITLE": "Switchboard API",
    "DESCRIPTION": "Service catalog, ownership limits, API keys and the dependency graph.",
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Request bodies are documented as JSON only (forms are still accepted): one body type per operation
    # keeps generated clients simple (openapi-python-client mis-generates optional multi-type bodies).
    "PARSER_WHITELIST": ["core.api.JSONParser"],
    # The schema and Swagger UI need sign-in (session or token) unless API_DOCS_PUBLIC is on.
    "SERVE_PERMISSIONS": [
        "rest_framework.permissions.AllowAny" if API_DOCS_PUBLIC else "rest_framework.permissions.IsAuthenticated"
    ],
}
GRAPHENE = {
    "SCHEMA": "config.schema.schema",
    "ATOMIC_MUTATIONS": True,
    "RELAY_CONNECTION_ENFORCE_FIRST_OR_LAST": True,
    "RELAY_CONNECTION_MAX_LIMIT": 100,
}
# Fields an app above contributes to a type defined below it (core.graphql.type_extensions):
# the wiring of the layers lives here, so no app imports the one above it.
GRAPHQL_TYPE_EXTENSIONS = {
    "Service": [
        "graph.graphql.extensions.ServiceGraphFields",
        "changes.graphql.extensions.ServiceDeployFields",
        "changes.graphql.whatchanged.ServiceChangesFields",
        "scorecards.graphql.schema.ServiceScorecardFields",
    ],
    "Team": ["catalog.graphql.extensions.TeamServicesField", "graph.graphql.extensions.TeamGraphFields"],
    "Api": ["changes.graphql.slo.ApiSloFields"],
}
GRAPHQL_MAX_DEPTH = env_int("GRAPHQL_MAX_DEPTH", 10)
GRAPHQL_MAX_COST = env_int("GRAPHQL_MAX_COST", 3000)
GRAPHQL_MAX_ALIASES = env_int("GRAPHQL_MAX_ALIASES", 20)
# Documents are refused before parsing above these sizes (413 query_too_large, 400 query_too_many_tokens).
GRAPHQL_MAX_BYTES = env_int("GRAPHQL_MAX_BYTES", 65536)
GRAPHQL_MAX_TOKENS = env_int("GRAPHQL_MAX_TOKENS", 2000)
# Deepest nesting of arrays/objects accepted in any JSON input (REST, GraphQL, specs): 400 json_too_deep.
JSON_MAX_DEPTH = env_int("JSON_MAX_DEPTH", 64)

# --- Auth, static, i18n -------------------------------------------------------------
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "catalog:dashboard"
LOGOUT_REDIRECT_URL = "login"
AUTH_PASSWORD_VALIDATORS = [{"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"}]
LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = BASE_DIR / "var" / "static"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False  # htmx reads it for the X-CSRFToken header
X_FRAME_OPTIONS = "DENY"

# --- Security: sign-in throttling, headers, HTTPS (README "Security") ----------------
# django-axes counts failed sign-ins in Redis (the default cache) per client address and,
# separately, per username; at the limit its authentication backend refuses before any
# password is hashed, and the sign-in pages answer 429 until LOGIN_LOCKOUT_SECONDS have passed
# since the last attempt. The client address comes from core/clientip.py (TRUSTED_PROXIES).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900)
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_HANDLER = "axes.handlers.cache.AxesCacheHandler"
AXES_CACHE = "default"
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_LOCKOUT_SECONDS)
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]  # either one reaching the limit locks
AXES_RESET_ON_SUCCESS = False  # a valid account must not reset its owner's address counter
AXES_CLIENT_IP_CALLABLE = "config.security.login_client_ip"
AXES_LOCKOUT_CALLABLE = "config.security.login_locked_out"
AXES_VERBOSE = False

# Content-Security-Policy (django-csp) on every response; Swagger UI and GraphiQL get their
# own additions in config/urls.py. No inline script anywhere.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        # The one inline style anything inserts: Cytoscape.js's container rule, allowed by its hash
        # (".__________cytoscape_container { position: relative; }").
        "style-src": ["'self'", "'sha256-pgvDUBa4IjFA2yuSJ2cqcyxmNYJMborsd0ORcRv9vw8='"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'none'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# DJANGO_HTTPS=1 for deployments served over HTTPS (TLS ends at nginx, which sets
# X-Forwarded-Proto): Secure cookies, HSTS, and request.is_secure() from that header.
HTTPS = env_bool("DJANGO_HTTPS", False)
SESSION_COOKIE_SECURE = HTTPS
CSRF_COOKIE_SECURE = HTTPS
SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 31536000) if HTTPS else 0
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if HTTPS else None
SECURE_CONTENT_TYPE_NOSNIFF = True

# --- Logging: one JSON object a line -------------------------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"json": {"()": "config.logging.JsonFormatter"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "json"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"neo4j": {"level": "WARNING"}, "django.db.backends": {"level": "WARNING"}},
}
