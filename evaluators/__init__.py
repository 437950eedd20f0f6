"""How a candidate is scored: metrics, the task evaluator, prompt length, the evaluation cache."""
