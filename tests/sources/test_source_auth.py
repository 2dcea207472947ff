import base64

import pytest
from fixture_files import load_fixture, load_fixture_json
from multidict import CIMultiDict
from pydantic import SecretStr

from bridge.config.schema import (
    AuthConfig,
    BasicAuth,
    GithubSourceConfig,
    GrafanaHmacConfig,
    GrafanaSourceConfig,
)
from bridge.errors import AuthError
from bridge.sources.auth import (
    GrafanaSignatureCheck,
    compile_header_check,
    hmac_sha256_hex,
    verify_github_signature,
)
from bridge.sources.github import GithubSource
from bridge.sources.grafana import GrafanaSource

VECTORS = load_fixture_json("signature_vectors.json")
TOKEN = "s3cret-token-value"
PASSWORD = "pa55-word-value"


def _basic(username: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{username}:{password}".encode()).decode()


def _headers(**values: str) -> CIMultiDict[str]:
    return CIMultiDict((name.replace("_", "-"), value) for name, value in values.items())


BEARER = compile_header_check(AuthConfig(bearer_token=SecretStr(TOKEN)))
BASIC = compile_header_check(
    AuthConfig(basic=BasicAuth(username="grafana", password=SecretStr(PASSWORD)))
)


@pytest.mark.parametrize(
    "authorization",
    [f"Bearer {TOKEN}", f"bearer {TOKEN}", f"  Bearer   {TOKEN}  "],
    ids=["canonical", "scheme-case-insensitive", "extra-spaces"],
)
def test_right_bearer_token_is_accepted(authorization: str) -> None:
    assert BEARER is not None
    BEARER.check(_headers(authorization=authorization))


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing Authorization header"),
        ({"authorization": ""}, "missing Authorization header"),
        ({"authorization": "Bearer nope"}, "wrong bearer token"),
        ({"authorization": f"Bearer {TOKEN}x"}, "wrong bearer token"),
        ({"authorization": _basic("a", TOKEN)}, "Authorization header must use the Bearer scheme"),
    ],
    ids=["missing", "empty", "wrong", "token-prefix-only", "basic-instead"],
)
def test_bad_bearer_credentials_are_refused_without_echoing_secrets(
    headers: dict[str, str], message: str
) -> None:
    assert BEARER is not None
    with pytest.raises(AuthError) as caught:
        BEARER.check(_headers(**headers))
    assert str(caught.value) == message
    assert TOKEN not in str(caught.value)


def test_right_basic_credentials_are_accepted() -> None:
    assert BASIC is not None
    BASIC.check(_headers(authorization=_basic("grafana", PASSWORD)))


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (_basic("grafana", "wrong"), "wrong username or password"),
        (_basic("other", PASSWORD), "wrong username or password"),
        ("Basic !!!not-base64!!!", "malformed Basic credentials: not base64"),
        ("Basic " + base64.b64encode(b"no-colon").decode(), "malformed Basic credentials: no ':'"),
        (f"Bearer {PASSWORD}", "Authorization header must use the Basic scheme"),
    ],
    ids=["wrong-password", "wrong-username", "not-base64", "no-colon", "bearer-instead"],
)
def test_bad_basic_credentials_are_refused(authorization: str, message: str) -> None:
    assert BASIC is not None
    with pytest.raises(AuthError, match=message) as caught:
        BASIC.check(_headers(authorization=authorization))
    assert PASSWORD not in str(caught.value)


def test_auth_block_without_credentials_compiles_to_no_check() -> None:
    assert compile_header_check(None) is None
    assert compile_header_check(AuthConfig()) is None


def _github_vector_body(vector: dict[str, object]) -> bytes:
    if "payload_file" in vector:
        body = load_fixture(str(vector["payload_file"]))
        assert len(body) == vector["payload_bytes"]
        return body
    return str(vector["payload"]).encode()


def _vector_ids(vectors: list[dict[str, str]]) -> list[str]:
    return [v.get("payload_file", v["kind"]) for v in vectors]


GITHUB_SHA256_VECTORS = [v for v in VECTORS["github"] if "X-Hub-Signature-256" in v]


@pytest.mark.parametrize("vector", GITHUB_SHA256_VECTORS, ids=_vector_ids(GITHUB_SHA256_VECTORS))
def test_github_signature_vectors_verify(vector: dict[str, str]) -> None:
    body = _github_vector_body(vector)
    headers = _headers(X_Hub_Signature_256=vector["X-Hub-Signature-256"])
    verify_github_signature(vector["secret"].encode(), headers, body)
    with pytest.raises(AuthError, match="X-Hub-Signature-256 does not match the body"):
        verify_github_signature(vector["secret"].encode(), headers, body + b" ")
    with pytest.raises(AuthError, match="does not match"):
        verify_github_signature(b"another secret", headers, body)


