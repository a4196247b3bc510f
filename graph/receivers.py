"""graph listens to the apps below it: a committed catalog write (core.events.changed) is
projected into Neo4j on a worker. Connected in GraphConfig.ready."""

from core.queue import enqueue

# The kinds the graph projects; systems, domains and resources are not (yet) nodes.
PROJECTED_KINDS = {"org", "team", "service", "api"}


def project_on_change(sender, change, **kwargs) -> None:
    from graph.tasks import graph_project_task

    if change.kind not in PROJECTED_KINDS:
        return
    enqueue(graph_project_task, change.kind, change.key)
