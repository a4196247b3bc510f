"""The one Celery app. Settings come from Django settings under the CELERY_ namespace."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("switchboard")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


def enqueue(task, *args, **kwargs) -> bool:
    """Send a task without blocking the caller when the broker is down: the write that
    triggered it has committed already, and the periodic full sync heals what is missed."""
    import logging

    from kombu.exceptions import OperationalError

    try:
        task.apply_async(args=args, kwargs=kwargs, retry=False)
        return True
    except (OperationalError, OSError) as exc:
        logging.getLogger(__name__).warning("could not enqueue %s: %s", task.name, exc)
        return False
