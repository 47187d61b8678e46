"""The operator's policy: Glance's default rules in oslo.policy, with the
`[oslo_policy] policy_file` over them, and the property protections.

`build_policy` fills the domain's `Policy` table with one oslo.policy check
per rule name, so services keep calling `Policy.allows`/`enforce` with a
`Target`. The target and credentials handed to oslo.policy carry the keys
Glance's check strings reference.
"""

from __future__ import annotations

import configparser
import logging
import os
import re
from pathlib import Path
from typing import Any

from oslo_config import cfg
from oslo_policy import policy as oslo_policy

from glint.config_file import ConfigError
from glint.domain.context import RequestContext
from glint.domain.metadef_policy import MetadefPolicy, NamespaceRule
from glint.domain.metadefs import Namespace
from glint.domain.policy import DEFAULT_RULES, Policy, Rule, Target
from glint.domain.property_rules import (
    Check,
    PropertyOperation,
    PropertyProtections,
    PropertyRule,
    anyone,
    no_one,
    role_check,
)
from glint.services.policy_defaults import IMAGE_RULES, METADEF_RULES, rule_defaults
from glint.settings import PolicySettings

log = logging.getLogger(__name__)


def credentials(ctx: RequestContext) -> dict[str, Any]:
    """What oslo.policy judges the caller by (oslo.context's policy values).

    Glance's no-auth context is an admin without roles; it is given the admin
    role so that every `role:admin` rule admits it, as Glint's no-auth mode
    promises.
    """
    roles = set(ctx.roles)
    if ctx.is_admin:
        roles.add("admin")
    return {
        "user_id": ctx.user_id,
        "project_id": ctx.project_id,
        "domain_id": ctx.domain_id,
        "system_scope": ctx.system_scope,
        "roles": sorted(roles),
        "service_roles": sorted(ctx.service_roles),
        "is_admin_project": True,
    }


def target_dict(ctx: RequestContext, target: Target) -> dict[str, Any]:
    """The policy target for an image rule, shaped as Glance's.

    With no image (listing), `project_id` is the caller's own project. Keys
    whose value is unknown are left out, so a check like
    `project_id:%(member_id)s` fails instead of comparing two absent values.
    """
    values: dict[str, Any] = {"project_id": ctx.project_id}
    image = target.image
    if image is not None:
        member_id = target.member_id
        if member_id is None and target.is_image_member:
            member_id = ctx.project_id
        values = {
            "project_id": image.owner,
            "owner": image.owner,
            "visibility": str(image.visibility),
            "member_id": member_id,
            "image_id": image.id,
            "id": image.id,
            "status": str(image.status),
            "protected": image.protected,
            "name": image.name,
        }
    return {key: value for key, value in values.items() if value is not None}


def namespace_target(ctx: RequestContext, namespace: Namespace | None) -> dict[str, Any]:
    """The policy target for a metadef rule, shaped as Glance's: the
    namespace's owner and visibility, or the caller's project with none."""
    if namespace is None:
        values: dict[str, Any] = {"project_id": ctx.project_id}
    else:
        values = {"project_id": namespace.owner, "owner": namespace.owner,
                  "visibility": str(namespace.visibility), "namespace": namespace.namespace}
    return {key: value for key, value in values.items() if value is not None}


def _new_enforcer(settings: PolicySettings) -> oslo_policy.Enforcer:
    conf = cfg.ConfigOpts()
    conf(args=[], project="glance", default_config_files=[], default_config_dirs=[],
         validate_default_values=True)
    # Without a policy file, an empty one: oslo.policy only applies its
    # registered defaults while loading a file, and must not look elsewhere.
    enforcer = oslo_policy.Enforcer(
        conf, policy_file=str(settings.policy_file) if settings.policy_file else os.devnull,
    )
    conf.set_override("enforce_new_defaults", settings.enforce_new_defaults, group="oslo_policy")
    # Policy files in a policy.d folder beside the file are not read.
    conf.set_override("policy_dirs", [], group="oslo_policy")
    if not settings.enforce_scope:
        log.warning("[oslo_policy] enforce_scope = False has no effect: oslo.policy always "
                    "checks token scope, as under Glance 33")
    enforcer.register_defaults(rule_defaults())
    return enforcer


