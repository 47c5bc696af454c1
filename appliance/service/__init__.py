"""The web service: HTTP API v1, the local web page, and the persistent job queue."""
