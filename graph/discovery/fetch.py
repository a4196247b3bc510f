"""The crawler's fetching: the SSRF rules live in core.netpolicy (shared with catalog's URL and
git locations, which sit below graph); re-exported here for discovery's sources."""

from core.netpolicy import (  # noqa: F401
    MAX_REDIRECTS,
    FetchRefused,
    FetchResult,
    SafeResolver,
    address_allowed,
    check_url,
    fetch,
    make_session,
)
