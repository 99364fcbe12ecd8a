"""Logs and traces: structured JSON logs with request and attempt ids, and
OpenTelemetry spans from an API request to the provider and back."""
