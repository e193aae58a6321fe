"""Shared test settings: Hypothesis profiles and the torch switch.

Profiles: "ci" (the default) is derandomized, so CI is deterministic; "thorough" runs many more examples
for local hunting: `HYPOTHESIS_PROFILE=thorough python3 dev.py test`.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "ci", max_examples=25, derandomize=True, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile(
    "thorough", max_examples=400, deadline=None, print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