GITHUB_SHA1_VECTORS = [v for v in VECTORS["github"] if "X-Hub-Signature" in v]


@pytest.mark.parametrize("vector", GITHUB_SHA1_VECTORS, ids=_vector_ids(GITHUB_SHA1_VECTORS))
def test_legacy_sha1_signature_alone_is_refused(vector: dict[str, str]) -> None:
    headers = _headers(X_Hub_Signature=vector["X-Hub-Signature"])
    with pytest.raises(AuthError, match=r"missing X-Hub-Signature-256 header \(the SHA-1"):
        verify_github_signature(vector["secret"].encode(), headers, _github_vector_body(vector))


# GitHub's documented example: secret "It's a Secret to Everybody", body "Hello, World!".
GITHUB_DOC_DIGEST = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({}, "missing X-Hub-Signature-256 header"),
        ({"X_Hub_Signature_256": "757107ea0eb2"}, "must look like sha256=<hex digest>"),
        ({"X_Hub_Signature_256": "sha1=01dc10d0c8"}, "must look like sha256=<hex digest>"),
        ({"X_Hub_Signature_256": "sha256=zz"}, "does not match the body"),
        ({"X_Hub_Signature_256": "sha256="}, "does not match the body"),
        ({"X_Hub_Signature_256": "sha256=757107ea0eb2"}, "does not match the body"),
        ({"X_Hub_Signature_256": "sha256=" + GITHUB_DOC_DIGEST[:-1]}, "does not match the body"),
    ],
    ids=[
        "missing",
        "no-prefix",
        "sha1-prefix",
        "garbage-digest",
        "empty-digest",
        "digest-prefix",
        "digest-one-short",
    ],
)
def test_bad_github_signature_headers_are_refused(headers: dict[str, str], message: str) -> None:
    with pytest.raises(AuthError, match=message):
        verify_github_signature(
            b"It's a Secret to Everybody", _headers(**headers), b"Hello, World!"
        )


def test_github_source_checks_signature_only_when_a_secret_is_set() -> None:
    vector = VECTORS["github"][0]
    signed = GithubSource(GithubSourceConfig(secret=SecretStr(vector["secret"])))
    unsigned = GithubSource(GithubSourceConfig())
    assert signed.auth_configured and not unsigned.auth_configured
    body = vector["payload"].encode()
    signed.authenticate(_headers(X_Hub_Signature_256=vector["X-Hub-Signature-256"]), body, 0.0)
    unsigned.authenticate(_headers(), body, 0.0)
    with pytest.raises(AuthError, match="missing X-Hub-Signature-256 header"):
        signed.authenticate(_headers(), body, 0.0)


def _grafana_check(vector: dict[str, object], max_age: float = 300.0) -> GrafanaSignatureCheck:
    return GrafanaSignatureCheck.from_config(
        GrafanaHmacConfig(
            secret=SecretStr(str(vector["secret"])),
            timestamp_header="X-Grafana-Alerting-Timestamp" if vector["timestamp"] else None,
            max_age=max_age,
        )
    )


def _grafana_vector_body(vector: dict[str, object]) -> bytes:
    if "body_file" in vector:
        body = load_fixture(str(vector["body_file"]))
        assert len(body) == vector["payload_bytes"]
        return body
    return str(vector["body"]).encode()


def _grafana_headers(vector: dict[str, object], signature: str | None = None) -> CIMultiDict[str]:
    headers = _headers(X_Grafana_Alerting_Signature=signature or str(vector["signature_hex"]))
    if vector["timestamp"]:
        headers["X-Grafana-Alerting-Timestamp"] = str(vector["timestamp"])
    return headers


GRAFANA_VECTORS = VECTORS["grafana"]
GRAFANA_IDS = [str(v.get("body_file") or f"ts-{v['timestamp']}") for v in GRAFANA_VECTORS]


@pytest.mark.parametrize("vector", GRAFANA_VECTORS, ids=GRAFANA_IDS)
def test_grafana_signature_vectors_verify(vector: dict[str, object]) -> None:
    check = _grafana_check(vector)
    now = float(vector["timestamp"] or 0) + 10
    body = _grafana_vector_body(vector)
    check.check(_grafana_headers(vector), body, now)
    check.check(_grafana_headers(vector, str(vector["signature_hex"]).upper()), body, now)
    with pytest.raises(AuthError, match="X-Grafana-Alerting-Signature does not match the body"):
        check.check(_grafana_headers(vector), body + b"\n", now)


@pytest.mark.parametrize("kept", [1, 32, 63], ids=["one-character", "half", "one-short"])
@pytest.mark.parametrize("vector", GRAFANA_VECTORS, ids=GRAFANA_IDS)
def test_grafana_signature_cut_short_is_refused(vector: dict[str, object], kept: int) -> None:
    """Only the whole digest proves the body: a prefix of the right one is no signature."""
    prefix = str(vector["signature_hex"])[:kept]
    now = float(vector["timestamp"] or 0) + 10
    with pytest.raises(AuthError, match="X-Grafana-Alerting-Signature does not match the body"):
        _grafana_check(vector).check(
            _grafana_headers(vector, prefix), _grafana_vector_body(vector), now
        )


