"""The router's HTTP side: the API (health, status, messages, overrides) and the Prometheus figures."""
