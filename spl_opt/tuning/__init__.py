"""Learning the edit policy across runs: edit-outcome data from journals (`outcomes`), and the editor
tuned on it (`tune`), saved as an artifact that `optimize(..., editor=...)` loads
(`spl_opt.editor.artifact`)."""
