"""Prompt templates of the LLM-backed actions (string.Template files, rendered strictly)."""
