"""Tools for testing gradients of your own code: `gradcheck`, `gradgradcheck`, and (with hypothesis
installed) `tinygrad_bn.testing.strategies` for property-based tests."""
from .gradcheck import GradcheckError, GradcheckResult, gradcheck, gradgradcheck

__all__ = ["gradcheck", "gradgradcheck", "GradcheckError", "GradcheckResult"]
