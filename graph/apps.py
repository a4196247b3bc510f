from django.apps import AppConfig


class GraphConfig(AppConfig):
    name = "graph"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from core.events import changed
        from graph.health import register_checks
        from graph.receivers import project_on_change

        register_checks()
        changed.connect(project_on_change, dispatch_uid="graph.project_on_change")
