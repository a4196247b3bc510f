"""graph listens to the apps below it: a committed catalog write (core.events.changed) is
projected into Neo4j on a worker. Connected in GraphConfig.ready."""

from core.queue import enqueue

# The kinds the graph projects; systems, domains and resources are not (yet) nodes. A service's
# system is a property of its node, projected with the service (a service write announces
# "service"); a system's slug never changes and one in use cannot be deleted, and its name is
# read from Django when the graph is grouped by system, so a "system" change needs no projection.
PROJECTED_KINDS = {"org", "team", "service", "api"}


def project_on_change(sender, change, **kwargs) -> None:
    from graph.tasks import graph_project_task

    if change.kind not in PROJECTED_KINDS:
        return
    enqueue(graph_project_task, change.kind, change.key)
