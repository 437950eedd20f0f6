"""LM wiring: configuration, the embedded llama.cpp engine, and GGUF models shipped on PyPI."""
