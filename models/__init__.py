"""Persistence: SQLAlchemy 2 models, sessions and the stores the core needs."""