def _decide(enforcer: oslo_policy.Enforcer, name: str, target: dict[str, Any],
            ctx: RequestContext) -> bool:
    try:
        return bool(enforcer.enforce(name, target, credentials(ctx), do_raise=False))
    except oslo_policy.InvalidScope:
        return False


def _oslo_rule(enforcer: oslo_policy.Enforcer, name: str) -> Rule:
    def rule(ctx: RequestContext, target: Target) -> bool:
        return _decide(enforcer, name, target_dict(ctx, target), ctx)

    rule.__name__ = name
    return rule


def _oslo_metadef_rule(enforcer: oslo_policy.Enforcer, name: str) -> NamespaceRule:
    def rule(ctx: RequestContext, namespace: Namespace | None) -> bool:
        return _decide(enforcer, name, namespace_target(ctx, namespace), ctx)

    rule.__name__ = name
    return rule


def build_policy(settings: PolicySettings) -> Policy:
    """Glance's defaults with the operator's policy file and property
    protections applied. Raises ConfigError naming the key for a file that
    cannot be used."""
    enforcer = _new_enforcer(settings)
    try:
        enforcer.load_rules()
    except Exception as exc:
        raise ConfigError("oslo_policy", "policy_file", f"cannot load the policy: {exc}") from exc
    rules: dict[str, Rule] = dict(DEFAULT_RULES)
    rules.update({name: _oslo_rule(enforcer, name) for name in IMAGE_RULES})
    properties = None
    if settings.property_protection_file is not None:
        properties = load_property_protections(
            settings.property_protection_file, settings.property_protection_rule_format, enforcer
        )
    metadefs = MetadefPolicy(rules={name: _oslo_metadef_rule(enforcer, name)
                                    for name in METADEF_RULES})
    return Policy(rules=rules, properties=properties, metadefs=metadefs)


def _policy_check(enforcer: oslo_policy.Enforcer, rule_name: str) -> Check:
    def check(ctx: RequestContext) -> bool:
        return _decide(enforcer, rule_name, {}, ctx)

    return check


def load_property_protections(
    path: Path, rule_format: str, enforcer: oslo_policy.Enforcer
) -> PropertyProtections:
    """Parse a property protection file.

    With `rule_format = policies` each operation names one policy rule (from
    the policy file), registered as `<section>:<operation>`. Raises
    ConfigError for an unreadable file, a bad regular expression, `@` with
    `!`, or several policies for one operation.
    """
    key = "property_protection_file"
    parser = configparser.RawConfigParser(default_section="\x00none", strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    try:
        with open(path, encoding="utf-8") as handle:
            parser.read_file(handle, source=str(path))
    except (OSError, configparser.Error) as exc:
        raise ConfigError("DEFAULT", key, f"cannot read {path}: {exc}") from exc
    rules: list[PropertyRule] = []
    for section in parser.sections():
        try:
            pattern = re.compile(section)
        except re.error as exc:
            raise ConfigError("DEFAULT", key, f"[{section}] is not a regular expression: {exc}"
                              ) from exc
        checks: dict[PropertyOperation, Check] = {}
        for operation in PropertyOperation:
            value = parser.get(section, operation.value, fallback="").strip()
            if not value:
                log.warning("property protection [%s] has no %s rule: no one may %s it",
                            section, operation, operation)
                continue
            checks[operation] = _permission(section, operation, value, rule_format, enforcer)
        rules.append(PropertyRule(pattern, checks))
    return PropertyProtections(tuple(rules))


def _permission(section: str, operation: PropertyOperation, value: str, rule_format: str,
                enforcer: oslo_policy.Enforcer) -> Check:
    key = "property_protection_file"
    if rule_format == "policies":
        if "," in value:
            raise ConfigError("DEFAULT", key, f"[{section}] {operation}: one policy per "
                              "operation (combine them in the policy file)")
        if value == "@":
            return anyone
        if value == "!":
            return no_one
        name = f"{section}:{operation}"
        enforcer.register_default(oslo_policy.RuleDefault(name=name, check_str=f"rule:{value}"))
        return _policy_check(enforcer, name)
    roles = [role.strip() for role in value.split(",") if role.strip()]
    if "@" in roles and "!" in roles:
        raise ConfigError("DEFAULT", key, f"[{section}] {operation}: '@' and '!' exclude each other")
    if "!" in roles:
        return no_one
    if "@" in roles:
        return anyone
    return role_check(role.lower() for role in roles)
