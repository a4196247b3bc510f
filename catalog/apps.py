from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "catalog"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from catalog.receivers import forget_team_keys
        from core.events import changed

        changed.connect(forget_team_keys, dispatch_uid="catalog.forget_team_keys")
