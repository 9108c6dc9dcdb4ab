"""Domain records on the wire: camelCase field names like the diagnosis, data keys left as they are.

The change, alert and audit domains keep snake_case pydantic models; :func:`wire` renames their *fields*
for the API without touching the keys of data dictionaries (milestone names, audit details). Request
bodies subclass :class:`WireModel` (camelCase on the wire, snake_case accepted too, unknown fields refused).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict
from pydantic.alias_generators import to_camel
from pydantic_core import to_jsonable_python


def _utc(value: datetime | None) -> datetime | None:
    """The same instant in UTC (naive = UTC already); a moment that does not exist in UTC is refused."""
    if value is None:
        return None
    try:
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00+05:00
        raise ValueError("time out of range") from None


#: The largest ``offset`` a listing accepts: past the store's 64-bit OFFSET a query fails (a 503 where a
#: 422 is due), and no listing is anywhere near this long.
MAX_OFFSET = 2**31 - 1

#: A datetime in UTC, for bodies and query parameters.
Moment = Annotated[datetime, AfterValidator(_utc)]
OptionalMoment = Annotated[datetime | None, AfterValidator(_utc)]


class WireModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True, extra="forbid", frozen=True
    )

    def fields(self) -> dict[str, Any]:
        """The snake_case field values, for passing on to a domain function."""
        return {name: getattr(self, name) for name in type(self).model_fields}


def wire(value: Any) -> Any:
    """A JSON-ready copy of ``value``: pydantic models become dicts with camelCase field names."""
    if isinstance(value, BaseModel):
        return {to_camel(name): wire(getattr(value, name)) for name in type(value).model_fields}
    if isinstance(value, Mapping):
        return {str(to_jsonable_python(k)): wire(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [wire(v) for v in value]
    return to_jsonable_python(value)


def camel_keys(record: Mapping[str, Any]) -> dict[str, Any]:
    """Rename the top-level keys of a flat record (``actor_role`` → ``actorRole``); values untouched."""
    return {to_camel(k): v for k, v in record.items()}
