"""Small wrappers over AWS APIs (clients, event publishing, WORM archive, secrets, metrics)."""
