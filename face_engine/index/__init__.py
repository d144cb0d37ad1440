"""The index: derived from the store, searched for the nearest faces, rebuilt at any time."""
