"""The cockpit and the health endpoints: one Starlette application served by uvicorn.

`/healthz`, `/readyz` and `/metrics` answer anyone (they carry no customer data); `/status.json` answers a tool
with the bearer token or a signed-in person; every page wants a signed-in person (or the reverse proxy's header,
when configured), and every form a session's CSRF token.
"""
