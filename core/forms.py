"""Forms glue: one way for portal views to run a form through the service layer."""

from django.shortcuts import render

from core.errors import DomainError


def add_domain_error(form, exc: DomainError) -> None:
    """A refusal from the service layer becomes form errors, field by field."""
    placed = False
    for field, messages in exc.fields.items():
        for message in messages:
            if field in form.fields:
                form.add_error(field, message)
                placed = True
    if not placed:
        form.add_error(None, exc.detail)


def form_submit(request, form, action):
    """On a valid POST, call ``action(cleaned_data)`` (a service) and return its result;
    otherwise, or when the service refuses, None with the errors on the form."""
    if request.method != "POST" or not form.is_valid():
        return None
    try:
        return action(dict(form.cleaned_data))
    except DomainError as exc:
        add_domain_error(form, exc)
        return None


def form_page(request, form, title: str):
    """The generic form page; 400 when it shows errors."""
    return render(request, "form.html", {"form": form, "title": title}, status=400 if form.errors else 200)
