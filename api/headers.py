"""Security headers on every response; the Content-Security-Policy on API responses only.

The API answers JSON that no browser should render, frame or sniff. Future HTML pages set their own
Content-Security-Policy (``API_CONTENT_SECURITY_POLICY`` applies under ``/api`` only, and an empty
value turns it off); the other headers are safe for pages too.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def register(app: Flask) -> None:
    @app.after_request
    def _security_headers(response: Response) -> Response:
        for name, value in COMMON.items():
            response.headers.setdefault(name, value)
        if request.path.startswith("/api"):
            policy = current_app.config.get("API_CONTENT_SECURITY_POLICY")
            if policy:
                response.headers.setdefault("Content-Security-Policy", policy)
            response.headers.setdefault("Cache-Control", "no-store")
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
