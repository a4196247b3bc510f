"""The OpenAPI document's error responses, written in one place.

Every REST error leaves the API in one shape (``core.api.exception_handler``): a machine-readable
``code``, a human ``detail``, ``fields`` for invalid input and a few extras for some conflicts.
``AutoSchema`` documents that shape for each status an operation can answer with, derived from
what the operation is: signed-in only (401), a write or a view with its own permission (403),
query parameters or a body to validate (400), a path naming an object (404), a write that can
conflict with the catalog's state (409), a throttled view (429). A view with a special response
adds it with ``extend_schema``; a status it documents itself is left as it is.
"""

from drf_spectacular.openapi import AutoSchema as SpectacularAutoSchema
from drf_spectacular.utils import OpenApiResponse
from rest_framework import permissions, serializers

WRITE_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
PLAIN_PERMISSIONS = (permissions.AllowAny, permissions.IsAuthenticated)


class ErrorSerializer(serializers.Serializer):
    """The error shape of every REST response with a 4xx or 5xx status."""

    code = serializers.CharField(help_text="Machine-readable reason, e.g. `invalid`, `not_found`, `alias_taken`.")
    detail = serializers.CharField(help_text="What went wrong, for a human.")
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        required=False,
        help_text="For invalid input: the messages per field.",
    )

    class Meta:
        ref_name = "Error"


ERRORS = {
    400: "Invalid input (`fields` names the fields), an unreadable body or a bad cursor.",
    401: "Not signed in: send `Authorization: Token <token>` or a session cookie.",
    403: "Signed in, but not allowed to do this.",
    404: "No such object.",
    409: "Conflicts with the catalog's state (a slug taken, a team limit reached, an object still in use).",
    429: "Too many requests.",
}


class AutoSchema(SpectacularAutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        responses = operation["responses"]
        for status in self.error_statuses(operation):
            responses.setdefault(
                str(status),
                self._get_response_for_code(OpenApiResponse(ErrorSerializer, description=ERRORS[status]), str(status)),
            )
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def error_statuses(self, operation) -> list[int]:
        statuses = []
        perms = self.view.get_permissions()
        write = self.method in WRITE_METHODS
        if any(not isinstance(p, permissions.AllowAny) for p in perms):
            statuses.append(401)
            if write or any(not isinstance(p, PLAIN_PERMISSIONS) for p in perms):
                statuses.append(403)
        if "requestBody" in operation or any(p["in"] == "query" for p in operation.get("parameters", ())):
            statuses.append(400)
        if "{" in self.path:
            statuses.append(404)
        if write:
            statuses.append(409)
        if self.view.get_throttles():
            statuses.append(429)
        return sorted(statuses)
