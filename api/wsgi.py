"""WSGI entry point for production servers: ``gunicorn 'api.wsgi:app'`` (configuration from the environment)."""

from api import create_app, logs

logs.configure()  # JSON lines by default (ASSISTFLOW_LOG_FORMAT)
app = create_app()
