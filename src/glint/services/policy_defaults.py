"""Glance 33's policy rule names and default check strings, for oslo.policy.

Operators' policy.yaml files name these rules; the check strings reference
the target keys `project_id` (the image owner, or the caller's own project
when there is no image), `owner`, `member_id` (the caller's project when it
is a member of the image) and `visibility`, as Glance's image targets do.
"""

from __future__ import annotations

from oslo_policy import policy

from glint.domain.metadef_policy import LIST_RULES, READ_RULES, WRITE_RULES

# Building blocks of the check strings.
_ADMIN = "role:admin"
_MEMBER_HERE = "role:member and project_id:%(project_id)s"
_READER_HERE = "role:reader and project_id:%(project_id)s"
_IMAGE_MEMBER = "project_id:%(member_id)s"
_OPEN_VISIBILITY = (
    '"community":%(visibility)s or "public":%(visibility)s or "shared":%(visibility)s'
)

ADMIN_OR_MEMBER = f"{_ADMIN} or ({_MEMBER_HERE})"
ADMIN_OR_READER = f"{_ADMIN} or ({_READER_HERE})"
ADMIN_OR_READER_OF_VISIBLE = (
    f"{_ADMIN} or (role:reader and (project_id:%(project_id)s or {_IMAGE_MEMBER} "
    f"or {_OPEN_VISIBILITY}))"
)
ADMIN_OR_MEMBER_OF_VISIBLE = (
    f"{_ADMIN} or (role:member and (project_id:%(project_id)s or {_IMAGE_MEMBER} "
    f"or {_OPEN_VISIBILITY}))"
)
ADMIN_OR_MEMBER_CREATING_OWN = f"{_ADMIN} or ({_MEMBER_HERE} and project_id:%(owner)s)"
ADMIN_OR_READER_OR_IMAGE_MEMBER = (
    f"{_ADMIN} or (role:reader and (project_id:%(project_id)s or {_IMAGE_MEMBER}))"
)
ADMIN_OR_IMAGE_MEMBER = f"{_ADMIN} or (role:member and {_IMAGE_MEMBER})"
SERVICE_OR_MEMBER_CREATING_OWN = f"rule:service_api or ({_MEMBER_HERE} and project_id:%(owner)s)"

# Rules whose Wallaby-era check string was "rule:default"; oslo.policy ORs it
# back in when `[oslo_policy] enforce_new_defaults = False`.
_LEGACY = "rule:default"

# name -> (check string, deprecated check string or None)
IMAGE_RULES: dict[str, tuple[str, str | None]] = {
    "add_image": (ADMIN_OR_MEMBER_CREATING_OWN, _LEGACY),
    "delete_image": (ADMIN_OR_MEMBER, _LEGACY),
    "get_image": (ADMIN_OR_READER_OF_VISIBLE, _LEGACY),
    "get_images": (ADMIN_OR_READER, _LEGACY),
    "modify_image": (ADMIN_OR_MEMBER, _LEGACY),
    "publicize_image": (_ADMIN, None),
    "communitize_image": (ADMIN_OR_MEMBER, _LEGACY),
    "download_image": (ADMIN_OR_MEMBER_OF_VISIBLE, _LEGACY),
    "upload_image": (ADMIN_OR_MEMBER, _LEGACY),
    "delete_image_location": (_ADMIN, _LEGACY),
    "get_image_location": (ADMIN_OR_READER, _LEGACY),
    "set_image_location": (ADMIN_OR_MEMBER, _LEGACY),
    "add_image_location": (SERVICE_OR_MEMBER_CREATING_OWN, None),
    "fetch_image_location": ("rule:service_api", None),
    "add_member": (ADMIN_OR_MEMBER, _LEGACY),
    "delete_member": (ADMIN_OR_MEMBER, _LEGACY),
    "get_member": (ADMIN_OR_READER_OR_IMAGE_MEMBER, _LEGACY),
    "get_members": (ADMIN_OR_READER_OR_IMAGE_MEMBER, _LEGACY),
    "modify_member": (ADMIN_OR_IMAGE_MEMBER, _LEGACY),
    "deactivate": (ADMIN_OR_MEMBER, _LEGACY),
    "reactivate": (ADMIN_OR_MEMBER, _LEGACY),
    "copy_image": (_ADMIN, None),
    "manage_image_cache": (_ADMIN, None),
    "cache_image": (_ADMIN, None),
    "cache_list": (_ADMIN, None),
    "cache_delete": (_ADMIN, None),
    "cache_clean": (_ADMIN, None),
    "cache_prune": (_ADMIN, None),
    "list_cached_nodes": (_ADMIN, None),
    "audit_report": (_ADMIN, None),
    "stores_info_detail": (f"{_ADMIN} or role:service", None),
    "get_task": ("rule:default", None),
    "get_tasks": ("rule:default", None),
    "add_task": ("rule:default", None),
    "modify_task": ("rule:default", None),
    "tasks_api_access": (_ADMIN, None),
}

# Metadata definitions: the target's `project_id` is the namespace owner (the
# caller's project for listings and creation) and `visibility` its visibility.
_METADEF_ADMIN = "rule:metadef_admin"
_READER_OF_NAMESPACE = (
    f'{_ADMIN} or (role:reader and (project_id:%(project_id)s or "public":%(visibility)s))'
)
_METADEF_LEGACY = "rule:metadef_default"

# name -> (check string, deprecated check string or None)
METADEF_RULES: dict[str, tuple[str, str | None]] = {
    **{name: (ADMIN_OR_READER, _METADEF_LEGACY) for name in LIST_RULES},
    **{name: (_READER_OF_NAMESPACE, _METADEF_LEGACY) for name in READ_RULES},
    **{name: (_METADEF_ADMIN, None) for name in WRITE_RULES},
}

BASE_RULES: dict[str, str] = {
    "default": "",
    "context_is_admin": _ADMIN,
    "service_api": "role:service or role:admin",
    "metadef_default": "",
    "metadef_admin": _ADMIN,
}


def rule_defaults() -> list[policy.RuleDefault]:
    """Every default rule, ready for `Enforcer.register_defaults`."""
    defaults = [policy.RuleDefault(name=name, check_str=check)
                for name, check in BASE_RULES.items()]
    for name, (check, legacy) in {**IMAGE_RULES, **METADEF_RULES}.items():
        deprecated = None
        if legacy is not None:
            deprecated = policy.DeprecatedRule(
                name=name, check_str=legacy,
                deprecated_reason="Glance's API has role-based defaults.",
                deprecated_since="W",
            )
        defaults.append(policy.RuleDefault(
            name=name, check_str=check, scope_types=["project"], deprecated_rule=deprecated,
        ))
    return defaults
