"""Monitoring: Prometheus metrics, health checks, the status API and the dashboard."""
