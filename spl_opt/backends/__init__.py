"""Execution backends (the Backend protocol): this process (inline or threads) and Ray actors."""
