from django import forms

from teams import selectors
from teams.constants import ROLE_CHOICES
from teams.models import Org, Team


class TeamForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["org", "slug", "name", "description", "chat_channel", "oncall_contact"]


class TeamEditForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["name", "description", "chat_channel", "oncall_contact"]


class TeamLimitsForm(forms.ModelForm):
    class Meta:
        model = Team
        fields = ["max_members", "max_services"]


class OrgLimitsForm(forms.ModelForm):
    class Meta:
        model = Org
        fields = ["max_members_per_team", "max_services_per_team"]


class MemberAddForm(forms.Form):
    username = forms.CharField(max_length=150)
    role = forms.ChoiceField(choices=ROLE_CHOICES, initial="member")

    def clean_username(self):
        user = selectors.active_user(self.cleaned_data["username"])
        if user is None:
            raise forms.ValidationError("No active user with that username.")
        return user
