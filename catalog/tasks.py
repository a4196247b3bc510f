from celery import shared_task

from catalog import services


@shared_task(acks_late=True)
def key_usage_flush_task() -> int:
    return services.key_usage_flush()


@shared_task(acks_late=True)
def location_refresh_task(run_id: int) -> str:
    run = services.location_refresh_run(run_id)
    return run.status if run is not None else "gone"


@shared_task
def locations_refresh_due() -> int:
    return services.locations_refresh_due()


@shared_task
def orphans_sweep() -> dict:
    return services.orphans_sweep()
