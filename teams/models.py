from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from teams import constants

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?\Z",  # \Z: "$" would accept a trailing newline
    "Use 1-64 lowercase letters, digits and hyphens, not starting or ending with a hyphen.",
)


def org_of_team(team_id: int | None) -> int | None:
    """The org of a team by id, in one query (audit events carry it)."""
    if team_id is None:
        return None
    return Team.objects.filter(pk=team_id).values_list("org_id", flat=True).first()


class Org(models.Model):
    """A company division holding teams; sets the default ownership limits for them."""

    slug = models.CharField(max_length=64, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    max_members_per_team = models.PositiveIntegerField(
        default=constants.DEFAULT_MAX_MEMBERS_PER_TEAM, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    max_services_per_team = models.PositiveIntegerField(
        default=constants.DEFAULT_MAX_SERVICES_PER_TEAM, validators=[MinValueValidator(1), MaxValueValidator(1000)]
    )
    admins = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="administered_orgs")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    @property
    def audit_org_id(self) -> int | None:
        """The org whose admins may read audit events about this object (core.audit)."""
        return self.pk


class Team(models.Model):
    """A small ("two-pizza") team that owns a few services. Limits may be lowered per team."""

    org = models.ForeignKey(Org, on_delete=models.PROTECT, related_name="teams")
    slug = models.CharField(max_length=64, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, max_length=5000)
    chat_channel = models.CharField(max_length=200, blank=True)
    oncall_contact = models.CharField(max_length=200, blank=True)
    max_members = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Lower than the org default, or empty."
    )
    max_services = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1)], help_text="Lower than the org default, or empty."
    )
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="teams")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["slug"]

    def __str__(self) -> str:
        return self.slug

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("teams:team_detail", args=[self.slug])

    @property
    def audit_org_id(self) -> int | None:
        return self.org_id

    # A team's own limit only lowers the org's maximum (even one lowered after it was set).
    @property
    def effective_max_members(self) -> int:
        return min(self.max_members or self.org.max_members_per_team, self.org.max_members_per_team)

    @property
    def effective_max_services(self) -> int:
        return min(self.max_services or self.org.max_services_per_team, self.org.max_services_per_team)


class Membership(models.Model):
    """A user's seat on a team. Leads manage the team's members."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    team = models.ForeignKey(Team, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=constants.ROLE_CHOICES, default=constants.ROLE_MEMBER)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["team", "user__username"]
        constraints = [models.UniqueConstraint(fields=["user", "team"], name="unique_membership")]

    def __str__(self) -> str:
        return f"{self.user} in {self.team} ({self.role})"

    @property
    def audit_org_id(self) -> int | None:
        return org_of_team(self.team_id)
