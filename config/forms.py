"""Forms glue: a refusal from the service layer becomes form errors, field by field."""

from config.errors import DomainError


def add_domain_error(form, exc: DomainError) -> None:
    placed = False
    for field, messages in exc.fields.items():
        for message in messages:
            if field in form.fields:
                form.add_error(field, message)
                placed = True
    if not placed:
        form.add_error(None, exc.detail)
