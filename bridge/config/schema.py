"""The configuration file's shape, as frozen pydantic models that name the field that is wrong."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    SecretStr,
    Tag,
    field_validator,
    model_validator,
)

from bridge.config.field_types import (
    Address,
    Credential,
    Duration,
    GroupInterval,
    HttpUrl,
    PositiveDuration,
    RepeatInterval,
    SignatureAge,
    by_shape,
    kind_of,
    not_a_number,
)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    @model_validator(mode="before")
    @classmethod
    def _a_mapping(cls, data: Any) -> Any:
        # Instead of pydantic's "valid dictionary or instance of RouteConfig".
        if not isinstance(data, dict | BaseModel):
            raise ValueError(f"expected a mapping (key: value), not {kind_of(data)}")
        return data


class ServerConfig(_Model):
    listen: str = "0.0.0.0:8080"
    public_url: HttpUrl | None = None
    # Alertmanager sends a whole group in one body (max_alerts 0, its default) and does not
    # retry a 4xx: a 413 loses it. ~1 KiB per alert, so 8 MiB holds some 7,000 alerts.
    max_body_bytes: int = Field(default=8 * 1024 * 1024, gt=0)
    # Protects POST /-/reload and the admin API; without it those endpoints are disabled.
    admin_token: Credential | None = None

    @field_validator("listen")
    @classmethod
    def _host_port(cls, value: str) -> str:
        _host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(f"{value!r} is not host:port (e.g. 0.0.0.0:8080)")
        return value

    @property
    def host(self) -> str:
        return self.listen.rpartition(":")[0].strip("[]") or "0.0.0.0"  # noqa: S104

    @property
    def port(self) -> int:
        return int(self.listen.rpartition(":")[2])


class BluetickConfig(_Model):
    api: Literal["legacy", "v1"] = "legacy"
    base_url: HttpUrl = "https://api.blueticks.co"
    api_key: SecretStr | None = None
    timeout: PositiveDuration = 10.0
    # Print messages instead of sending them (alertbridge demo, trying out rules).
    dry_run: bool = False
    # The legacy endpoint has no idempotency: a retry after a timeout may send twice.
    retry_unknown_outcome: bool = False
    # With backoff 1s..5m, 33 attempts keep retrying for at least an hour (at most two).
    max_attempts: int = Field(default=33, ge=1)
    backoff_initial: PositiveDuration = 1.0
    backoff_max: PositiveDuration = 300.0
    # The unguessable token in the callback URL registered with Blueticks
    # ({server.public_url}/callbacks/blueticks/{callback_token}); Blueticks does not sign.
    callback_token: SecretStr | None = None
    # Only for the legacy signed webhooks (Blueticks-Webhook-Signature); optional.
    webhook_secret: Credential | None = None
    webhook_tolerance: SignatureAge = 300.0
    # How often GET /v1/ping checks that a WhatsApp session is connected (v1 only; 0 = never).
    session_check_interval: Duration = 60.0

    @field_validator("backoff_max")
    @classmethod
    def _not_below_initial(cls, value: float, info: Any) -> float:
        initial = info.data.get("backoff_initial")
        if initial is not None and value < initial:
            raise ValueError(f"must be at least backoff_initial ({initial:g}s)")
        return value


class RateConfig(_Model):
    """A token bucket: `per_minute` messages on average, bursts of up to `burst`."""

    per_minute: float = Field(gt=0)
    burst: int = Field(ge=1)


class PacingConfig(_Model):
    """Self-imposed limits: a personal WhatsApp account gets banned for floods."""

    # Defaults a personal WhatsApp account tolerates: ~1 message / 3 s overall, 6 / min per chat.
    global_rate: RateConfig = RateConfig(per_minute=20, burst=10)
    per_recipient: RateConfig = RateConfig(per_minute=6, burst=3)
    # When this many notifications wait for one recipient, they are merged into one digest.
    digest_after: int = Field(default=5, ge=2)


class StoreConfig(_Model):
    backend: Literal["memory", "sqlite", "redis"] = "sqlite"
    path: str = "./alertbridge.db"
    url: str = "redis://127.0.0.1:6379/0"
    # Sent and merged notifications are kept this long (for explain and delivery callbacks),
    # then purged; dead letters stay until dropped or retried. Alertmanager keeps 120h.
    retention: PositiveDuration = 7 * 86400.0


class BasicAuth(_Model):
    username: str
    password: Credential


class AuthConfig(_Model):
    bearer_token: Credential | None = None
    basic: BasicAuth | None = None

    @field_validator("basic")
    @classmethod
    def _one_kind(cls, value: BasicAuth | None, info: Any) -> BasicAuth | None:
        if value is not None and info.data.get("bearer_token") is not None:
            raise ValueError("set either bearer_token or basic, not both")
        return value


class AlertmanagerSourceConfig(_Model):
    auth: AuthConfig | None = None


class GrafanaHmacConfig(_Model):
    secret: Credential
    header: str = "X-Grafana-Alerting-Signature"
    timestamp_header: str | None = None
    max_age: SignatureAge = 300.0


class GrafanaSourceConfig(_Model):
    auth: AuthConfig | None = None
    hmac: GrafanaHmacConfig | None = None


class GithubSourceConfig(_Model):
    secret: Credential | None = None


class SourcesConfig(_Model):
    alertmanager: AlertmanagerSourceConfig = AlertmanagerSourceConfig()
    grafana: GrafanaSourceConfig = GrafanaSourceConfig()
    github: GithubSourceConfig = GithubSourceConfig()


class PersonConfig(_Model):
    phone: Address


# A person ("+E164" or a WhatsApp id), {phone: ...}, or a group (a list of names and numbers).
RecipientConfig = Annotated[
    Annotated[Address, Tag("<text>")]
    | Annotated[PersonConfig, Tag("<mapping>")]
    | Annotated[list[Address], Tag("<list>")],
    Discriminator(
        by_shape("<text>", "<mapping>", "<list>"),
        custom_error_type="recipient_type",
        custom_error_message='expected a phone number ("+E164"), {phone: "+E164"} or a list '
        "of names (a group)",
    ),
    BeforeValidator(not_a_number),
]


class DefaultsConfig(_Model):
    dedupe_window: Duration = 3600.0
    send_resolved: bool = True
    # Grouping (Alertmanager's meaning), used by routes that set group_by.
    group_wait: Duration = 30.0
    group_interval: GroupInterval = 300.0
    repeat_interval: RepeatInterval = 14400.0
    # firing -> resolved -> firing within this window is reported once, as flapping.
    flap_window: Duration = 600.0


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# YAML 1.1 reads unquoted 17:00 and 1:5 as base-60 integers (1020, 65), and 5 as an integer;
# Alertmanager's examples write them unquoted, so read them back as the text that was written.
def _clock_text(value: Any) -> Any:
    return f"{value // 60:02d}:{value % 60:02d}" if _is_int(value) else value


def _range_text(value: Any) -> Any:
    if not _is_int(value):
        return value
    return f"{value // 60}:{value % 60}" if value >= 60 else str(value)


ClockText = Annotated[str, BeforeValidator(_clock_text)]
RangeText = Annotated[str, BeforeValidator(_range_text)]
YearText = Annotated[str, BeforeValidator(lambda v: str(v) if _is_int(v) else v)]


class TimeRangeConfig(_Model):
    start_time: ClockText
    end_time: ClockText


class TimeIntervalSpec(_Model):
    """One Alertmanager time_interval entry: every listed field must match (AND)."""

    times: list[TimeRangeConfig] | None = None
    weekdays: list[str] | None = None
    days_of_month: list[RangeText] | None = None
    months: list[RangeText] | None = None
    years: list[YearText] | None = None
    location: str | None = None


class TimeIntervalConfig(_Model):
    name: str = Field(min_length=1)
    time_intervals: list[TimeIntervalSpec] = []


class TemplatesConfig(_Model):
    directory: str | None = None
    # Blueticks' limit, counted in UTF-16 code units as it counts them.
    max_length: int = Field(default=4096, ge=200, le=4096)


SourceName = Literal["alertmanager", "grafana", "github"]
SourceNames = Annotated[
    Annotated[SourceName, Tag("<text>")] | Annotated[list[SourceName], Tag("<list>")],
    Discriminator(
        by_shape("<text>", "<list>"),
        custom_error_type="source_type",
        custom_error_message="expected a source (alertmanager, grafana or github) or a list",
    ),
]


class RouteConfig(_Model):
    name: str = Field(min_length=1)
    source: SourceNames | None = None
    matchers: list[str] = []
    to: list[Address] = Field(min_length=1)
    template: str | None = None
    message: str | None = None
    dedupe_window: Duration | None = None
    send_resolved: bool | None = None
    continue_: bool = Field(default=False, alias="continue")
    # Grouping: off unless group_by is set; ["..."] groups by all labels.
    group_by: list[str] | None = None
    group_wait: Duration | None = None
    group_interval: GroupInterval | None = None
    repeat_interval: RepeatInterval | None = None
    # A message over templates.max_length: one digest, or numbered parts (at most max_parts).
    overflow: Literal["digest", "split"] = "digest"
    max_parts: int = Field(default=3, ge=1, le=20)
    active_time_intervals: list[str] = []
    mute_time_intervals: list[str] = []
    # What a muted notification becomes: dropped, or held until the window ends.
    when_muted: Literal["drop", "defer"] = "drop"

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("message")
    @classmethod
    def _not_both(cls, value: str | None, info: Any) -> str | None:
        if value is not None and info.data.get("template") is not None:
            raise ValueError("set either template or message, not both")
        return value


class BridgeConfig(_Model):
    server: ServerConfig = ServerConfig()
    blueticks: BluetickConfig = BluetickConfig()
    store: StoreConfig = StoreConfig()
    sources: SourcesConfig = SourcesConfig()
    recipients: dict[str, RecipientConfig] = {}
    defaults: DefaultsConfig = DefaultsConfig()
    templates: TemplatesConfig = TemplatesConfig()
    pacing: PacingConfig = PacingConfig()
    time_intervals: list[TimeIntervalConfig] = []
    rule_files: list[str] = []
    routes: list[RouteConfig] = []
