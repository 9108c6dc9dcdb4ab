"""The thin FastAPI scorer: the only package that imports fastapi."""
