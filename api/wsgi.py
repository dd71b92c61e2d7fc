"""WSGI entry point for production servers: ``gunicorn 'api.wsgi:app'`` (configuration from the environment)."""

from api import create_app

app = create_app()
