"""Storage backends behind one interface (see base.Storage)."""

from .base import Download, Entry, Storage, clean_path, normalise_etag

__all__ = ["Download", "Entry", "Storage", "clean_path", "normalise_etag"]
