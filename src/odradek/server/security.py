"""The broker's security: its listeners with their TLS contexts and SASL mechanisms, the SCRAM
credentials it checks logins against, the authorizer, and the credentials it uses itself towards
other brokers. Built from Kafka's settings at start-up; a bad setting is a ConfigError that stops
the broker with a message naming it.

Per connection, :class:`SaslSession` is Kafka's SaslServerAuthenticator: before a SASL connection is
authenticated it takes at most one ApiVersions, then SaslHandshake, then SaslAuthenticate exchanges;
anything else closes it. Re-authentication (KIP-368) runs on an authenticated connection when its
session expires (``connections.max.reauth.ms``, or an OAUTHBEARER token's expiry).
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING, Any

from ..config import ConfigError
from ..protocol.errors import ErrorCode
from ..security import acl, jaas, listeners as L, oauth, sasl, scram, tls

if TYPE_CHECKING:
    from .broker import Broker

log = logging.getLogger("odradek.security")

OAUTH_VALIDATOR_CLASSES = (
    "org.apache.kafka.common.security.oauthbearer.OAuthBearerValidatorCallbackHandler",
    "org.apache.kafka.common.security.oauthbearer.secured.OAuthBearerValidatorCallbackHandler",
)
AUTHORIZER_CLASSES = (
    "kafka.security.authorizer.AclAuthorizer",
    "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
    "kafka.security.auth.SimpleAclAuthorizer",
)
ANONYMOUS = "User:ANONYMOUS"


class ListenerSecurity:
    """What one listener needs: its TLS context, its SASL mechanisms, its principal mapping."""

    def __init__(self, manager: "SecurityManager", listener: L.Listener) -> None:
        self.manager = manager
        self.listener = listener
        values = manager.values
        name = listener.name

        def get(key: str, mechanism: str | None = None, fallback: bool = True):
            return L.setting(values, name, key, mechanism, fallback)

        self.get = get
        self.ssl_context = None
        self.mapping_rules = tls.parse_mapping_rules(get("ssl.principal.mapping.rules"))
        if listener.tls:
            # ssl.client.auth on a SASL_SSL listener counts only listener-prefixed (KIP-684)
            auth_key = "ssl.client.auth"
            settings = tls.Settings(lambda k: get(k, fallback=not (listener.sasl and k == auth_key)))
            try:
                self.ssl_context = tls.server_context(settings)
            except tls.TlsConfigError as e:
                raise ConfigError(f"listener {name}: {e}") from None
        self.mechanisms: list[str] = []
        self.plain_users: dict[str, str] = {}
        self.oauth_validator = None
        self.reauth_ms = int(get("connections.max.reauth.ms") or 0)
        if listener.sasl:
            raw = get("sasl.enabled.mechanisms") or "GSSAPI"
            mechs = [m.strip() for m in str(raw).split(",") if m.strip()]
            bad = [m for m in mechs if m not in sasl.MECHANISMS]
            if bad or not mechs:
                raise ConfigError(
                    f"listener {name}: sasl.enabled.mechanisms={raw}: Odradek supports {', '.join(sasl.MECHANISMS)}"
                    + (" (GSSAPI/Kerberos is not supported)" if "GSSAPI" in bad else ""))
            self.mechanisms = mechs
            if "PLAIN" in mechs:
                conf = get("sasl.jaas.config", "PLAIN")
                if not conf:
                    raise ConfigError(f"listener {name}: PLAIN needs listener.name.{name.lower()}.plain.sasl.jaas.config "
                                      "with user_<name>=\"<password>\" options")
                try:
                    opts = jaas.options(str(conf))
                except jaas.JaasError as e:
                    raise ConfigError(f"listener {name}: plain.sasl.jaas.config: {e}") from None
                self.plain_users = {k[5:]: v for k, v in opts.items() if k.startswith("user_")}
            if "OAUTHBEARER" in mechs:
                self.oauth_validator = self._oauth_validator()

    def _oauth_validator(self):
        get = self.get
        handler = get("sasl.server.callback.handler.class", "OAUTHBEARER")
        if handler and str(handler) in OAUTH_VALIDATOR_CLASSES:
            url = get("sasl.oauthbearer.jwks.endpoint.url", "OAUTHBEARER")
            if not url:
                raise ConfigError(f"listener {self.listener.name}: the OAUTHBEARER validator needs "
                                  "sasl.oauthbearer.jwks.endpoint.url")
            aud = get("sasl.oauthbearer.expected.audience", "OAUTHBEARER")
            try:
                return oauth.JwksValidator(
                    str(url),
                    audience=[a.strip() for a in str(aud or "").split(",") if a.strip()],
                    issuer=get("sasl.oauthbearer.expected.issuer", "OAUTHBEARER"),
                    sub_claim=str(get("sasl.oauthbearer.sub.claim.name", "OAUTHBEARER") or "sub"),
                    scope_claim=str(get("sasl.oauthbearer.scope.claim.name", "OAUTHBEARER") or "scope"),
                    skew_s=int(get("sasl.oauthbearer.clock.skew.seconds", "OAUTHBEARER") or 30),
                )
            except (ValueError, oauth.TokenError) as e:
                raise ConfigError(f"listener {self.listener.name}: {e}") from None
        if handler:
            raise ConfigError(f"listener {self.listener.name}: sasl.server.callback.handler.class={handler} is not "
                              f"supported (use {OAUTH_VALIDATOR_CLASSES[0]}, or none for unsecured tokens)")
        conf = get("sasl.jaas.config", "OAUTHBEARER")
        try:
            opts = jaas.options(str(conf)) if conf else {}
        except jaas.JaasError as e:
            raise ConfigError(f"listener {self.listener.name}: oauthbearer.sasl.jaas.config: {e}") from None
        log.warning("listener %s accepts unsigned OAUTHBEARER tokens (the unsecured validator): for tests only",
                    self.listener.name)
        return oauth.UnsecuredValidator(opts)

    def server_mechanism(self, mechanism: str) -> sasl.ServerMechanism:
        if mechanism == "PLAIN":
            return sasl.PlainServer(self.plain_users)
        if mechanism in scram.MECHANISMS:
            return sasl.ScramServerMechanism(mechanism, lambda user: self.manager.scram_credential(user, mechanism))
        return sasl.OAuthBearerServer(self.oauth_validator)

    def ssl_principal(self, ssl_object) -> str:
        """``User:<mapped DN>`` of the verified client certificate, else ANONYMOUS."""
        der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        if not der:
            return ANONYMOUS
        return "User:" + tls.map_principal(tls.subject_dn(der), self.mapping_rules)


class SecurityManager:
    def __init__(self, broker: "Broker") -> None:
        self.broker = broker
        self.values = _Values(broker.config)
        get = self.values.get
        try:
            self.listeners = L.parse(get)
        except L.ListenerError as e:
            raise ConfigError(str(e)) from None
        try:
            self.inter_broker = L.inter_broker(get, self.listeners)
        except L.ListenerError as e:
            if get("zookeeper.connect"):
                raise ConfigError(str(e)) from None
            # a single node talks to no other broker: no inter-broker listener is needed
            self.inter_broker = self.listeners[0]
        self.by_name = {lst.name: ListenerSecurity(self, lst) for lst in self.listeners}
        self.sasl_max_receive = int(get("sasl.server.max.receive.size") or 524288)
        self.failed_auth_delay_ms = int(get("connection.failed.authentication.delay.ms") or 100)
        self._scram: dict[str, dict[str, scram.ScramCredential]] = {}
        self._scram_version = -1
        self._acl_version = -1
        authorizer = str(get("authorizer.class.name") or "").strip()
        self.authorizer: acl.Authorizer | None = None
        if authorizer:
            if authorizer not in AUTHORIZER_CLASSES:
                raise ConfigError(f"authorizer.class.name={authorizer}: Odradek's built-in authorizer stands for "
                                  f"{', '.join(AUTHORIZER_CLASSES[:2])}; other authorizers are not supported")
            allow = str(get("allow.everyone.if.no.acl.found") or "false").strip().lower()
            if allow not in ("true", "false"):
                raise ConfigError(f"allow.everyone.if.no.acl.found={allow}: expected true or false")
            self.authorizer = acl.Authorizer(acl.parse_super_users(get("super.users")), allow == "true")
        elif get("super.users"):
            raise ConfigError("super.users is set but authorizer.class.name is not: nothing would enforce ACLs")
        self.client_settings = self._inter_broker_client()

    # --- ACLs --------------------------------------------------------------------------------------

    def refresh_acls(self) -> None:
        """Take the store's ACLs into the authorizer when they changed (cheap when they did not)."""
        if self.authorizer is None:
            return
        store = self.broker.store
        version = getattr(store, "acl_version", 0)
        if version == self._acl_version:
            return
        bindings = set()
        for d in store.acls():
            try:
                bindings.add(acl.AclBinding.from_json(d))
            except (KeyError, TypeError):
                log.warning("ignoring a malformed ACL in the metadata store: %r", d)
        self.authorizer.set_acls(bindings)
        self._acl_version = version

    # --- SCRAM credentials -------------------------------------------------------------------------

    def scram_credential(self, user: str, mechanism: str) -> scram.ScramCredential | None:
        self._refresh_scram()
        return self._scram.get(user, {}).get(mechanism)

    def _refresh_scram(self) -> None:
        store = self.broker.store
        version = getattr(store, "scram_version", store.version)
        if version == self._scram_version:
            return
        creds: dict[str, dict[str, scram.ScramCredential]] = {}
        for user, mechs in store.scram_credentials().items():
            for mech, text in mechs.items():
                try:
                    creds.setdefault(user, {})[mech] = scram.ScramCredential.from_kafka(text)
                except ValueError:
                    log.warning("ignoring a malformed %s credential for user %r", mech, user)
        self._scram = creds
        self._scram_version = version

    # --- talking to other brokers ------------------------------------------------------------------

    def _inter_broker_client(self) -> dict[str, Any]:
        """ssl context and SASL credentials this broker uses towards the inter-broker listener."""
        lst = self.inter_broker
        out: dict[str, Any] = {"listener": lst.name, "ssl": None, "sasl": None}
        if lst.tls:
            s = tls.Settings(lambda k: L.setting(self.values, lst.name, k))
            try:
                out["ssl"] = tls.client_context(s)
            except tls.TlsConfigError as e:
                raise ConfigError(f"inter-broker listener {lst.name}: {e}") from None
        if lst.sasl:
            mech = str(self.values.get("sasl.mechanism.inter.broker.protocol") or "GSSAPI")
            if mech not in sasl.MECHANISMS:
                raise ConfigError(f"sasl.mechanism.inter.broker.protocol={mech}: Odradek supports {', '.join(sasl.MECHANISMS)}")
            conf = L.setting(self.values, lst.name, "sasl.jaas.config", mech)
            opts = jaas.options(str(conf)) if conf else {}
            if mech == "OAUTHBEARER":
                principal = opts.get("unsecuredLoginStringClaim_sub") or f"broker-{self.broker.broker_id}"
                creds = sasl.ClientCredentials(mech, token=lambda: oauth.unsecured_token(principal))
            else:
                if "username" not in opts or "password" not in opts:
                    raise ConfigError(f"inter-broker listener {lst.name}: {mech.lower()}.sasl.jaas.config needs "
                                      "username and password options for the broker's own login")
                creds = sasl.ClientCredentials(mech, opts["username"], opts["password"])
            out["sasl"] = creds
        return out

    def listener_for(self, name: str) -> ListenerSecurity:
        return self.by_name[name]


