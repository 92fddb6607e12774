//! Gateways built from configuration: `payments.gateways.<name> = { kind = "…", … }`.
//!
//! Each kind of gateway is a type implementing [`GatewayKind`]: its `KIND` (the `kind` value in
//! the configuration), its settings (a `serde` struct with `deny_unknown_fields`, so a typo in a
//! gateway's section is an error naming the key) and how to build the gateway from them.
//! [`GatewayKinds::builtin`] lists the kinds this service knows, one line each.
//!
//! Two keys of a section are the registry's, not the kind's: `kind` and `enabled` (default
//! `true`; `false` leaves the gateway out, so a profile or an environment variable can switch
//! a gateway declared in `default.toml` on or off).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use ports::payment_gateway::{PaymentGateway, PaymentGateways};
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::http::InvalidGatewayConfig;

/// What every gateway may need from the service besides its own settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GatewayContext {
    /// The service's own public address (`server.public_base_url`).
    pub public_base_url: String,
}

/// A kind of gateway: how one is built from its configuration section.
pub trait GatewayKind {
    /// The `kind` value selecting this type in `payments.gateways.<name>`.
    const KIND: &'static str;
    /// The section's keys (without `kind` and `enabled`). Use `#[serde(deny_unknown_fields)]`.
    type Settings: DeserializeOwned;

    /// Builds the gateway registered under `name`.
    ///
    /// # Errors
    /// Settings the gateway cannot work with (a bad URL, a short secret), explained.
    fn build(
        name: &str,
        settings: Self::Settings,
        context: &GatewayContext,
    ) -> Result<Arc<dyn PaymentGateway>, InvalidGatewayConfig>;
}

/// The call budget of a gateway reached over the network: the `resilience` sub-table of its
/// section (`[payments.gateways.<name>.resilience]`); every key is optional.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ResilienceSettings {
    /// Per attempt, connection included.
    pub timeout_ms: u64,
    /// Retries after the first attempt of a call that failed in transport.
    pub max_retries: u32,
    /// Consecutive unavailable calls that open the circuit (0 disables the breaker).
    pub breaker_threshold: u32,
    /// How long an open circuit fails fast before letting one probe through.
    pub breaker_cooldown_seconds: u64,
}

impl Default for ResilienceSettings {
    fn default() -> Self {
        Self {
            timeout_ms: 5000,
            max_retries: 2,
            breaker_threshold: 5,
            breaker_cooldown_seconds: 30,
        }
    }
}

impl ResilienceSettings {
    /// The per-attempt timeout; a zero one is refused.
    ///
    /// # Errors
    /// `timeout_ms` is 0.
    pub fn timeout(&self) -> Result<Duration, InvalidGatewayConfig> {
        if self.timeout_ms == 0 {
            return Err(InvalidGatewayConfig(
                "resilience.timeout_ms must be ≥ 1".to_owned(),
            ));
        }
        Ok(Duration::from_millis(self.timeout_ms))
    }

    #[must_use]
    pub const fn breaker_cooldown(&self) -> Duration {
        Duration::from_secs(self.breaker_cooldown_seconds)
    }
}

type Builder =
    fn(&str, Value, &GatewayContext) -> Result<Arc<dyn PaymentGateway>, InvalidGatewayConfig>;

fn build_kind<K: GatewayKind>(
    name: &str,
    settings: Value,
    context: &GatewayContext,
) -> Result<Arc<dyn PaymentGateway>, InvalidGatewayConfig> {
    let settings: K::Settings =
        serde_json::from_value(settings).map_err(|e| InvalidGatewayConfig(e.to_string()))?;
    K::build(name, settings, context)
}

/// The kinds of gateway this service can build, by `kind`.
#[derive(Clone, Default)]
pub struct GatewayKinds {
    builders: BTreeMap<&'static str, Builder>,
}

impl std::fmt::Debug for GatewayKinds {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.builders.keys()).finish()
    }
}

impl GatewayKinds {
    /// The kinds shipped with the service. A new gateway adds its line here.
    #[must_use]
    pub fn builtin() -> Self {
        Self::default()
            .with::<crate::sandbox::SandboxGateway>()
            .with::<crate::http::HttpPaymentGateway>()
            .with::<crate::yookassa::YooKassaGateway>()
    }

    /// Adds (or replaces) the kind `K::KIND`.
    #[must_use]
    pub fn with<K: GatewayKind>(mut self) -> Self {
        self.builders.insert(K::KIND, build_kind::<K>);
        self
    }

