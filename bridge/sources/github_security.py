"""GitHub security events as events: Dependabot, code scanning, secret scanning, advisories.

An alert's fingerprint is its number, so "fixed" resolves "created". The leaked value of a
secret scanning alert (`alert.secret`) is never read here; github.py drops it from the payload.
"""

from __future__ import annotations

from bridge.model import Event
from bridge.sources.github_delivery import (
    Delivery,
    Normaliser,
    alert_outcome,
    build_event,
    first_line,
    github_fingerprint,
    optional_list,
    optional_object,
    required_object,
    security_severity,
    text,
)


def _dependabot_alert(d: Delivery) -> Event:
    alert = required_object(d.payload, "alert")
    advisory = optional_object(alert, "security_advisory")
    vulnerability = optional_object(alert, "security_vulnerability")
    dependency = optional_object(alert, "dependency")
    package = optional_object(dependency, "package") or optional_object(vulnerability, "package")
    name, ecosystem = text(package.get("name")), text(package.get("ecosystem"))
    severity = security_severity(advisory.get("severity") or vulnerability.get("severity"))
    patched = text(optional_object(vulnerability, "first_patched_version").get("identifier"))
    return build_event(
        d,
        labels={
            "state": text(alert.get("state")),
            "package": name,
            "ecosystem": ecosystem,
            "ghsa": text(advisory.get("ghsa_id")),
        },
        fingerprint=github_fingerprint("dependabot_alert", d.repo_name, text(alert.get("number"))),
        title=f"Dependabot alert {d.action}: {name} ({ecosystem}) in {d.repo_name}",
        summary=text(advisory.get("summary")) + (f"; fixed in {patched}" if patched else ""),
        url=text(alert.get("html_url")),
        outcome=alert_outcome(d.action),
        severity=severity,
    )


def _code_scanning_alert(d: Delivery) -> Event:
    alert = required_object(d.payload, "alert")
    rule = optional_object(alert, "rule")
    tool = text(optional_object(alert, "tool").get("name"))
    instance = optional_object(alert, "most_recent_instance")
    ref = text(d.payload.get("ref")) or text(instance.get("ref"))
    location = optional_object(instance, "location")
    where = text(location.get("path"))
    if where and location.get("start_line"):
        where += f":{text(location.get('start_line'))}"
    severity = security_severity(rule.get("security_severity_level") or rule.get("severity"))
    rule_text = text(rule.get("description")) or text(rule.get("name")) or text(rule.get("id"))
    return build_event(
        d,
        labels={
            "state": text(alert.get("state")),
            "rule": text(rule.get("id")),
            "tool": tool,
            "branch": ref.removeprefix("refs/heads/"),
        },
        fingerprint=github_fingerprint(
            "code_scanning_alert", d.repo_name, text(alert.get("number"))
        ),
        title=f"Code scanning alert {d.action}: {rule_text}",
        summary=" ".join(part for part in (tool, text(rule.get("id")), where) if part),
        url=text(alert.get("html_url")),
        outcome=alert_outcome(d.action),
        severity=severity,
    )


def _secret_scanning_alert(d: Delivery) -> Event:
    alert = required_object(d.payload, "alert")
    number = text(alert.get("number"))
    kind = text(alert.get("secret_type_display_name")) or text(alert.get("secret_type"))
    repo_url = text(d.repository.get("html_url"))
    fallback_url = f"{repo_url}/security/secret-scanning/{number}" if repo_url else ""
    resolution = text(alert.get("resolution"))
    return build_event(
        d,
        labels={
            "state": text(alert.get("state")),
            "secret_type": text(alert.get("secret_type")),
            "resolution": resolution,
        },
        fingerprint=github_fingerprint("secret_scanning_alert", d.repo_name, number),
        title=f"Secret scanning alert {d.action}: {kind} in {d.repo_name}",
        summary=f"{kind} found in {d.repo_name}" + (f" ({resolution})" if resolution else ""),
        url=text(alert.get("html_url")) or fallback_url,
        outcome=alert_outcome(d.action),
        # A leaked credential is urgent whatever the provider.
        severity="critical",
    )


def _repository_vulnerability_alert(d: Delivery) -> Event:
    alert = required_object(d.payload, "alert")
    package = text(alert.get("affected_package_name"))
    fixed_in = text(alert.get("fixed_in"))
    repo_url = text(d.repository.get("html_url"))
    return build_event(
        d,
        labels={
            "state": text(alert.get("state")),
            "package": package,
            "ghsa": text(alert.get("ghsa_id")),
        },
        fingerprint=github_fingerprint(
            "repository_vulnerability_alert",
            d.repo_name,
            text(alert.get("number")) or text(alert.get("id")),
        ),
        title=f"Vulnerable dependency {d.action}: {package} in {d.repo_name}",
        summary=f"{package} {text(alert.get('affected_range'))}".strip()
        + (f"; fixed in {fixed_in}" if fixed_in else ""),
        url=text(alert.get("external_reference")) or repo_url,
        outcome=alert_outcome(d.action),
        severity=security_severity(alert.get("severity")),
    )


def _security_advisory(d: Delivery) -> Event:
    advisory = required_object(d.payload, "security_advisory")
    ghsa = text(advisory.get("ghsa_id"))
    packages = sorted(
        {
            text(optional_object(v, "package").get("name"))
            for v in optional_list(advisory, "vulnerabilities")
            if isinstance(v, dict)
        }
        - {""}
    )
    return build_event(
        d,
        labels={"ghsa": ghsa, "package": ",".join(packages)},
        fingerprint=github_fingerprint("security_advisory", ghsa),
        title=f"Security advisory {d.action}: {first_line(advisory.get('summary'))}",
        summary=", ".join(packages),
        url=text(advisory.get("html_url")) or f"https://github.com/advisories/{ghsa}",
        outcome=alert_outcome(d.action),
        severity=security_severity(advisory.get("severity")),
    )


SECURITY_NORMALISERS: dict[str, Normaliser] = {
    "dependabot_alert": _dependabot_alert,
    "code_scanning_alert": _code_scanning_alert,
    "secret_scanning_alert": _secret_scanning_alert,
    "repository_vulnerability_alert": _repository_vulnerability_alert,
    "security_advisory": _security_advisory,
}
