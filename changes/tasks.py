"""Celery tasks: thin wrappers around changes.services. Acknowledged late (settings), so a
worker killed mid-delivery has its task handed out again; the sweeper heals anything else."""

from celery import shared_task

from changes import services


@shared_task(name="changes.tasks.webhook_drain_task", ignore_result=True)
def webhook_drain_task(webhook_id: int) -> int:
    return services.webhook_drain(webhook_id)


@shared_task(name="changes.tasks.webhook_sweep_task", ignore_result=True)
def webhook_sweep_task() -> int:
    return services.webhook_sweep()


@shared_task(name="changes.tasks.edge_history_rollup_task", ignore_result=True)
def edge_history_rollup_task() -> dict:
    return services.history_rollup()
