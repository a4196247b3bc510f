from celery import shared_task

from catalog import services


@shared_task(acks_late=True)
def key_usage_flush_task() -> int:
    return services.key_usage_flush()