    #[must_use]
    pub fn kinds(&self) -> Vec<&'static str> {
        self.builders.keys().copied().collect()
    }

    /// Builds the enabled gateways of `sections` (name → section) into a registry whose
    /// default is `default`.
    ///
    /// # Errors
    /// The first problem, naming its key (`payments.gateways.<name>…` or
    /// `payments.default_gateway`).
    pub fn build_all(
        &self,
        sections: &BTreeMap<String, Value>,
        default: &str,
        context: &GatewayContext,
    ) -> Result<PaymentGateways, InvalidGatewayConfig> {
        let mut built = Vec::new();
        for (name, section) in sections {
            if let Some(gateway) = self.build(name, section, context)? {
                built.push(gateway);
            }
        }
        let Some(position) = built.iter().position(|g| g.name() == default) else {
            return Err(InvalidGatewayConfig(format!(
                "payments.default_gateway: `{default}` is not an enabled gateway of \
                 payments.gateways (enabled: {})",
                built
                    .iter()
                    .map(|g| g.name().to_owned())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        };
        let mut registry = PaymentGateways::new(built.remove(position));
        for gateway in built {
            registry = registry.register(gateway);
        }
        Ok(registry)
    }

    /// Builds one gateway; `None` when its section says `enabled = false`.
    ///
    /// # Errors
    /// An unknown or missing `kind`, a key the kind does not know, a value it refuses.
    pub fn build(
        &self,
        name: &str,
        section: &Value,
        context: &GatewayContext,
    ) -> Result<Option<Arc<dyn PaymentGateway>>, InvalidGatewayConfig> {
        let key = format!("payments.gateways.{name}");
        let fail = |why: String| InvalidGatewayConfig(format!("{key}: {why}"));
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
        {
            return Err(fail(
                "a gateway name is lowercase letters, digits, `_` and `-`".to_owned(),
            ));
        }
        let Value::Object(section) = section else {
            return Err(fail("must be a table".to_owned()));
        };
        let mut settings = section.clone();
        let kind = match settings.remove("kind") {
            Some(Value::String(kind)) => kind,
            _ => return Err(fail("`kind` (a string) is required".to_owned())),
        };
        let enabled = match settings.remove("enabled") {
            None => true,
            Some(Value::Bool(enabled)) => enabled,
            Some(_) => return Err(fail("`enabled` must be a boolean".to_owned())),
        };
        let Some(builder) = self.builders.get(kind.as_str()) else {
            return Err(fail(format!(
                "unknown kind `{kind}` (known: {})",
                self.kinds().join(", ")
            )));
        };
        if !enabled {
            return Ok(None);
        }
        let gateway = builder(name, Value::Object(settings), context).map_err(|e| fail(e.0))?;
        Ok(Some(gateway))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn context() -> GatewayContext {
        GatewayContext {
            public_base_url: "http://localhost:8080".to_owned(),
        }
    }

    fn sections(value: Value) -> BTreeMap<String, Value> {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn builds_the_enabled_gateways_with_their_names_and_the_default() {
        let registry = GatewayKinds::builtin()
            .build_all(
                &sections(json!({
                    "sandbox": {"kind": "sandbox", "webhook_secret": "secret-123"},
                    "http": {"kind": "http", "url": "http://pay:1", "webhook_secret": "s"},
                    "backup": {"kind": "http", "url": "http://pay:2", "webhook_secret": "s",
                               "resilience": {"max_retries": 0}},
                    "off": {"kind": "http", "enabled": false, "url": "http://pay:3",
                            "webhook_secret": "s"},
                })),
                "backup",
                &context(),
            )
            .unwrap();
        assert_eq!(registry.names(), ["backup", "http", "sandbox"]);
        assert_eq!(registry.default_gateway().name(), "backup");
    }

    fn error(value: Value, default: &str) -> String {
        GatewayKinds::builtin()
            .build_all(&sections(value), default, &context())
            .unwrap_err()
            .0
    }

    #[test]
    fn a_typo_an_unknown_kind_or_a_missing_default_names_the_key() {
        let typo = error(
            json!({"http": {"kind": "http", "url": "http://p", "webhook_secrt": "s"}}),
            "http",
        );
        assert!(
            typo.starts_with("payments.gateways.http: unknown field `webhook_secrt`"),
            "{typo}"
        );
        let nested = error(
            json!({"http": {"kind": "http", "url": "http://p", "webhook_secret": "s",
                            "resilience": {"timeout": 1}}}),
            "http",
        );
        assert!(nested.contains("unknown field `timeout`"), "{nested}");
        let kind = error(json!({"pp": {"kind": "paypal"}}), "pp");
        assert!(
            kind.contains("payments.gateways.pp: unknown kind `paypal`"),
            "{kind}"
        );
        assert!(error(json!({"pp": {"url": "x"}}), "pp").contains("`kind`"));
        let default = error(
            json!({"http": {"kind": "http", "url": "http://p", "webhook_secret": "s",
                            "enabled": false}}),
            "http",
        );
        assert!(
            default.starts_with("payments.default_gateway: `http`"),
            "{default}"
        );
        let name = error(
            json!({"Bad Name": {"kind": "http", "url": "http://p", "webhook_secret": "s"}}),
            "Bad Name",
        );
        assert!(name.contains("lowercase"), "{name}");
    }

    #[test]
    fn a_zero_timeout_is_refused() {
        let zero = error(
            json!({"http": {"kind": "http", "url": "http://p", "webhook_secret": "s",
                            "resilience": {"timeout_ms": 0}}}),
            "http",
        );
        assert!(zero.contains("resilience.timeout_ms"), "{zero}");
    }
}
