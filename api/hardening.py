"""Request guards and security headers.

NUL characters in the path or query string are refused (400) before any view runs: PostgreSQL text
cannot hold them, and no legitimate id, code or filter contains one.

Security headers go on every response. The API answers JSON that no browser should render, frame or
sniff (``API_CONTENT_SECURITY_POLICY`` under ``/api``; an empty value turns it off). HTML pages get
``PAGE_CONTENT_SECURITY_POLICY``: scripts only from this site (the pages have no inline script; the
data they hand to their scripts sits in ``<script type="application/json">`` blocks, which are not
run), no plugins, no framing, forms posting only here. Styles allow inline ``style`` attributes,
which bpmn-js and htmx set on the elements they draw. Anything answered to a logged-in user is
``Cache-Control: no-store`` (case pages, the personal-data reveal, exports), unless the view chose
its own caching (the vendored libraries).
"""

from __future__ import annotations

from typing import Any

from flask import Flask, Response, current_app, g, request

from api.errors import error_response

PAGE_CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; connect-src 'self'; object-src 'none'; base-uri 'self'; form-action 'self'; "
    "frame-ancestors 'none'"
)

COMMON = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=()",
}


# Routes anyone may call without being logged in that take a body: it is refused above
# ``ANONYMOUS_MAX_BODY`` before anything parses it (a declared length at once, a streamed body as soon as
# it passes the limit).
ANONYMOUS_BODY_ENDPOINTS = frozenset({"auth.create_token", "web.login"})


def register(app: Flask) -> None:
    @app.before_request
    def _limit_anonymous_body() -> Any:
        if request.endpoint not in ANONYMOUS_BODY_ENDPOINTS or request.method != "POST":
            return None
        limit = current_app.config["ANONYMOUS_MAX_BODY"]
        if request.content_length is not None and request.content_length > limit:
            return error_response(413, "请求体过大 / request body too large")
        request.max_content_length = limit
        return None

    @app.before_request
    def _refuse_nul() -> Any:
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
        elif response.mimetype == "text/html":
            policy = current_app.config.get("PAGE_CONTENT_SECURITY_POLICY", PAGE_CONTENT_SECURITY_POLICY)
            if policy:
                response.headers.setdefault("Content-Security-Policy", policy)
        if g.get("web_user") is not None:
            response.headers.setdefault("Cache-Control", "no-store")
        if request.is_secure:
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
