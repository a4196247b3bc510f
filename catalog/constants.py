LIFECYCLE_CHOICES = [("experimental", "Experimental"), ("production", "Production"), ("deprecated", "Deprecated")]
API_KIND_CHOICES = [
    ("openapi", "OpenAPI"),
    ("graphql", "GraphQL"),
    ("grpc", "gRPC"),
    ("asyncapi", "AsyncAPI"),
    ("other", "Other"),
]
TIER_CHOICES = [(1, "Tier 1 (most critical)"), (2, "Tier 2"), (3, "Tier 3"), (4, "Tier 4")]
MAX_ALIASES = 20
MAX_SPEC_BYTES = 2 * 1024 * 1024
RESOURCE_TYPE_CHOICES = [("database", "Database"), ("queue", "Queue"), ("bucket", "Bucket"), ("other", "Other")]
