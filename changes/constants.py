"""Event types (the public vocabulary of the event log and webhooks)."""

from datetime import UTC, datetime, timedelta

# Catalog audit actions that are changes worth an event, and the event type each becomes.
AUDIT_EVENT_TYPES = {
    "org.create": "org.created",
    "org.update": "org.updated",
    "team.create": "team.created",
    "team.update": "team.updated",
    "team.delete": "team.deleted",
    "member.add": "member.added",
    "member.remove": "member.removed",
    "service.create": "service.created",
    "service.update": "service.updated",
    "service.transfer": "service.transferred",
    "service.delete": "service.deleted",
    "service.consumes": "service.consumes_changed",
    "api.create": "api.created",
    "api.update": "api.updated",
    "api.delete": "api.deleted",
    "key.issue": "key.issued",
    "key.request": "key.requested",
    "key.approve": "key.issued",  # an approved request is a key issued
    "key.reject": "key.rejected",
    "key.revoke": "key.revoked",
    "key.rotate": "key.rotated",
    "key.expiry": "key.expiry_changed",
    "key.limits": "key.limits_changed",
    "api.undeprecate": "api.deprecation_withdrawn",
}
# API lifecycle (issue 15, changes/lifecycle.py): one event per consumer team and the provider's.
API_DEPRECATED, API_SUNSET_APPROACHING, API_SUNSET = "api.deprecated", "api.sunset_approaching", "api.sunset"
API_BREAKING_CHANGE = "api.breaking_change"
API_LIFECYCLE_EVENT_TYPES = (API_DEPRECATED, API_SUNSET_APPROACHING, API_SUNSET, API_BREAKING_CHANGE)

# Edge changes the graph announces (graph.signals.edges_changed), and the event type each becomes.
EDGE_EVENT_TYPES = {"appeared": "edge.appeared", "stale": "edge.stale", "disappeared": "edge.disappeared"}

EVENT_TYPES = frozenset(
    {
        *AUDIT_EVENT_TYPES.values(),
        "deploy.recorded",
        "deploy.updated",
        "deploy_key.issued",
        "deploy_key.revoked",
        "crawl.failed",
        "webhook.disabled",
        "slo.burn_alert",
        "slo.recovered",
        "key.expiring",
        "limit.reached",
        *EDGE_EVENT_TYPES.values(),
        *API_LIFECYCLE_EVENT_TYPES,
        "regression.detected",
        "scorecard.level_dropped",  # scorecards (issue 15): a service fell a level
    }
)
ALL_TYPES = "*"

DEPLOY_STATUSES = ("started", "succeeded", "failed", "rolled_back")

# A deploy's times: none before this, none more than a clock's skew ahead of the server's now
# (a pipeline's clock may run ahead; a year 9999 breaks the regression windows after it).
DEPLOY_EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
DEPLOY_CLOCK_SKEW = timedelta(days=1)
