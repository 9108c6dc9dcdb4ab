"""The one typed Settings object. Nothing else in triage reads the environment.

Construct it at the edges (CLI main, create_app, pipeline main, a notebook's first cell) and pass it down.
All state lives under one home folder (``--home`` or ``TRIAGE_HOME``), which defaults to the checkout,
so ``data/`` and ``models/`` of the repository hold a developer's state.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository checkout this package was installed from (editable install), if any.
CHECKOUT_DIR = Path(__file__).resolve().parents[2]


def _default_home() -> Path:
    if (CHECKOUT_DIR / "pyproject.toml").is_file():
        return CHECKOUT_DIR
    return Path.cwd()


class Settings(BaseSettings):
    """Where things are, and the knobs of the running services. Run parameters live in pipeline configs."""

    model_config = SettingsConfigDict(env_prefix="TRIAGE_", extra="forbid", frozen=True)

    home: Path = Field(default_factory=_default_home, description="Folder holding data/, models/, snapshots/.")
    samples_dir: Path = Field(
        default=CHECKOUT_DIR / "data" / "samples", description="Bundled sample logs and cases (read-only)."
    )
    mlflow_tracking_uri: str | None = Field(
        default=None, description="MLflow tracking URI; default sqlite:///<home>/models/mlflow.db."
    )

    @field_validator("home")
    @classmethod
    def _home_is_a_folder(cls, value: Path) -> Path:
        if value.exists() and not value.is_dir():  # a missing folder is fine: it is created on first use
            raise ValueError(f"{value} is a file, not a folder")
        return value

    # API
    api_host: str = "127.0.0.1"
    api_port: int = 8000
    api_max_body_bytes: int = 1_048_576
    api_bootstrap_key: SecretStr | None = Field(
        default=None, description="An admin API key accepted in addition to stored keys (for first start)."
    )
    api_journal_sync: Literal["interval", "always"] = Field(
        default="interval",
        description="When an accepted event reaches the disk. interval: written to the operating system before "
        "the answer (a kill of the scorer loses nothing) and synced every api_journal_sync_seconds (a power "
        "loss loses at most that). always: synced before the answer (slower: one disk flush per group).",
    )
    api_journal_sync_seconds: float = Field(
        default=0.05, gt=0, le=10, description="Seconds between two syncs of the journal to disk (interval mode)."
    )
    api_store_flush_seconds: float = Field(
        default=1.0, gt=0, le=60,
        description="Seconds between two writes of accepted diagnoses from the journal into the store (batched).",
    )
    ops_interval_seconds: float = Field(
        default=60.0, gt=0, description="How often the API escalates alerts and checks emergency-change deadlines."
    )
    # Recovery: key for AES-GCM encryption of snapshots; never stored beside them.
    snapshot_key: SecretStr | None = None
    restore_services: tuple[str, ...] = Field(
        default=("triage",),
        description="Services whose state triage's snapshots hold: only their incidents may end in a full "
        "restore (restoring triage mends no other system, and would rewind the incident's own records).",
    )
    log_level: str = "INFO"
    # Parsing: a YAML file of extra redaction/masking rules (same shape as triage/parsing/default_rules.yaml).
    parsing_rules_path: Path | None = None
    # Ingest: physical lines per committed batch (one short write session each; also the resume grain).
    ingest_batch_lines: int = Field(default=25_000, ge=1)

    # Derived locations: one place decides the layout of the home folder.
    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def models_dir(self) -> Path:
        return self.home / "models"

    @property
    def snapshots_dir(self) -> Path:
        return self.home / "snapshots"

    @property
    def store_path(self) -> Path:
        return self.data_dir / "processed" / "triage.duckdb"

    @property
    def interim_dir(self) -> Path:
        return self.data_dir / "interim"

    @property
    def miner_state_path(self) -> Path:
        return self.interim_dir / "miner_state.json"

    @property
    def journal_dir(self) -> Path:
        return self.data_dir / "journal"

    @property
    def inbox_dir(self) -> Path:
        """Log lines accepted by ``POST /v1/logs`` and not yet ingested. Not under ``interim_dir``: a config
        restore replaces that folder wholesale, which would drop accepted lines."""
        return self.data_dir / "inbox"

    @property
    def config_dir(self) -> Path:
        """Operator configuration: changes.yaml (approvers, dependency map, blackouts), alerting.yaml."""
        return self.home / "config"

    @property
    def tracking_uri(self) -> str:
        return self.mlflow_tracking_uri or f"sqlite:///{self.models_dir / 'mlflow.db'}"

    @property
    def artifacts_uri(self) -> str:
        return (self.models_dir / "mlartifacts").resolve().as_uri()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, cached. Tests build ``Settings(home=tmp_path)`` directly instead."""
    return Settings()
