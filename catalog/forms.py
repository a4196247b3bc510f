import json

from django import forms

from catalog.models import Api, Service
from catalog.validators import validate_scopes
from core import jsonlimits


class AliasesField(forms.CharField):
    """One alias a line in the form; a list in the model."""

    widget = forms.Textarea(attrs={"rows": 2})

    def prepare_value(self, value):
        return "\n".join(value) if isinstance(value, list) else value

    def to_python(self, value):
        return [line.strip() for line in (value or "").splitlines() if line.strip()]


class ServiceForm(forms.ModelForm):
    aliases = AliasesField(required=False, help_text="host:port or names it is known by in telemetry, one a line")

    class Meta:
        model = Service
        fields = [
            "team",
            "slug",
            "name",
            "description",
            "tier",
            "lifecycle",
            "repository_url",
            "base_url",
            "aliases",
            "metrics_path",
            "health_path",
            "crawl_enabled",
            "system",
        ]


class ServiceEditForm(ServiceForm):
    class Meta(ServiceForm.Meta):
        fields = [f for f in ServiceForm.Meta.fields if f not in ("team", "slug")]


class SpecField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 8, "spellcheck": "false"})

    def prepare_value(self, value):
        return json.dumps(value, indent=2) if isinstance(value, dict) else value

    def to_python(self, value):
        if not value or not value.strip():
            return None
        try:
            return jsonlimits.loads(value)
        except jsonlimits.JsonTooDeep as exc:
            raise forms.ValidationError(exc.detail, code=exc.code) from None
        except ValueError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc}") from exc


class ApiForm(forms.ModelForm):
    spec = SpecField(required=False, help_text="OpenAPI (JSON) is validated")

    class Meta:
        model = Api
        fields = [
            "provider",
            "slug",
            "name",
            "kind",
            "version",
            "base_path",
            "lifecycle",
            "slo_availability",
            "slo_p99_ms",
            "spec",
        ]


class ApiEditForm(ApiForm):
    """An API's fields; after a refusal for a breaking spec, also the box that confirms it."""

    confirm_breaking = forms.BooleanField(
        required=False,
        label="Publish the breaking change",
        help_text="The consumer teams are told (api.breaking_change). Or raise the major version instead.",
    )

    class Meta(ApiForm.Meta):
        fields = [f for f in ApiForm.Meta.fields if f not in ("provider", "slug")]

    def __init__(self, *args, confirm: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        if not confirm:
            del self.fields["confirm_breaking"]


class ScopesField(forms.CharField):
    widget = forms.Textarea(attrs={"rows": 2, "placeholder": "GET /orders"})

    def to_python(self, value):
        return [line.strip() for line in (value or "").splitlines() if line.strip()]

    def validate(self, value):
        validate_scopes(value)


class KeyLimitsForm(forms.Form):
    """A key's rate limit and daily quota (empty: none), enforced by the gateway."""

    rate_limit = forms.IntegerField(
        required=False, min_value=1, max_value=1_000_000, help_text="optional: requests per second or minute"
    )
    rate_period = forms.TypedChoiceField(
        choices=[("second", "per second"), ("minute", "per minute")], required=False, empty_value=None
    )
    daily_quota = forms.IntegerField(
        required=False, min_value=1, max_value=1_000_000_000, help_text="optional: requests per UTC day"
    )


class KeyIssueForm(KeyLimitsForm):
    api = forms.ModelChoiceField(queryset=Api.objects.all(), to_field_name="slug")
    consumer = forms.ModelChoiceField(queryset=Service.objects.all(), to_field_name="slug")
    name = forms.CharField(max_length=100)
    scopes = ScopesField(required=False, help_text="optional: METHOD /path-prefix, one a line")
    expires_at = forms.DateTimeField(required=False, widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    field_order = ["api", "consumer", "name", "scopes", "expires_at", "rate_limit", "rate_period", "daily_quota"]


class KeyRequestForm(KeyIssueForm):
    expires_at = None
    rate_limit = rate_period = daily_quota = None  # the provider sets limits when approving


class ApiDeprecationForm(forms.Form):
    sunset_at = forms.DateTimeField(
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="from then on the gateway refuses the API's keys (403 api_sunset); a later date extends it",
    )
    successor = forms.ModelChoiceField(queryset=Api.objects.all(), to_field_name="slug", required=False)


class KeyRevokeForm(forms.Form):
    reason = forms.CharField(max_length=500)


class KeyRotateForm(forms.Form):
    overlap_seconds = forms.IntegerField(
        min_value=0, max_value=30 * 24 * 3600, initial=3600, help_text="how long the old key keeps working"
    )


class LocationUploadForm(forms.Form):
    """A descriptor file to import (all or nothing). Its size is checked before it is read."""

    file = forms.FileField(help_text="a Backstage catalog-info.yaml: one or more YAML documents")

    def clean_file(self):
        from django.conf import settings

        upload = self.cleaned_data["file"]
        if upload.size > settings.CATALOG_MAX_BYTES:
            raise forms.ValidationError(f"The file is {upload.size} bytes; at most {settings.CATALOG_MAX_BYTES}.")
        return upload


class LocationRemoteForm(forms.Form):
    """A URL or git location (refreshed on schedule and by its webhook)."""

    kind = forms.ChoiceField(choices=[("git", "Git repository"), ("url", "URL of one descriptor file")])
    target = forms.CharField(max_length=500, help_text="https://… (a local path or file:// for superusers)")
    branch = forms.CharField(max_length=200, required=False, initial="main", help_text="git only")
    path_glob = forms.CharField(
        max_length=200, required=False, initial="**/catalog-info.yaml", help_text="git only: descriptor files"
    )
    orphan_policy = forms.ChoiceField(
        choices=[("keep", "Keep orphans"), ("remove", "Remove orphans after the grace period")], initial="keep"
    )
    orphan_grace_hours = forms.IntegerField(min_value=0, max_value=8760, initial=168)
    skip_unmappable = forms.BooleanField(
        required=False, help_text="skip entities Switchboard cannot represent (listed with the reason)"
    )
