"""Settings for GPT Image Hub: one module, driven by environment variables.

Every variable has a working embedded default (SQLite, local media, a broker that
needs no server, the local image renderer), so `manage.py runserver` works on a
fresh machine. Production sets DATABASE_URL, REDIS_URL, the AWS_* storage
variables and OPENAI_API_KEY; secrets have no production default.
"""

import os
from decimal import Decimal
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from gih.logs import logging_config

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)


def envbool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def envint(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def envlist(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in env(name, default).split(",") if item.strip()]


# --- Core -----------------------------------------------------------------

DEBUG = envbool("DEBUG", True)
_DEV_SECRET_KEY = "dev-only-insecure-key-do-not-use-in-production"  # noqa: S105 (refused when DEBUG is off)
SECRET_KEY = env("SECRET_KEY", _DEV_SECRET_KEY if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 32):
    raise ImproperlyConfigured("SECRET_KEY must be set to a random string of 32+ characters when DEBUG is off.")

# API keys are stored as HMAC-SHA256 digests keyed with this pepper. Keep it stable:
# rotating it invalidates every issued key. Defaults to SECRET_KEY.
API_KEY_PEPPER = env("API_KEY_PEPPER", SECRET_KEY)

ALLOWED_HOSTS = envlist("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1],testserver" if DEBUG else "")
CSRF_TRUSTED_ORIGINS = envlist("CSRF_TRUSTED_ORIGINS")
CSRF_FAILURE_VIEW = "gih.errors.csrf_failure"  # the API faces answer JSON, never Django's HTML page
SITE_NAME = env("SITE_NAME", "GPT Image Hub")

INSTALLED_APPS = [
    "gih.apps.AdminConfig",  # django.contrib.admin with the hub's site (gih/admin_site.py)
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "rest_framework",
    "django_prometheus",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from our static files (no CDN)
    "accounts",
    "billing",
    "generations",
]

MIDDLEWARE = [
    # django-prometheus times each request between its Before (first) and After (last) middleware.
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # First: every response, refusals and errors included, echoes the request id (gih/logs.py).
    "gih.logs.RequestIdMiddleware",
    # Before anything costly: one client's flood waits here, not in the event loop (gih/fair_share.py).
    "gih.fair_share.FairShareMiddleware",
    # A chunked request body, read within the client's share (and not at all for an API call without a key).
    "gih.chunked.ChunkedBodyMiddleware",
    # Before SecurityMiddleware, so a plain-HTTP API call is refused rather than redirected.
    "gih.https.ApiHttpsOnlyMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "gih.errors.ApiErrorMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # After authentication: a signed-in user's saved language wins over cookie and browser.
    "gih.locale.LocaleMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "gih.urls"
WSGI_APPLICATION = "gih.wsgi.application"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "accounts:home"
LOGOUT_REDIRECT_URL = "accounts:login"

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
                "django.template.context_processors.i18n",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------

# Local state of this checkout/host: SQLite, local media, the filesystem broker, beat's schedule file.
VAR_DIR = Path(env("GIH_VAR_DIR", str(BASE_DIR / "var")))
try:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
except OSError:  # a read-only image that keeps all its state in Postgres, Redis and S3
    pass
DATABASE_URL = env("DATABASE_URL")
if DATABASE_URL:
    # Health checks: the pool tests a connection when it is handed out, so connections that
    # died in a Postgres restart are replaced instead of failing the next request (one
    # empty round trip per checkout).
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=0, conn_health_checks=envbool("DB_POOL_CHECK", True))
    if _db["ENGINE"] == "django.db.backends.postgresql" and envbool("DB_POOL", True):
        # psycopg's pool: connections are borrowed per request and returned as soon
        # as Django closes them, which the generation flow does before calling a
        # provider, so hundreds of in-flight generations share a few connections.
        _db.setdefault("OPTIONS", {})["pool"] = {
            "min_size": envint("DB_POOL_MIN_SIZE", 2),
            "max_size": envint("DB_POOL_MAX_SIZE", 20),
            "timeout": envint("DB_POOL_TIMEOUT", 30),
        }
    if _db["ENGINE"] == "django.db.backends.postgresql" and envbool("DB_PREPARED_STATEMENTS", True):
        # Parameters bound by the server, and each statement prepared on its connection from its
        # second run on: Postgres then skips parsing and planning the queries every request repeats
        # (bench/RESULTS.md). Django's default is off for PgBouncer in transaction mode, which
        # needs max_prepared_statements (1.21+) or DB_PREPARED_STATEMENTS=false.
        _db.setdefault("OPTIONS", {}).update(server_side_binding=True, prepare_threshold=1)
    DATABASES = {"default": _db}
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "db.sqlite3",
            # IMMEDIATE takes the write lock at BEGIN, so two charges cannot both
            # read a balance and then both write (SQLite has no SELECT FOR UPDATE).
            "OPTIONS": {
                "transaction_mode": "IMMEDIATE",
                "timeout": 30,
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
            },
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# A charge waits at most this long for its account's lock (held by the same account's other
# requests), then answers 503 account_busy with Retry-After instead of piling up.
ACCOUNT_LOCK_TIMEOUT_MS = envint("ACCOUNT_LOCK_TIMEOUT_MS", 3000)
# Per process: at most this many charges of one account run at once (each holds a pooled
# connection); its other requests wait up to ACCOUNT_SLOT_WAIT_SECONDS without one, then 503.
ACCOUNT_MAX_CONCURRENT_CHARGES = envint("ACCOUNT_MAX_CONCURRENT_CHARGES", 4)
ACCOUNT_SLOT_WAIT_SECONDS = float(env("ACCOUNT_SLOT_WAIT_SECONDS", "10"))
# Per process: at most this many requests of one client (a verified key's user, else an address)
# run at once; its others wait up to FAIR_SHARE_WAIT_SECONDS, then 429 (gih/fair_share.py). 0: off.
FAIR_SHARE_CONCURRENCY = envint("FAIR_SHARE_CONCURRENCY", 2)
FAIR_SHARE_WAIT_SECONDS = float(env("FAIR_SHARE_WAIT_SECONDS", "10"))
# The final write of a finished generation retries on a fresh connection this long when
# the database went away (a restart or failover; see gih/db.py).
DB_WRITE_RETRY_SECONDS = envint("DB_WRITE_RETRY_SECONDS", 30)

# --- Cache ----------------------------------------------------------------

REDIS_URL = env("REDIS_URL")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- Auth -----------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Django's default hashers, PBKDF2 running off the gevent event loop (gih/hashers.py).
PASSWORD_HASHERS = [
    "gih.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
# Real threads per process for CPU-heavy work (password hashing, image checks): gih/offload.py.
OFFLOAD_THREADS = envint("OFFLOAD_THREADS", max(2, os.cpu_count() or 2))
# Log-in attempts per window (accounts/login_throttle.py): per client address and email, and per address.
LOGIN_THROTTLE_ATTEMPTS = envint("LOGIN_THROTTLE_ATTEMPTS", 5)
LOGIN_THROTTLE_ADDRESS_ATTEMPTS = envint("LOGIN_THROTTLE_ADDRESS_ATTEMPTS", 50)
LOGIN_THROTTLE_WINDOW_SECONDS = envint("LOGIN_THROTTLE_WINDOW_SECONDS", 300)
# Where the counts live: Redis, shared by every process (falls back to per-process memory while it is down).
LOGIN_THROTTLE_STORAGE_URL = env("LOGIN_THROTTLE_STORAGE_URL", REDIS_URL or "memory://")
# A key's rate_limit_per_minute counts in a moving window of this many seconds (accounts/ratelimit.py); the
# counts live in Redis, shared by every process (per-process memory without Redis, or while it is down).
API_RATE_LIMIT_WINDOW_SECONDS = envint("API_RATE_LIMIT_WINDOW_SECONDS", 60)
API_RATE_LIMIT_STORAGE_URL = env("API_RATE_LIMIT_STORAGE_URL", REDIS_URL or "memory://")

# --- Static and media -----------------------------------------------------

STATIC_URL = "/static/"
# Filled by `collectstatic` (the Procfile's release step); WhiteNoise serves it.
STATIC_ROOT = Path(env("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = env("MEDIA_URL", "/media/")
MEDIA_ROOT = Path(env("MEDIA_ROOT", str(VAR_DIR / "media")))

AWS_STORAGE_BUCKET_NAME = env("AWS_STORAGE_BUCKET_NAME")
if AWS_STORAGE_BUCKET_NAME:
    # django-storages reads these names from settings; we only pass them through.
    AWS_S3_ENDPOINT_URL = env("AWS_S3_ENDPOINT_URL") or None
    AWS_S3_CUSTOM_DOMAIN = env("AWS_S3_CUSTOM_DOMAIN") or None
    AWS_S3_REGION_NAME = env("AWS_S3_REGION_NAME") or None
    AWS_QUERYSTRING_AUTH = envbool("AWS_QUERYSTRING_AUTH", True)
    AWS_QUERYSTRING_EXPIRE = envint("AWS_QUERYSTRING_EXPIRE", 7 * 24 * 3600)
    AWS_LOCATION = env("AWS_LOCATION")
    AWS_DEFAULT_ACL = env("AWS_DEFAULT_ACL") or None
    # Every key the hub writes ends in a random token, so a name is never taken: skip
    # django-storages' existence check (a HEAD request per image) before each upload.
    AWS_S3_FILE_OVERWRITE = True
    AWS_S3_OBJECT_PARAMETERS = {"CacheControl": "public, max-age=31536000, immutable"}
    # django-storages' backend with one boto3 connection per process instead of per greenlet.
    _default_storage = {"BACKEND": "gih.storage.S3Storage"}
else:
    _default_storage = {"BACKEND": "django.core.files.storage.FileSystemStorage"}
# Serve local media from the app itself when no object store is configured.
SERVE_MEDIA = not AWS_STORAGE_BUCKET_NAME
STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Request bodies: JSON is small; multipart carries up to reference_image_limit
# files of at most 50 MB each. Bigger bodies are refused with 413 before parsing.
MAX_REFERENCE_IMAGE_BYTES = envint("MAX_REFERENCE_IMAGE_BYTES", 50 * 1024 * 1024)
MAX_REFERENCE_IMAGE_PIXELS = envint("MAX_REFERENCE_IMAGE_PIXELS", 64_000_000)
API_MAX_BODY_BYTES = envint("API_MAX_BODY_BYTES", 256 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = envint("DATA_UPLOAD_MAX_MEMORY_SIZE", 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# --- Image providers ------------------------------------------------------

OPENAI_API_KEY = env("OPENAI_API_KEY")
OPENAI_BASE_URL = env("OPENAI_BASE_URL", "https://api.openai.com/v1").rstrip("/")
OPENAI_ORGANIZATION = env("OPENAI_ORGANIZATION")
# `local` renders every model with the embedded Pillow renderer (demo, development);
# `openai` sends each model to its own provider. Unset: openai when a key is set.
IMAGE_PROVIDER = env("IMAGE_PROVIDER", "openai" if OPENAI_API_KEY else "local")
if IMAGE_PROVIDER not in {"openai", "local"}:
    raise ImproperlyConfigured("IMAGE_PROVIDER must be 'openai' or 'local'.")
if IMAGE_PROVIDER == "openai" and not OPENAI_API_KEY:
    # Never fall back to fake images when a real provider was asked for.
    raise ImproperlyConfigured("IMAGE_PROVIDER=openai needs OPENAI_API_KEY.")
LOCAL_PROVIDER_DELAY_SECONDS = float(env("LOCAL_PROVIDER_DELAY_SECONDS", "0"))
PROVIDER_CONNECT_TIMEOUT_SECONDS = float(env("PROVIDER_CONNECT_TIMEOUT_SECONDS", "10"))
# The longest a synchronous generation may take (the docs promise up to 800 s).
GENERATION_TIMEOUT_SECONDS = envint("GENERATION_TIMEOUT_SECONDS", 800)
# A streamed generation sends an SSE comment this often while it waits, so proxies with an
# idle limit (often 100 s) never see a silent connection.
STREAM_KEEPALIVE_SECONDS = float(env("STREAM_KEEPALIVE_SECONDS", "15"))
# Generations still queued/running this long after creation are failed and refunded.
GENERATION_STUCK_AFTER_SECONDS = envint("GENERATION_STUCK_AFTER_SECONDS", GENERATION_TIMEOUT_SECONDS + 300)
MAX_PROMPT_LENGTH = envint("MAX_PROMPT_LENGTH", 32000)
# How stale another process' edit of a model or price may be here: each process compares its catalogue's
# version with the shared one at most this often (generations/catalogue.py). 0: on every request.
CATALOGUE_RECHECK_SECONDS = float(env("CATALOGUE_RECHECK_SECONDS", "1"))

# --- Celery ---------------------------------------------------------------

# Credits refunded after their batch expired (during the generation) come back in a fresh
# batch lasting this many days (billing.services.credits_refund).
CREDIT_REFUND_GRACE_DAYS = envint("CREDIT_REFUND_GRACE_DAYS", 7)

CELERY_BROKER_URL = env("CELERY_BROKER_URL", REDIS_URL or "filesystem://")
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
# Long tasks: acknowledge only after the task finished, take one at a time, and
# requeue a task whose worker died, so a SIGKILL leads to redelivery, not loss.
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# After a broker reconnect with tasks in flight, Celery cuts the prefetch count "to avoid
# over-fetching" and restores it as tasks finish. With the gevent pool it computes the cap
# from the greenlets *running* (not the pool size), so it settles at ~1; and the gevent
# pool's loop sends acknowledgements only between 2 s broker waits, so the worker took one
# job every 2 s until restarted (generations/tests/test_fault_redis.py). Off: it keeps its full prefetch.
CELERY_WORKER_ENABLE_PREFETCH_COUNT_REDUCTION = False
# Past the provider's own timeout, the soft limit interrupts a task that is still stuck
# (recorded as a `timeout` failure and refunded); the hard limit kills it a grace later.
# Celery's gevent pool (the Procfile's) has only the hard limit: the reaper then fails
# and refunds the generation (GENERATION_STUCK_AFTER_SECONDS).
GENERATION_TASK_GRACE_SECONDS = envint("GENERATION_TASK_GRACE_SECONDS", 30)
CELERY_TASK_SOFT_TIME_LIMIT = GENERATION_TIMEOUT_SECONDS + GENERATION_TASK_GRACE_SECONDS
CELERY_TASK_TIME_LIMIT = GENERATION_TIMEOUT_SECONDS + 2 * GENERATION_TASK_GRACE_SECONDS
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# The worker logs through LOGGING (gih/logs.py: JSON lines with the request id), not Celery's own format.
CELERY_WORKER_HIJACK_ROOT_LOGGER = False
# A running generation refreshes its heartbeat this often; one silent for three beats
# lost its process. The recovery sweep (generations/recovery.py, every
# GENERATION_RECOVERY_INTERVAL_SECONDS in beat) then re-queues it for a takeover
# (generations.attempts.claim) or fails and refunds it: terminal within ~2 minutes. At most
# GENERATION_MAX_ATTEMPTS runs in all (a request that kills every worker must stop somewhere).
GENERATION_HEARTBEAT_SECONDS = envint("GENERATION_HEARTBEAT_SECONDS", 15)
GENERATION_HEARTBEAT_STALE_SECONDS = envint("GENERATION_HEARTBEAT_STALE_SECONDS", 3 * GENERATION_HEARTBEAT_SECONDS)
GENERATION_MAX_ATTEMPTS = envint("GENERATION_MAX_ATTEMPTS", 3)
if GENERATION_HEARTBEAT_STALE_SECONDS < 2 * GENERATION_HEARTBEAT_SECONDS:
    # Closer than that, one late beat makes a live attempt look dead and it runs twice.
    raise ImproperlyConfigured("GENERATION_HEARTBEAT_STALE_SECONDS must be at least 2 x GENERATION_HEARTBEAT_SECONDS.")
GENERATION_RECOVERY_INTERVAL_SECONDS = envint("GENERATION_RECOVERY_INTERVAL_SECONDS", 30)
if GENERATION_STUCK_AFTER_SECONDS <= CELERY_TASK_TIME_LIMIT:
    # The reaper would fail (and refund) generations whose task may still legitimately run.
    raise ImproperlyConfigured("GENERATION_STUCK_AFTER_SECONDS must exceed the task time limit (timeout + 2 x grace).")
# An async submit publishes inside the API request, so a dead broker must cost the
# client seconds, not minutes, before its 503. Measured worst cases with these
# values: a refused port fails at once; a black-holed host takes two 1 s connect
# attempts (~2 s); a server that accepts but never answers takes one 3 s read.
# (redis-py's defaults have no socket timeouts: a hung broker would hold the request forever.)
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY = True
CELERY_TASK_PUBLISH_RETRY_POLICY = {"max_retries": 1, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}
_VISIBILITY_TIMEOUT = envint("CELERY_VISIBILITY_TIMEOUT", CELERY_TASK_TIME_LIMIT + 60)
if _VISIBILITY_TIMEOUT <= CELERY_TASK_TIME_LIMIT:
    raise ImproperlyConfigured("CELERY_VISIBILITY_TIMEOUT must exceed the task time limit (timeout + 2 x grace).")
CELERY_BROKER_TRANSPORT_OPTIONS = {
    # Redis redelivers unacknowledged tasks after this. It must outlive the longest task (a
    # live task redelivered early only waits: generations.attempts.claim) and stays below the
    # reaper's limit. A dead worker's jobs do not wait for it: the recovery sweep takes
    # them over within ~2 minutes; the redelivery that follows finds them done.
    "visibility_timeout": _VISIBILITY_TIMEOUT,
    # Connection attempts per publish (kombu's failover options) and redis-py socket
    # timeouts; the worker's long BRPOP is event-driven and unaffected by socket_timeout.
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
    "socket_connect_timeout": envint("CELERY_BROKER_CONNECT_TIMEOUT", 1),
    "socket_timeout": envint("CELERY_BROKER_SOCKET_TIMEOUT", 3),
}
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = VAR_DIR / "celery-queue"
    (_queue_dir / "processed").mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        "processed_folder": str(_queue_dir / "processed"),
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
# The dollar value of one credit, for the admin's revenue and margin figures (not a price anyone pays).
CREDIT_VALUE_USD = Decimal(env("CREDIT_VALUE_USD", "0.02"))
# Stored outputs and reference images are deleted this many days after they were made (0: kept
# forever); their rows stay, marked expired. Beat looks for them this often.
IMAGE_RETENTION_DAYS = envint("IMAGE_RETENTION_DAYS", 30)
IMAGE_RETENTION_SWEEP_SECONDS = envint("IMAGE_RETENTION_SWEEP_SECONDS", 3600)
# Beat's record of last runs: per checkout/host (GIH_VAR_DIR), not a /tmp file that several checkouts share.
CELERY_BEAT_SCHEDULE_FILENAME = str(VAR_DIR / "celerybeat-schedule")
CELERY_BEAT_SCHEDULE = {
    "expire-credit-batches": {"task": "billing.tasks.expire_credit_batches", "schedule": 60.0},
    "reap-stuck-generations": {"task": "generations.tasks.reap_stuck_generations", "schedule": 60.0},
    "expire-images": {"task": "generations.tasks.expire_images", "schedule": float(IMAGE_RETENTION_SWEEP_SECONDS)},
    "recover-orphaned-generations": {
        "task": "generations.tasks.recover_orphaned_generations",
        "schedule": float(GENERATION_RECOVERY_INTERVAL_SECONDS),
    },
    "sweep-webhook-deliveries": {
        "task": "generations.webhooks.tasks.sweep_webhook_deliveries",
        "schedule": float(envint("WEBHOOK_SWEEP_SECONDS", 60)),
    },
}
# Webhook deliveries run in their own worker process (the Procfile's `webhooks`), so a slow
# receiver never takes a generation worker's slot.
CELERY_TASK_ROUTES = {"generations.webhooks.tasks.*": {"queue": "webhooks"}}

# --- Webhooks (generations/webhooks/) ----------------------------------------

# Targets on loopback, private, link-local, multicast or reserved addresses: refused unless this is on.
WEBHOOK_ALLOW_PRIVATE_TARGETS = envbool("WEBHOOK_ALLOW_PRIVATE_TARGETS", DEBUG)
# Plain-http targets: refused unless this is off (by default, off only where private targets are allowed).
WEBHOOK_REQUIRE_HTTPS = envbool("WEBHOOK_REQUIRE_HTTPS", not WEBHOOK_ALLOW_PRIVATE_TARGETS)
# Signing secrets are stored encrypted under a key derived from this; changing it voids every endpoint's secret.
WEBHOOK_SECRET_KEY = env("WEBHOOK_SECRET_KEY", SECRET_KEY)
WEBHOOK_TIMEOUT_SECONDS = float(env("WEBHOOK_TIMEOUT_SECONDS", "10"))
# Seconds before each retry of an undelivered event (then it fails): ~5 s, 5 min, 30 min, 2 h, 5 h, 10 h.
WEBHOOK_RETRY_DELAYS = [int(delay) for delay in envlist("WEBHOOK_RETRY_DELAYS", "5,300,1800,7200,18000,36000")]
# Retries due within this many seconds are queued with a countdown (below the broker's visibility
# timeout); later ones are queued by the sweep, which runs every WEBHOOK_SWEEP_SECONDS.
WEBHOOK_COUNTDOWN_MAX_SECONDS = envint("WEBHOOK_COUNTDOWN_MAX_SECONDS", 600)
WEBHOOK_SWEEP_SECONDS = envint("WEBHOOK_SWEEP_SECONDS", 60)
WEBHOOK_MAX_ENDPOINTS = envint("WEBHOOK_MAX_ENDPOINTS", 10)

# --- REST framework -------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["accounts.authentication.ApiKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "gih.parsers.JSONParser",  # refuses over-deep bodies with a 400
        "rest_framework.parsers.MultiPartParser",
        "rest_framework.parsers.FormParser",
    ],
    "EXCEPTION_HANDLER": "gih.errors.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}

# The OpenAPI document of /api/v1 and /v1 (gih/openapi.py), served at /api/v1/openapi.json and /docs/reference/.
SPECTACULAR_SETTINGS = {
    "TITLE": "GPT Image Hub API",
    "DESCRIPTION": (
        "Image generation sold in credits. `/api/v1` is the hub's own API; `/v1` is OpenAI's Images API, exactly, "
        'for the official SDKs. Every error is an envelope: `{"error": {"message", "code"}}` on /api/v1, '
        'OpenAI\'s `{"error": {"message", "type", "param", "code"}}` on /v1.'
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_GENERATOR_CLASS": "gih.openapi.SchemaGenerator",
    "PREPROCESSING_HOOKS": ["gih.openapi.api_endpoints"],
    "POSTPROCESSING_HOOKS": ["drf_spectacular.hooks.postprocess_schema_enums", "gih.openapi.common_errors"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_GENERATE_CHOICE_DESCRIPTION": False,
}

# --- Money in: sign-up bonus, redemption codes, Stripe Checkout -------------

# A new sign-up gets this many credits once (0: none), expiring after this many days (0: never).
SIGNUP_BONUS_CREDITS = envint("SIGNUP_BONUS_CREDITS", 0)
SIGNUP_BONUS_EXPIRES_DAYS = envint("SIGNUP_BONUS_EXPIRES_DAYS", 0)
# Redemption codes are stored as HMAC digests keyed from this; changing it voids every unused code.
REDEMPTION_CODE_PEPPER = env("REDEMPTION_CODE_PEPPER", SECRET_KEY)
# Failed redemptions per user per window before 429 (counted in the cache: Redis, or per process without it).
REDEEM_FAILURE_LIMIT = envint("REDEEM_FAILURE_LIMIT", 10)
REDEEM_FAILURE_WINDOW_SECONDS = envint("REDEEM_FAILURE_WINDOW_SECONDS", 3600)
# Card top-ups through Stripe Checkout; unset, the Buy credits page offers redemption codes only.
STRIPE_SECRET_KEY = env("STRIPE_SECRET_KEY")
STRIPE_WEBHOOK_SECRET = env("STRIPE_WEBHOOK_SECRET")
STRIPE_API_BASE = env("STRIPE_API_BASE", "https://api.stripe.com").rstrip("/")
# Shown to users who want credits some other way (invoices, bank transfer, resellers).
SUPPORT_EMAIL = env("SUPPORT_EMAIL")

# --- Email ----------------------------------------------------------------

EMAIL_BACKEND = env("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = env("EMAIL_HOST", "localhost")
EMAIL_PORT = envint("EMAIL_PORT", 25)
EMAIL_HOST_USER = env("EMAIL_HOST_USER")
EMAIL_HOST_PASSWORD = env("EMAIL_HOST_PASSWORD")
EMAIL_USE_TLS = envbool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = env("DEFAULT_FROM_EMAIL", "GPT Image Hub <noreply@localhost>")

# --- Security behind a TLS proxy ------------------------------------------

if envbool("BEHIND_TLS_PROXY", not DEBUG):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
USE_X_FORWARDED_HOST = envbool("USE_X_FORWARDED_HOST", False)
# How many proxies of ours append to X-Forwarded-For (see gih/client_ip.py); 0 trusts none.
TRUSTED_PROXY_COUNT = envint("TRUSTED_PROXY_COUNT", 0)
# Or: addresses/CIDRs of our proxies; hops from these are skipped when finding the client.
TRUSTED_PROXIES = envlist("TRUSTED_PROXIES")
SECURE_SSL_REDIRECT = envbool("SECURE_SSL_REDIRECT", not DEBUG)
# API paths are never redirected (gih/https.py refuses plain HTTP there instead); probes are served as they come.
SECURE_REDIRECT_EXEMPT = [r"^api/", r"^api$", r"^v1/", r"^v1$", r"^healthz$", r"^readyz$", r"^metrics$"]
API_REQUIRE_HTTPS = envbool("API_REQUIRE_HTTPS", not DEBUG)
SESSION_COOKIE_SECURE = envbool("SESSION_COOKIE_SECURE", not DEBUG)
CSRF_COOKIE_SECURE = envbool("CSRF_COOKIE_SECURE", not DEBUG)
SECURE_HSTS_SECONDS = envint("SECURE_HSTS_SECONDS", 0 if DEBUG else 31536000)
SECURE_HSTS_INCLUDE_SUBDOMAINS = envbool("SECURE_HSTS_INCLUDE_SUBDOMAINS", not DEBUG)
SECURE_HSTS_PRELOAD = envbool("SECURE_HSTS_PRELOAD", not DEBUG)
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"

# --- I18N and logging -----------------------------------------------------

# The account area speaks these; the API always answers in English (clients parse codes,
# not text). Adding a language: README "Languages".
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文"), ("th", "ไทย")]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Our date formats per language (gih/formats/<lang>/formats.py), Django's for the rest.
FORMAT_MODULE_PATH = ["gih.formats"]
LANGUAGE_COOKIE_AGE = 365 * 24 * 3600
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

# /metrics (gih/metrics.py) answers only `Authorization: Bearer <METRICS_TOKEN>`; unset, it is a 404.
METRICS_TOKEN = env("METRICS_TOKEN")
# django-prometheus' request latency buckets (seconds): sync generations take up to GENERATION_TIMEOUT_SECONDS.
PROMETHEUS_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, float("inf"))
PROMETHEUS_EXPORT_MIGRATIONS = False

# One JSON object per line in production; readable lines for the demo (gih/logs.py).
LOG_LEVEL = env("LOG_LEVEL", "INFO")
LOG_FORMAT = env("LOG_FORMAT", "console" if DEBUG else "json")
LOGGING = logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT)
