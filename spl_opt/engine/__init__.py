"""The search engine, its journal and run directory, and the runner that composes a run."""
