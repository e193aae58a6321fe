"""Tools for testing gradients of your own code: `gradcheck`, `gradgradcheck`, `check_ops` (which op of a graph
has the wrong backward), and (with hypothesis installed) `tinygrad_bn.testing.strategies` for property-based
tests."""
from .gradcheck import (
    GradcheckError,
    GradcheckResult,
    GraphReport,
    InputReport,
    OpReport,
    check_ops,
    gradcheck,
    gradgradcheck,
    module_path,
)

__all__ = ["gradcheck", "gradgradcheck", "check_ops", "module_path", "GradcheckError", "GradcheckResult",
           "GraphReport", "InputReport", "OpReport"]
