from django.apps import AppConfig


class DevtoolsConfig(AppConfig):
    """Development tools (the simulated fleet and its ``manage.py fleet``): used by
    ``make run``, the tests and the benchmarks; nothing in the product imports them."""

    name = "devtools"
    default_auto_field = "django.db.models.BigAutoField"
