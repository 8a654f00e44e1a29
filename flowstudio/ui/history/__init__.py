"""Run History: the past runs of the open flow (list, replay, overlay, snapshot diff, re-run, fork)."""
