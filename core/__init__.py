"""What every app shares: domain errors, persistence and audit, change events, Redis access, health checks,
and the REST/GraphQL/admin/forms/htmx glue. core imports no app (see .importlinter)."""
