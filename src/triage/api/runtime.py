"""What the running scorer holds in memory: keys, metrics, readiness checks, and (wired in later) the
diagnosis engine, the store writer and the model watcher. Built once in the app's lifespan."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from triage.access.keys import ApiKey, KeyStore, KeyVerifier, split_key
from triage.api.metrics import Metrics
from triage.settings import Settings
from triage.storage.database import Database

KEY_REFRESH_INTERVAL = 2.0  # seconds between store lookups for an unknown key id (limits probing cost)


@dataclass(frozen=True, slots=True)
class CheckResult:
    name: str
    ok: bool
    detail: str
    seconds: float


@dataclass
class Runtime:
    settings: Settings
    db: Database
    keys: KeyStore
    metrics: Metrics = field(default_factory=Metrics)
    readiness_checks: dict[str, Callable[[], str]] = field(default_factory=dict)
    _verifier: KeyVerifier | None = None
    _verifier_loaded_at: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def start(cls, settings: Settings) -> Runtime:
        db = Database(settings.store_path)
        runtime = cls(settings=settings, db=db, keys=KeyStore(db))
        runtime.readiness_checks["store"] = runtime._check_store
        runtime.reload_keys()
        return runtime

    def stop(self) -> None:
        """Flush and release whatever the runtime holds."""

    # --- keys -------------------------------------------------------------------------------------
    def reload_keys(self) -> None:
        bootstrap = self.settings.api_bootstrap_key
        verifier = self.keys.verifier().with_bootstrap(bootstrap.get_secret_value() if bootstrap else None)
        with self._lock:
            self._verifier = verifier
            self._verifier_loaded_at = time.monotonic()

    def authenticate(self, secret: str) -> ApiKey | None:
        verifier = self._verifier
        assert verifier is not None
        key = verifier.verify(secret)
        if key is not None:
            return key
        parsed = split_key(secret)
        # A key created after start (or revoked since): look again, at most every few seconds.
        if parsed and time.monotonic() - self._verifier_loaded_at > KEY_REFRESH_INTERVAL:
            self.reload_keys()
            return self._verifier.verify(secret) if self._verifier else None
        return None

    # --- readiness --------------------------------------------------------------------------------
    def _check_store(self) -> str:
        with self.db.read() as session:
            count = session.scalar("SELECT count(*) FROM schema_migrations")
        return f"{count} migrations applied"

    def readiness(self) -> list[CheckResult]:
        results = []
        for name, check in self.readiness_checks.items():
            start = time.perf_counter()
            try:
                detail, ok = check(), True
            except Exception as exc:  # a failing check is reported, not raised
                detail, ok = f"{type(exc).__name__}: {exc}".splitlines()[0][:300], False
            results.append(CheckResult(name, ok, detail, time.perf_counter() - start))
        return results
