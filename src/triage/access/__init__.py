"""API keys and roles: who may do what. A foundation layer (imports storage, settings, errors only)."""
