"""Bundled weights and icons (installed as seemore_core.resources)."""