class _Values:
    """Raw settings by Kafka name (static overrides, then dynamic), for prefixed lookups."""

    def __init__(self, config) -> None:
        self.config = config

    def get(self, key: str, default: Any = None) -> Any:
        if key in self.config.dynamic:
            v = self.config.dynamic[key]
        elif key in self.config.values:
            v = self.config.values[key]
        else:
            v = self.config.get(key)
        return default if v is None else v


# --- one connection's authentication -----------------------------------------------------------------

INITIAL, HANDSHAKE_OR_VERSIONS, HANDSHAKE, AUTHENTICATE, COMPLETE, FAILED = range(6)
PRE_AUTH_APIS = (17, 18, 36)  # SaslHandshake, ApiVersions, SaslAuthenticate


class SaslSession:
    def __init__(self, listener: ListenerSecurity) -> None:
        self.listener = listener
        self.state = INITIAL
        self.mechanism: sasl.ServerMechanism | None = None
        self.mechanism_name: str | None = None
        self.raw_tokens = False  # SaslHandshake v0: tokens come as bare frames
        self.principal: str | None = None
        self.expires_at: float | None = None  # monotonic seconds
        self.reauth_started = 0.0
        self.reauthenticating = False
        self.failure: str | None = None

    @property
    def authenticated(self) -> bool:
        return self.principal is not None and not self.reauthenticating

    def expired(self) -> bool:
        return self.expires_at is not None and time.monotonic() >= self.expires_at

    def check_request(self, api_key: int) -> str | None:
        """Before authentication: None when ``api_key`` may be sent now, else why the connection
        closes (without a response, as Kafka does)."""
        if self.state == COMPLETE and not self.reauthenticating:
            return None
        if api_key == 18:
            if self.state in (INITIAL, HANDSHAKE_OR_VERSIONS):
                return None
            return "a second ApiVersions before authentication"
        if api_key == 17:
            return None if self.state in (INITIAL, HANDSHAKE_OR_VERSIONS, HANDSHAKE) or self.reauthenticating else \
                "SaslHandshake out of turn"
        if api_key == 36:
            return None if self.state == AUTHENTICATE else "SaslAuthenticate before SaslHandshake"
        return f"api key {api_key} before authentication"

    def versions_answered(self) -> None:
        if self.state in (INITIAL, HANDSHAKE_OR_VERSIONS):
            self.state = HANDSHAKE

    def handshake(self, mechanism: str, version: int) -> ErrorCode:
        enabled = self.listener.mechanisms
        if self.reauthenticating and mechanism != self.mechanism_name:
            self.failure = "re-authentication must use the same mechanism"
            return ErrorCode.sasl_authentication_failed
        if mechanism not in enabled:
            self.state = FAILED
            self.failure = f"unsupported SASL mechanism {mechanism!r}"
            return ErrorCode.unsupported_sasl_mechanism
        self.mechanism_name = mechanism
        self.mechanism = self.listener.server_mechanism(mechanism)
        self.raw_tokens = version == 0
        self.state = AUTHENTICATE
        return ErrorCode.none

    def start_reauth(self) -> bool:
        """A SaslHandshake on an authenticated connection: re-authentication when the session has
        an expiry and at least a second went by since the last one."""
        if self.state != COMPLETE or self.expires_at is None or time.monotonic() - self.reauth_started < 1.0:
            return False
        self.reauthenticating = True
        self.reauth_started = time.monotonic()
        return True

    def step(self, token: bytes) -> bytes:
        """One token; raises sasl.AuthenticationFailed. Sets the principal once complete."""
        assert self.mechanism is not None
        reply = self.mechanism.step(token)
        if self.mechanism.complete:
            principal = "User:" + self.mechanism.principal
            if self.reauthenticating and principal != self.principal:
                raise sasl.AuthenticationFailed("cannot change principals during re-authentication")
            self.principal = principal
            self.state = COMPLETE
            self.reauthenticating = False
            lifetime = self.session_lifetime_ms()
            self.expires_at = time.monotonic() + lifetime / 1000 if lifetime else None
        return reply

    def session_lifetime_ms(self) -> int:
        """min(connections.max.reauth.ms, credential expiry) — 0 when neither applies."""
        limits = []
        if self.listener.reauth_ms > 0:
            limits.append(self.listener.reauth_ms)
        exp = getattr(self.mechanism, "expires_ms", None)
        if exp:
            limits.append(max(exp - int(time.time() * 1000), 1))
        return min(limits) if limits else 0
