"""The bot's Prometheus series, in one place so every module counts into the same names.

Module-level objects on a registry of the bot's own (not prometheus_client's global one, which also carries the
process collectors of whatever imported it first): the health server serves exactly this registry on /metrics.
Labels are small closed sets (models from the table, outcomes, kinds): never a user, channel or task id.
"""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.process_collector import ProcessCollector

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

# From accepted to its final state (delivered, failed, denied), by model and outcome.
RENDER_SECONDS = Histogram(
    "videobot_render_duration_seconds",
    "Seconds from a render's acceptance to its final state.",
    ("model", "outcome"),
    buckets=(30, 60, 120, 180, 300, 600, 900, 1800, 3600, 7200, 21600, 86400),
    registry=REGISTRY,
)
# One per call the video API answered or failed: call is create/status/download/content/models.
API_CALLS = Counter(
    "videobot_api_calls_total",
    "Calls to the video API, by call and outcome (ok or the error kind).",
    ("call", "outcome"),
    registry=REGISTRY,
)
# From acceptance to the moment the bot's own queue let the render go to the API (approval holds included).
QUEUE_WAIT_SECONDS = Histogram(
    "videobot_queue_wait_seconds",
    "Seconds a render waited before it was sent to the API, by model.",
    ("model",),
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 7200),
    registry=REGISTRY,
)
REFUNDS = Counter(
    "videobot_refunds_total",
    "Renders whose credits were given back, by failure kind.",
    ("reason",),
    registry=REGISTRY,
)
REFUNDED_CREDITS = Counter(
    "videobot_refunded_credits_total",
    "Credits given back to members.",
    registry=REGISTRY,
)
RENDERS_BY_STATE = Gauge(
    "videobot_renders",
    "Renders not yet closed, by state (read from the database at scrape time).",
    ("state",),
    registry=REGISTRY,
)
# The sum of the above, kept under the name dashboards used before the series by state existed.
RENDERS_OPEN = Gauge(
    "videobot_renders_open",
    "Renders not finished (including those awaiting delivery or approval), read from the database at scrape time.",
    registry=REGISTRY,
)
# Discord answers the bot will try again: kind is transient (5xx, 429, network) or permission (403, waiting for a
# moderator); give-ups are the final answers after which a fallback or a visible final state follows.
DISCORD_RETRIES = Counter(
    "videobot_discord_retries_total",
    "Discord calls that failed and will be tried again, by kind of failure.",
    ("kind",),
    registry=REGISTRY,
)
DISCORD_GIVE_UPS = Counter(
    "videobot_discord_give_ups_total",
    "Discord calls given up on (fallback or final state), by kind of failure.",
    ("kind",),
    registry=REGISTRY,
)
TRACKER_SLOTS_IN_USE = Gauge(
    "videobot_tracker_slots_in_use",
    "Tracker slots busy right now, by lane (poll, work).",
    ("lane",),
    registry=REGISTRY,
)
TRACKER_SLOTS = Gauge(
    "videobot_tracker_slots",
    "Tracker slots in all, by lane (poll, work).",
    ("lane",),
    registry=REGISTRY,
)
STATUS_CALLS = Counter(
    "videobot_status_calls_total",
    "Status calls made to the video API by this process.",
    registry=REGISTRY,
)
STATUS_CALLS_WAITING = Gauge(
    "videobot_status_calls_waiting",
    "Polls waiting for the status-call cap right now.",
    registry=REGISTRY,
)
GUILDS = Gauge("videobot_guilds", "Guilds this process serves.", registry=REGISTRY)
GATEWAY_LATENCY = Gauge(
    "videobot_gateway_latency_seconds", "Heartbeat latency to the Discord gateway.", registry=REGISTRY
)
