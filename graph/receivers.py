"""graph listens to the apps below it: a committed catalog write (core.events.changed) is
projected into Neo4j on a worker. Connected in GraphConfig.ready."""

from core.queue import enqueue


def project_on_change(sender, change, **kwargs) -> None:
    from graph.tasks import graph_project_task

    enqueue(graph_project_task, change.kind, change.key)
