# Sourced by scripts/run and scripts/test. `services_up` starts Neo4j and Redis unless they already
# answer (or NEO4J_URI names a Neo4j to use); on exit, however it happens, exactly what was started
# here is stopped again, along with any process listed in `also_stop`. The trap is set before
# anything starts, so a failed start leaves nothing running.
started=()
also_stop=()

services_cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  for pid in "${also_stop[@]}"; do pkill -P "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  if [ ${#started[@]} -gt 0 ]; then
    printf '==> stopping what this command started: %s\n' "${started[*]}"
    for s in "${started[@]}"; do scripts/$s stop >/dev/null || true; done
  fi
  exit "$rc"
}

services_up() {
  trap services_cleanup EXIT
  trap 'exit 130' INT TERM
  # NEO4J_BOLT_PORT (with NEO4J_HOME_DIR) names a Neo4j of this command's own: started here
  # unless it answers, and used (so two test runs can share a machine, as .ci/run does).
  if [ -z "${NEO4J_URI:-}" ] && [ -n "${NEO4J_BOLT_PORT:-}" ]; then
    if ! scripts/neo4j status >/dev/null 2>&1; then
      started+=(neo4j)
      scripts/neo4j start
    fi
    export NEO4J_URI="bolt://127.0.0.1:$NEO4J_BOLT_PORT"
  fi
  if [ -z "${NEO4J_URI:-}" ] && ! scripts/neo4j status >/dev/null 2>&1; then
    started+=(neo4j)
    scripts/neo4j start
  fi
  if ! scripts/redis status >/dev/null 2>&1; then
    started+=(redis)
    scripts/redis start
  fi
}
