"""The problem-body mapping of domain errors, on a bare app (no store, no server)."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.testclient import TestClient

from triage.api.problems import install
from triage.errors import InvalidInput
from triage.storage.database import StorageError


def test_a_store_failure_is_a_503_without_sql_and_a_user_error_stays_422() -> None:
    app = FastAPI()
    install(app)

    @app.get("/store")
    def _store() -> None:
        raise StorageError("CatalogException: Catalog Error: Table with name status_maintenance does not exist!")

    @app.get("/input")
    def _input() -> None:
        raise InvalidInput("bad value")

    with TestClient(app) as client:
        r = client.get("/store")
        assert r.status_code == 503 and r.headers["content-type"].startswith("application/problem+json")
        assert "status_maintenance" not in r.text and "Catalog" not in r.text
        assert client.get("/input").status_code == 422
