"""Saving and locking rows the same way in every app's services."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError

from core.errors import Conflict, InvalidInput


def validated_save(obj) -> None:
    """full_clean then save; a racing duplicate becomes the same 400 a sequential one gets."""
    try:
        obj.full_clean()
        obj.save()
    except ValidationError as exc:
        raise InvalidInput.from_django(exc) from exc
    except IntegrityError as exc:
        raise Conflict("That object already exists.", code="duplicate") from exc


def locked(queryset, pk):
    """Re-read one row under a row lock (PostgreSQL ``SELECT ... FOR UPDATE``); SQLite runs
    IMMEDIATE transactions, so the whole database is the lock there. Call inside a transaction."""
    return queryset.select_for_update().get(pk=pk)
