"""Known errors and runbooks: signatures -> category, probable cause, fixes; similarity search; fix statistics."""
