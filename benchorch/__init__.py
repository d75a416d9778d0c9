"""benchorch: does a PyTorch mobile optimisation really pay off on real phones?"""

__version__ = "0.1.0"
