"""Registered base models: the registry, model roots, GGUF import, SmolLM2 and the tiny-demo builder."""
