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


def validated_create_many(model, objs: list) -> list:
    """``validated_save`` for many new objects of one model, the one way services create rows:
    each object passes the same checks as ``full_clean`` (field validators, choices, required
    fields, foreign keys that exist, unique fields and unique constraints, within the batch too),
    with the checks that read the database done once per batch instead of once per object; then
    one INSERT per 500 rows (primary keys are set). The first invalid object raises what
    ``validated_save`` raises for it, and nothing is written."""
    from django.db.models import UniqueConstraint

    if not objs:
        return objs
    meta = model._meta
    fks = [f for f in meta.concrete_fields if f.many_to_one or f.one_to_one]
    uniques = [f for f in meta.concrete_fields if f.unique and not f.primary_key and f not in fks]
    simple = [
        c
        for c in meta.constraints
        if isinstance(c, UniqueConstraint) and c.fields and c.condition is None and not c.expressions
    ]
    others = [c for c in meta.constraints if c not in simple]
    checked_apart = [f.name for f in fks]
    try:
        for obj in objs:  # no query: the database checks follow, batched
            obj.full_clean(exclude=checked_apart, validate_unique=False, validate_constraints=False)
            for f in fks:  # required, as full_clean says it; existence below
                if getattr(obj, f.attname) is None:
                    f.validate(None, obj)
        for f in fks:
            values = {getattr(o, f.attname) for o in objs} - {None}
            target = f.target_field.attname
            found = set(
                f.remote_field.model._base_manager.filter(**{f"{target}__in": values}).values_list(target, flat=True)
            )
            for obj in objs:
                value = getattr(obj, f.attname)
                if value is not None and value not in found:
                    f.validate(value, obj)  # raises Django's own "does not exist"
        for f in uniques:
            values = [getattr(o, f.attname) for o in objs if getattr(o, f.attname) is not None]
            taken = set()
            for start in range(0, len(values), 500):
                chunk = values[start : start + 500]
                taken |= set(
                    model._default_manager.filter(**{f"{f.attname}__in": chunk}).values_list(f.attname, flat=True)
                )
            seen = set()
            for obj in objs:
                value = getattr(obj, f.attname)
                if value is None:
                    continue
                if value in taken or value in seen:
                    raise ValidationError({f.name: [obj.unique_error_message(model, (f.name,))]})
                seen.add(value)
        for c in simple:
            names = [meta.get_field(n).attname for n in c.fields]
            keys = [tuple(getattr(o, n) for n in names) for o in objs]
            first = {k[0] for k in keys}
            taken = set(model._default_manager.filter(**{f"{names[0]}__in": first}).values_list(*names))
            seen = set()
            for obj, key in zip(objs, keys, strict=True):
                if key in taken or key in seen:
                    c.validate(model, obj)  # Django's own message when the row is in the table
                    raise ValidationError(c.get_violation_error_message())
                seen.add(key)
        for c in others:
            for obj in objs:
                c.validate(model, obj)
    except ValidationError as exc:
        raise InvalidInput.from_django(exc) from exc
    try:
        return model._default_manager.bulk_create(objs, batch_size=500)
    except IntegrityError as exc:
        raise Conflict("That object already exists.", code="duplicate") from exc
