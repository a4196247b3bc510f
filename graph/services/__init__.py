"""Writes to the graph, by sub-domain: the catalog projection (``projection``), observed
call edges and their aging (``edges``), crawl runs and their configuration (``crawls``).
Callers use ``graph.services.<name>``; the sub-modules are where each rule lives."""

from core.errors import Conflict, ServiceUnavailable
from graph.services.backends import metrics_backend_create, metrics_backend_delete, metrics_backend_update
from graph.services.crawls import (
    CRAWL_LOCK_KEY,
    CRAWL_LOCK_SECONDS,
    catalog_index,
    crawl_chunk,
    crawl_finish,
    crawl_inline,
    crawl_lock_release,
    crawl_lock_take,
    crawl_plan,
    crawl_schedule_set,
    crawl_start,
    progress_add,
    progress_get,
    run_targets,
    tracing_source_save,
)
from graph.services.edges import edges_age, edges_merge, now_ms
from graph.services.otlp import ingest_key_issue, ingest_key_revoke, otlp_drain, otlp_receive, otlp_settle
from graph.services.projection import graph_init, graph_sync, graph_wipe, project

__all__ = [
    "CRAWL_LOCK_KEY",
    "CRAWL_LOCK_SECONDS",
    "Conflict",
    "ServiceUnavailable",
    "catalog_index",
    "crawl_chunk",
    "crawl_finish",
    "crawl_inline",
    "crawl_lock_release",
    "crawl_lock_take",
    "crawl_plan",
    "crawl_schedule_set",
    "crawl_start",
    "edges_age",
    "edges_merge",
    "graph_init",
    "graph_sync",
    "graph_wipe",
    "ingest_key_issue",
    "ingest_key_revoke",
    "metrics_backend_create",
    "metrics_backend_delete",
    "metrics_backend_update",
    "now_ms",
    "otlp_drain",
    "otlp_receive",
    "otlp_settle",
    "progress_add",
    "progress_get",
    "project",
    "run_targets",
    "tracing_source_save",
]
