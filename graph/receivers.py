"""graph listens to the apps below it: a committed catalog write (core.events.changed) is
projected into Neo4j on a worker. Connected in GraphConfig.ready."""

from core.queue import enqueue

# The kinds the graph projects; systems, domains and resources are not (yet) nodes. A service's
# system is a property of its node, projected with the service (a service write announces
# "service"); a system's slug never changes and one in use cannot be deleted, and its name is
# read from Django when the graph is grouped by system, so a "system" change needs no projection.
PROJECTED_KINDS = {"org", "team", "service", "api"}


# Keys per projection task: one write of thousands of objects queues a few tasks, not thousands.
PROJECT_CHUNK = 500


def project_on_change(sender, changes, **kwargs) -> None:
    from graph.tasks import graph_project_task

    keys = [c.key for c in changes if c.kind in PROJECTED_KINDS]
    for start in range(0, len(keys), PROJECT_CHUNK):
        enqueue(graph_project_task, sender, keys[start : start + PROJECT_CHUNK])
