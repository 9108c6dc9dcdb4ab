"""API-key authentication and role checks as FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, HTTPException, Request

from triage.access.keys import ApiKey, Permission, role_allows


def presented_key(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip()
    return request.headers.get("x-api-key")


def require(permission: Permission):
    """A dependency that admits a valid key whose role carries ``permission`` (401 / 403 otherwise)."""

    def check(request: Request) -> ApiKey:
        secret = presented_key(request)
        if not secret:
            raise HTTPException(401, "missing API key: send 'Authorization: Bearer <key>' or 'X-API-Key'",
                                headers={"WWW-Authenticate": "Bearer"})
        key = request.app.state.runtime.authenticate(secret)
        if key is None:
            raise HTTPException(401, "invalid or revoked API key", headers={"WWW-Authenticate": "Bearer"})
        if not role_allows(key.role, permission):
            raise HTTPException(403, f"role '{key.role.value}' may not {permission.value}")
        request.state.actor = key
        return key

    return Depends(check)


def actor_name(key: ApiKey) -> str:
    return f"{key.name} ({key.role.value})"


Actor = Annotated[ApiKey, "the authenticated caller"]
