"""LogRecord -> ParsedEvent: masking, PHI/secret redaction, Drain3 template mining."""
