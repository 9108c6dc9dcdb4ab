"""Raw log bytes -> LogRecord: header formats, presets, detection, multi-line joining."""
