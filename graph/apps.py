from django.apps import AppConfig


class GraphConfig(AppConfig):
    name = "graph"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from core import observed
        from core.events import changed
        from graph.health import register_checks
        from graph.receivers import project_on_change
        from graph.selectors import calls_observed

        register_checks()
        changed.connect(project_on_change, dispatch_uid="graph.project_on_change")
        observed.answer_calls(calls_observed)
