from django.apps import AppConfig


class ChangesConfig(AppConfig):
    """Change over time (issue 14): deploys, the event log and webhooks. Sits above graph and
    below portal; it listens to the layers below (audit records, crawl runs) and never the
    other way round."""

    name = "changes"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from changes import receivers

        receivers.connect()
