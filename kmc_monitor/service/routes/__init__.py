"""The HTTP API, one router per resource (``create_app`` in ../app.py includes them)."""
