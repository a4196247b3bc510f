"""``/api/schema/``, built once per process."""

from django.core.signals import setting_changed
from django.dispatch import receiver
from drf_spectacular.views import SpectacularAPIView
from rest_framework.response import Response


class SchemaView(SpectacularAPIView):
    """``/api/schema/``: the OpenAPI document is the same for everyone allowed to read it
    (served public), so each process builds it once per API version instead of on every
    request (0.5-0.75 s of CPU each: twelve readers at once took 12 s). A settings change (tests)
    builds it again."""

    _built: dict = {}

    def _get_schema_response(self, request):
        version = self.api_version or request.version or self._get_version_parameter(request)
        built = self._built.get(version)
        if built is None:
            response = super()._get_schema_response(request)
            self._built[version] = (response.data, dict(response.items()))
            return response
        data, headers = built
        return Response(data=data, headers=headers)


@receiver(setting_changed)
def _schema_settings_changed(**kwargs):
    SchemaView._built.clear()
