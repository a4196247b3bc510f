from django import forms


class ScheduleForm(forms.Form):
    every_minutes = forms.IntegerField(min_value=1, max_value=24 * 60)
    enabled = forms.BooleanField(required=False)
