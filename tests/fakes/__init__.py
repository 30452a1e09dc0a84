"""Fake servers speaking real wire protocols, for tests."""
