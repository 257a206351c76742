"""What operators watch of a running server: readiness checks, Prometheus metrics, the HTTP access log."""
