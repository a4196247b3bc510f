from django.apps import AppConfig


class ScorecardsConfig(AppConfig):
    """Scorecards (issue 15): named sets of built-in checks with levels, computed in bulk from the
    catalog, the graph and the edge history. Sits above changes and below portal; it listens to the
    layers below (core.events, graph signals, audit records) and nothing below imports it."""

    name = "scorecards"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from scorecards import receivers

        receivers.connect()
