"""causal_tutorial: how transformers learn causal structure with gradient descent.

A small PyTorch package behind the runnable book: tasks (samplers), baselines, models,
training and the named experiments of each paper figure.
"""

__version__ = "0.3.0"
