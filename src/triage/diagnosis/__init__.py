"""Features + fitted models + knowledge -> Diagnosis. Pure: no FastAPI, no DuckDB."""
