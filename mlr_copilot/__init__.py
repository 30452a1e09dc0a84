"""MLR-Copilot: autonomous machine-learning research with LLM agents.

Importing this package loads no LLM SDK, no torch and no transformers; those are
imported lazily by the backend that needs them.
"""
__version__ = "0.1.0"