def test_grafana_signature_over_timestamp_fails_when_the_timestamp_is_changed() -> None:
    vector = GRAFANA_VECTORS[1]
    headers = _grafana_headers(vector)
    headers["X-Grafana-Alerting-Timestamp"] = "1"
    with pytest.raises(AuthError, match="does not match the body"):
        _grafana_check(vector).check(headers, b"test message", 5.0)


@pytest.mark.parametrize(
    ("now", "message"),
    [
        (301.0, r"X-Grafana-Alerting-Timestamp is 301s old \(at most 300s\)"),
        (-301.0, r"X-Grafana-Alerting-Timestamp is 301s in the future \(at most 300s\)"),
    ],
    ids=["too-old", "too-far-in-the-future"],
)
def test_grafana_signature_outside_the_freshness_window_is_refused(
    now: float, message: str
) -> None:
    vector = GRAFANA_VECTORS[1]  # signed at Unix 0
    check = _grafana_check(vector)
    check.check(_grafana_headers(vector), b"test message", 300.0)
    with pytest.raises(AuthError, match=message):
        check.check(_grafana_headers(vector), b"test message", now)


@pytest.mark.parametrize(
    ("headers", "message"),
    [
        ({"X_Grafana_Alerting_Timestamp": "0"}, "missing X-Grafana-Alerting-Signature header"),
        ({"X_Grafana_Alerting_Signature": "ab"}, "missing X-Grafana-Alerting-Timestamp header"),
        (
            {"X_Grafana_Alerting_Signature": "ab", "X_Grafana_Alerting_Timestamp": "-5"},
            "X-Grafana-Alerting-Timestamp must be Unix seconds",
        ),
        (
            {"X_Grafana_Alerting_Signature": "ab", "X_Grafana_Alerting_Timestamp": "1e9"},
            "X-Grafana-Alerting-Timestamp must be Unix seconds",
        ),
    ],
    ids=["no-signature", "no-timestamp", "negative-timestamp", "float-timestamp"],
)
def test_grafana_signature_headers_missing_or_malformed_are_refused(
    headers: dict[str, str], message: str
) -> None:
    with pytest.raises(AuthError, match=message):
        _grafana_check(GRAFANA_VECTORS[1]).check(_headers(**headers), b"test message", 0.0)


@pytest.mark.parametrize(
    ("timestamp", "signed"),
    [("9" * 5000, False), ("9" * 400, True), ("9" * 13, True)],
    ids=["5000-digits-unsigned", "400-digits-signed", "13-digits-signed"],
)
def test_grafana_timestamp_of_too_many_digits_is_refused_as_not_unix_seconds(
    timestamp: str, signed: bool
) -> None:
    """Before the fix, int() raised on 5000 digits and a signed 400-digit one overflowed
    `now - timestamp`: a 500, the first one without any credentials."""
    body = b"test message"
    signature = hmac_sha256_hex(b"secret", f"{timestamp}:".encode() + body) if signed else "ab"
    headers = _headers(
        X_Grafana_Alerting_Signature=signature, X_Grafana_Alerting_Timestamp=timestamp
    )
    with pytest.raises(AuthError, match="X-Grafana-Alerting-Timestamp must be Unix seconds"):
        _grafana_check(GRAFANA_VECTORS[1]).check(headers, body, 1_700_000_000.0)


def test_grafana_with_auth_and_hmac_requires_both() -> None:
    vector = GRAFANA_VECTORS[0]
    source = GrafanaSource(
        GrafanaSourceConfig(
            auth=AuthConfig(bearer_token=SecretStr(TOKEN)),
            hmac=GrafanaHmacConfig(secret=SecretStr(str(vector["secret"]))),
        )
    )
    signed = _grafana_headers(vector)
    body = b"test message"
    with pytest.raises(AuthError, match="missing Authorization header"):
        source.authenticate(signed, body, 0.0)
    signed["Authorization"] = f"Bearer {TOKEN}"
    source.authenticate(signed, body, 0.0)
    with pytest.raises(AuthError, match="missing X-Grafana-Alerting-Signature header"):
        source.authenticate(_headers(authorization=f"Bearer {TOKEN}"), body, 0.0)


def test_signature_errors_never_contain_the_secret() -> None:
    secret = "hmac-s3cret-value-XYZ"
    check = _grafana_check({"secret": secret, "timestamp": "0"})
    headers = _headers(X_Grafana_Alerting_Signature="00", X_Grafana_Alerting_Timestamp="0")
    with pytest.raises(AuthError) as caught:
        check.check(headers, b"test message", 0.0)
    assert secret not in str(caught.value)
