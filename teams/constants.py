DEFAULT_MAX_MEMBERS_PER_TEAM = 10  # two pizzas
DEFAULT_MAX_SERVICES_PER_TEAM = 8
ROLE_LEAD = "lead"
ROLE_MEMBER = "member"
ROLE_CHOICES = [(ROLE_LEAD, "Lead"), (ROLE_MEMBER, "Member")]
NEAR_LIMIT_RATIO = 0.8  # usage at or above this share of a limit is shown as "near"
