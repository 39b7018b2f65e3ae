"""The composition root: HTTP app factory, authentication, logging and the CLI."""
