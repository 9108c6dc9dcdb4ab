"""API-key authentication and role checks as FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from triage.access.keys import ApiKey, Permission, role_allows
from triage.api.middleware import header


def presented_key(request: Request) -> str | None:
    return key_in_headers(request.scope["headers"])


def key_in_headers(raw_headers: list[tuple[bytes, bytes]]) -> str | None:
    """The key a client sent (``Authorization: Bearer KEY`` first, else ``X-API-Key``), from ASGI headers
    (names already lower-case; the first of repeated headers counts)."""
    authorization = header(raw_headers, b"authorization")
    if authorization:
        scheme, _, value = authorization.decode("latin-1").partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    api_key = header(raw_headers, b"x-api-key")
    return None if api_key is None else api_key.decode("latin-1")


def require(permission: Permission):
    """A dependency that admits a valid key whose role carries ``permission`` (401 / 403 otherwise).

    Routes use the ``Annotated`` aliases below (``key: IncidentReader``) rather than calling this.
    """

    async def check(request: Request) -> ApiKey:
        secret = presented_key(request)
        if not secret:
            raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key'",
                                headers={"WWW-Authenticate": "Bearer"})
        runtime = request.app.state.runtime
        key = runtime.known_key(secret)
        if key is None:  # not in memory: maybe created after start (a store lookup, off the event loop)
            key = await run_in_threadpool(runtime.authenticate, secret)
        if key is None:
            raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        if not role_allows(key.role, permission):
            raise HTTPException(403, f"role '{key.role.value}' may not {permission.value}")
        request.state.actor = key
        return key

    return Depends(check)


def actor_name(key: ApiKey) -> str:
    return f"{key.name} ({key.role.value})"


# One alias per permission: the type says who may call the route.
ErrorPoster = Annotated[ApiKey, require(Permission.ERRORS_WRITE)]
IncidentReader = Annotated[ApiKey, require(Permission.INCIDENTS_READ)]
IncidentWriter = Annotated[ApiKey, require(Permission.INCIDENTS_WRITE)]
ChangeReader = Annotated[ApiKey, require(Permission.CHANGES_READ)]
ChangeWriter = Annotated[ApiKey, require(Permission.CHANGES_WRITE)]
ChangeApprover = Annotated[ApiKey, require(Permission.CHANGES_APPROVE)]
RecoveryReader = Annotated[ApiKey, require(Permission.RECOVERY_READ)]
RecoveryWriter = Annotated[ApiKey, require(Permission.RECOVERY_WRITE)]
AuditReader = Annotated[ApiKey, require(Permission.AUDIT_READ)]
AlertWriter = Annotated[ApiKey, require(Permission.ALERTS_WRITE)]
ModelReader = Annotated[ApiKey, require(Permission.MODELS_READ)]
Admin = Annotated[ApiKey, require(Permission.ADMIN)]
