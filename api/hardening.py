"""Request guards and security headers.

NUL characters in the path or query string are refused (400) before any view runs: PostgreSQL text
cannot hold them, and no legitimate id, code or filter contains one.

Security headers go on every response; the Content-Security-Policy on API responses only.

The API answers JSON that no browser should render, frame or sniff. Future HTML pages set their own
Content-Security-Policy (``API_CONTENT_SECURITY_POLICY`` applies under ``/api`` only, and an empty
value turns it off); the other headers are safe for pages too.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, request

from api.errors import error_response

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


def register(app: Flask) -> None:
    @app.before_request
    def _refuse_nul():
        if "\x00" in request.path or any(
            "\x00" in k or "\x00" in v for k, v in request.args.items(multi=True)
        ):
            message = "请求含有空字符（NUL）/ the request contains a NUL character"
            return error_response(400, message, {"_request": [message]})
        return None

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
