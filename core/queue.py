"""Sending Celery tasks from any app without importing the Celery app (config/celery.py)."""

import logging

from kombu.exceptions import OperationalError

logger = logging.getLogger(__name__)


def enqueue(task, *args, **kwargs) -> bool:
    """Send a task without blocking the caller when the broker is down: the write that
    triggered it has committed already, and the periodic full sync heals what is missed."""
    try:
        task.apply_async(args=args, kwargs=kwargs, retry=False)
        return True
    except (OperationalError, OSError) as exc:
        logger.warning("could not enqueue %s: %s", task.name, exc)
        return False
