"""The Azure tags that mark what netpol-lab created, and the ownership check teardown relies on.

Azure tags (not Kubernetes labels) are the only memory the tool has in a subscription: a resource
group is deleted only when it carries ``managed-by: netpol-lab`` (set only when the tool created
the group) and, when a lab is named, that lab's tag.
"""

from __future__ import annotations

from collections.abc import Mapping

from provisioning.spec import TOOL

TAG_MANAGED_BY = "managed-by"
TAG_LAB = "netpol-lab-lab"


def tool_tags(lab: str) -> dict[str, str]:
    """The tags every Azure resource the tool creates carries."""
    return {TAG_MANAGED_BY: TOOL, TAG_LAB: lab}


def merged_tags(user: Mapping[str, str], lab: str) -> dict[str, str]:
    """The user's tags plus the tool's; the tool's win so ownership can never be faked away."""
    return {**dict(user), **tool_tags(lab)}


def is_tool_owned(tags: Mapping[str, str] | None, lab: str | None = None) -> bool:
    """True when ``tags`` say netpol-lab created the resource (for ``lab``, when given)."""
    tags = tags or {}
    if tags.get(TAG_MANAGED_BY) != TOOL:
        return False
    return lab is None or tags.get(TAG_LAB) == lab
