"""NetworkPolicy analysis: expected reachability, explained, computed offline from the objects.

Pure Python, no cluster and no network. ``validate`` checks policies the way the API server
does; ``analyze`` builds the expected reachability matrix with an explanation per verdict;
``cli.run`` is the ``invoke analyze`` command (see "Analyze NetworkPolicies offline" in README.md).
"""

from .analyzer import Analysis, analyze
from .explain import DirectionExplanation, Result, RuleRef
from .model import ClusterModel, ContainerPort, Namespace, Pod, Probe
from .validate import validate_networkpolicy

__all__ = [
    "Analysis",
    "ClusterModel",
    "ContainerPort",
    "DirectionExplanation",
    "Namespace",
    "Pod",
    "Probe",
    "Result",
    "RuleRef",
    "analyze",
    "validate_networkpolicy",
]
