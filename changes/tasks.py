"""Celery tasks: thin wrappers around changes.services. Acknowledged late (settings), so a
worker killed mid-delivery has its task handed out again; the sweeper heals anything else."""

from celery import shared_task

from changes import lifecycle, services


@shared_task(name="changes.tasks.webhook_drain_task", ignore_result=True)
def webhook_drain_task(webhook_id: int) -> int:
    return services.webhook_drain(webhook_id)


@shared_task(name="changes.tasks.webhook_sweep_task", ignore_result=True)
def webhook_sweep_task() -> int:
    return services.webhook_sweep()


@shared_task(name="changes.tasks.edge_history_rollup_task", ignore_result=True)
def edge_history_rollup_task() -> dict:
    return services.history_rollup()


@shared_task(name="changes.tasks.slo_evaluate_task", ignore_result=True)
def slo_evaluate_task(services_: list[str] | None = None) -> dict:
    """Beat (every minute: every API with an availability target) and after each history
    append (the callees just observed)."""
    return services.slo_evaluate(services=services_)


@shared_task(name="changes.tasks.key_expiry_warn_task", ignore_result=True)
def key_expiry_warn_task() -> int:
    return services.key_expiry_warn()


@shared_task(name="changes.tasks.regression_detect_task", ignore_result=True)
def regression_detect_task() -> int:
    from changes.regressions import regressions_detect

    return regressions_detect()


# The name predates this module (the beat row of catalog/migrations/0010 stores it).
@shared_task(name="changes.lifecycle.api_sunset_notices_task", ignore_result=True)
def api_sunset_notices_task() -> dict:
    """Beat (``api-sunset-notices``, hourly): the due sunset notices."""
    return lifecycle.sunset_notices()
