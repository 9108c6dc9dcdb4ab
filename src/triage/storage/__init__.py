"""Storage foundation: the DuckDB adapter every domain's tables go through."""
