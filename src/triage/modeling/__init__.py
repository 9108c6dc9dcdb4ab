"""Models: feature views -> fitted estimators (scikit-learn API)."""
