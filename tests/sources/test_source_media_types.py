import pytest
from pydantic import SecretStr

from bridge.config.schema import (
    AuthConfig,
    GithubSourceConfig,
    GrafanaHmacConfig,
    GrafanaSourceConfig,
    SourcesConfig,
)
from bridge.errors import UnsupportedMediaType
from bridge.sources import AlertmanagerSource, GithubSource, GrafanaSource, Source, build_sources

SOURCES: dict[str, Source] = build_sources(SourcesConfig())


@pytest.mark.parametrize(
    ("source", "content_type"),
    [
        ("alertmanager", "application/json"),
        ("alertmanager", "application/json; charset=utf-8"),
        ("grafana", "application/json"),
        ("grafana", "Application/JSON;charset=UTF-8"),
        ("github", "application/json"),
        ("github", "application/x-www-form-urlencoded"),
        ("github", "application/x-www-form-urlencoded; charset=utf-8"),
    ],
    ids=lambda value: str(value),
)
def test_accepted_content_types_pass(source: str, content_type: str) -> None:
    SOURCES[source].check_content_type(content_type)  # type: ignore[index]


@pytest.mark.parametrize(
    ("source", "content_type", "message"),
    [
        ("alertmanager", "text/plain",
         "unsupported Content-Type 'text/plain': the alertmanager endpoint accepts "
         "application/json"),
        ("alertmanager", "application/x-www-form-urlencoded",
         "unsupported Content-Type 'application/x-www-form-urlencoded': the alertmanager endpoint "
         "accepts application/json"),
        ("grafana", "", "missing Content-Type: the grafana endpoint accepts application/json"),
        ("github", "multipart/form-data; boundary=x",
         "unsupported Content-Type 'multipart/form-data': the github endpoint accepts "
         "application/json or application/x-www-form-urlencoded"),
    ],
    ids=["am-text", "am-form", "grafana-missing", "github-multipart"],
)  # fmt: skip
def test_other_content_types_are_refused_naming_what_is_accepted(
    source: str, content_type: str, message: str
) -> None:
    with pytest.raises(UnsupportedMediaType) as caught:
        SOURCES[source].check_content_type(content_type)  # type: ignore[index]
    assert str(caught.value) == message


def test_build_sources_gives_one_source_per_sender_named_after_it() -> None:
    assert {name: type(source) for name, source in SOURCES.items()} == {
        "alertmanager": AlertmanagerSource,
        "grafana": GrafanaSource,
        "github": GithubSource,
    }
    assert all(name == source.name for name, source in SOURCES.items())
    assert not any(source.auth_configured for source in SOURCES.values())


def test_build_sources_reports_which_sources_have_credentials() -> None:
    config = SourcesConfig(
        alertmanager={"auth": AuthConfig(bearer_token=SecretStr("t"))},
        grafana=GrafanaSourceConfig(hmac=GrafanaHmacConfig(secret=SecretStr("s"))),
        github=GithubSourceConfig(secret=SecretStr("g")),
    )
    assert {name: s.auth_configured for name, s in build_sources(config).items()} == {
        "alertmanager": True,
        "grafana": True,
        "github": True,
    }
