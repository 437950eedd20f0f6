"""Edit policies: the DSPy editor and the operators that need no LM."""
