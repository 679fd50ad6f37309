"""The health endpoint of `connector run`: liveness, readiness, Prometheus metrics and the status page."""
