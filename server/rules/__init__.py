"""Rule files: models, loader, the condition language, engines and the live-rules manager."""
