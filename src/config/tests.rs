use super::*;
use crate::gateway::flow::{PRODUCTION_BASE_URL, SANDBOX_BASE_URL};

fn env(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let m: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| m.get(k).cloned()
}

/// Settings from `pairs` alone (no file, no flags).
fn from_env(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
    Settings::load(&Flags::default(), env(pairs))
}

/// Settings from a paylink.toml holding `text`.
fn from_file(text: &str) -> Result<Settings, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("paylink.toml");
    std::fs::write(&f, text).unwrap();
    let flags = Flags {
        config: Some(f),
        ..Flags::default()
    };
    Settings::load(&flags, env(&[]))
}

const K: (&str, &str) = ("FLOW_API_KEY", "k");
const S: (&str, &str) = ("FLOW_SECRET_KEY", "s");

#[test]
fn errors_name_the_variable() {
    let cases: &[(&[(&str, &str)], &str)] = &[
        (&[K], "FLOW_SECRET_KEY"),
        (&[S], "FLOW_API_KEY"),
        (
            &[("FLOW_BASE_URL", "https://sandbox.flow.cl/api")],
            "FLOW_API_KEY",
        ),
        (&[K, S, ("FLOW_BASE_URL", "flow.cl")], "FLOW_BASE_URL"),
        (
            &[K, S, ("FLOW_BASE_URL", "http://sandbox.flow.cl/api")],
            "FLOW_BASE_URL",
        ),
        (&[K, S, ("FLOW_ENVIRONMENT", "staging")], "FLOW_ENVIRONMENT"),
        (
            &[K, S, ("FLOW_BASE_URL", PRODUCTION_BASE_URL)],
            "FLOW_ENVIRONMENT",
        ),
        (
            &[
                K,
                S,
                ("FLOW_BASE_URL", PRODUCTION_BASE_URL),
                ("FLOW_ENVIRONMENT", "development"),
                ("PAYLINK_ALLOW_LIVE", "1"),
            ],
            "FLOW_ENVIRONMENT",
        ),
        (&[K, S, ("FLOW_CURRENCY", "XXX")], "FLOW_CURRENCY"),
        (
            &[K, S, ("FLOW_RETURN_URL", "example.com")],
            "FLOW_RETURN_URL",
        ),
        (&[K, ("FLOW_SECRET_KEY", "  ")], "FLOW_SECRET_KEY"),
        (&[("STRIPE_SECRET_KEY", "pk_test_abc")], "STRIPE_SECRET_KEY"),
        (&[("STRIPE_SECRET_KEY", "sk_test_")], "STRIPE_SECRET_KEY"),
        (&[("STRIPE_SECRET_KEY", "sk_live_abc")], "STRIPE_SECRET_KEY"),
        (
            &[("STRIPE_WEBHOOK_SECRET", "whsec_abc")],
            "STRIPE_SECRET_KEY",
        ),
        (
            &[
                ("STRIPE_SECRET_KEY", "sk_test_a"),
                ("STRIPE_WEBHOOK_SECRET", "abc"),
            ],
            "STRIPE_WEBHOOK_SECRET",
        ),
        (
            &[
                ("STRIPE_SECRET_KEY", "sk_test_a"),
                ("STRIPE_WEBHOOK_SECRET", "whsec_a,whsec_b,whsec_c"),
            ],
            "STRIPE_WEBHOOK_SECRET",
        ),
        (
            &[
                ("STRIPE_SECRET_KEY", "sk_test_a"),
                ("STRIPE_API_BASE", "http://stripe.example"),
            ],
            "STRIPE_API_BASE",
        ),
        (
            &[
                ("STRIPE_SECRET_KEY", "sk_test_a"),
                ("STRIPE_CURRENCY", "XXX"),
            ],
            "STRIPE_CURRENCY",
        ),
        (&[("PAYLINK_LISTEN", "nowhere")], "PAYLINK_LISTEN"),
        (&[("PAYLINK_ORGANIZATION", " ")], "PAYLINK_ORGANIZATION"),
        (&[("PAYLINK_ALLOW_LIVE", "maybe")], "PAYLINK_ALLOW_LIVE"),
        (&[("PAYLINK_DATA_DIR", "")], "PAYLINK_DATA_DIR"),
        (&[("PAYLINK_MASTER_KEY", "abcd")], "PAYLINK_MASTER_KEY"),
        (
            &[("PAYLINK_RECONCILE_INTERVAL_SECS", "5m")],
            "PAYLINK_RECONCILE_INTERVAL_SECS",
        ),
        (
            &[("PAYLINK_RECONCILE_INTERVAL_SECS", "0")],
            "PAYLINK_RECONCILE_INTERVAL_SECS",
        ),
        (
            &[("PAYLINK_IDEMPOTENCY_WINDOW_SECS", "-1")],
            "PAYLINK_IDEMPOTENCY_WINDOW_SECS",
        ),
        (
            &[("PAYLINK_FLOW_TIMEOUT_SECS", "0")],
            "PAYLINK_FLOW_TIMEOUT_SECS",
        ),
        (&[("PAYLINK_CACHE_MB", "1GiB")], "PAYLINK_CACHE_MB"),
        (&[("PAYLINK_CACHE_MB", "0")], "PAYLINK_CACHE_MB"),
        (&[("PAYLINK_CACHE_MB", "1048577")], "PAYLINK_CACHE_MB"),
        (
            &[("PAYLINK_METRICS_TOKEN", "short-tok3n")],
            "PAYLINK_METRICS_TOKEN",
        ),
        (
            &[("PAYLINK_METRICS_TOKEN", "has a space in it, long enough")],
            "PAYLINK_METRICS_TOKEN",
        ),
        (
            &[("PAYLINK_MAX_CONNECTIONS", "0")],
            "PAYLINK_MAX_CONNECTIONS",
        ),
        (
            &[("PAYLINK_MAX_CONNECTIONS_PER_IP", "many")],
            "PAYLINK_MAX_CONNECTIONS_PER_IP",
        ),
        (
            &[("PAYLINK_HEADER_TIMEOUT_SECS", "0")],
            "PAYLINK_HEADER_TIMEOUT_SECS",
        ),
        (
            &[("PAYLINK_BODY_TIMEOUT_SECS", "7200")],
            "PAYLINK_BODY_TIMEOUT_SECS",
        ),
        (
            &[("PAYLINK_HTTP_ALLOWED_HOSTS", "https://pay.example.com")],
            "PAYLINK_HTTP_ALLOWED_HOSTS",
        ),
        (
            &[("PAYLINK_HTTP_ALLOWED_ORIGINS", "app.example.com")],
            "PAYLINK_HTTP_ALLOWED_ORIGINS",
        ),
        (
            &[("PAYLINK_HTTP_TOKENS", "token-without-organization-xx")],
            "PAYLINK_HTTP_TOKENS",
        ),
        (
            &[("PAYLINK_HTTP_TOKENS", "short=acme")],
            "PAYLINK_HTTP_TOKENS",
        ),
        (
            &[("PAYLINK_HTTP_TOKENS", "token-of-acme-0123456789=")],
            "PAYLINK_HTTP_TOKENS",
        ),
        (
            &[(
                "PAYLINK_HTTP_TOKENS",
                "token-of-acme-0123456789=acme,token-of-acme-0123456789=globex",
            )],
            "PAYLINK_HTTP_TOKENS",
        ),
        (&[("PAYLINK_HTTP_TOKENS", " , ")], "PAYLINK_HTTP_TOKENS"),
        (
            &[("PAYLINK_NOTIFY_URL", "https://hooks.example.com/paylink")],
            "PAYLINK_NOTIFY_SECRET",
        ),
        (
            &[("PAYLINK_NOTIFY_SECRET", "receiver-secret-0123456789")],
            "PAYLINK_NOTIFY_URL",
        ),
        (
            &[
                ("PAYLINK_NOTIFY_URL", "hooks.example.com"),
                ("PAYLINK_NOTIFY_SECRET", "receiver-secret-0123456789"),
            ],
            "PAYLINK_NOTIFY_URL",
        ),
        (
            &[
                ("PAYLINK_NOTIFY_URL", "https://hooks.example.com/paylink"),
                ("PAYLINK_NOTIFY_SECRET", " "),
            ],
            "PAYLINK_NOTIFY_SECRET",
        ),
        (
            &[
                ("PAYLINK_NOTIFY_URL", "https://hooks.example.com/paylink"),
                ("PAYLINK_NOTIFY_SECRET", "whsec_not*base64"),
            ],
            "PAYLINK_NOTIFY_SECRET",
        ),
        (&[("PAYLINK_MERCHANT_NAME", "  ")], "PAYLINK_MERCHANT_NAME"),
        (
            &[("PAYLINK_MERCHANT_URL", "javascript:alert(1)")],
            "PAYLINK_MERCHANT_URL",
        ),
        (
            &[("PAYLINK_MERCHANT_URL", "ftp://files.example.com")],
            "PAYLINK_MERCHANT_URL",
        ),
    ];
    for (pairs, field) in cases {
        let e = from_env(pairs).unwrap_err();
        assert_eq!(e.field, *field, "{pairs:?}: {e}");
    }
}

#[test]
fn no_error_repeats_a_secret() {
    let cases: &[&[(&str, &str)]] = &[
        &[("PAYLINK_MASTER_KEY", "C4NARY-master-key")],
        &[("PAYLINK_HTTP_TOKENS", "C4NARY-tok=acme")],
        &[("PAYLINK_HTTP_TOKENS", "C4NARY token with spaces=acme")],
        &[("PAYLINK_METRICS_TOKEN", "C4NARY")],
        &[("PAYLINK_NOTIFY_SECRET", "whsec_C4NARY*")],
        &[("FLOW_SECRET_KEY", "C4NARY-flow")],
        &[
            K,
            ("FLOW_SECRET_KEY", "C4NARY-flow"),
            ("FLOW_BASE_URL", "nope"),
        ],
    ];
    for pairs in cases {
        let e = from_env(pairs).unwrap_err();
        assert!(!e.to_string().contains("C4NARY"), "{pairs:?}: {e}");
    }
}

#[test]
fn secrets_are_redacted_in_debug() {
    let s = from_env(&[
        K,
        ("FLOW_SECRET_KEY", "flow-secret-canary"),
        ("PAYLINK_HTTP_TOKENS", "http-token-canary-0123=acme"),
        ("PAYLINK_METRICS_TOKEN", "metrics-token-canary"),
        ("PAYLINK_NOTIFY_URL", "https://hooks.example.com/paylink"),
        ("PAYLINK_NOTIFY_SECRET", "notify-secret-canary"),
        (
            "PAYLINK_MASTER_KEY",
            "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff",
        ),
    ])
    .unwrap();
    let shown = format!("{s:?}");
    for secret in [
        "flow-secret-canary",
        "http-token-canary",
        "metrics-token-canary",
        "notify-secret-canary",
        "00112233445566778899",
    ] {
        assert!(!shown.contains(secret), "{secret} in {shown}");
    }
    assert!(shown.contains("acme"), "organizations are shown: {shown}");
}

#[test]
fn http_tokens_and_notifications_are_settings() {
    let s = from_env(&[
        (
            "PAYLINK_HTTP_TOKENS",
            " token-of-globex-0123456=globex , token-of-acme-0123456789=acme,token-two-of-acme-0123=acme",
        ),
        ("PAYLINK_NOTIFY_URL", "https://hooks.example.com/paylink/"),
        ("PAYLINK_NOTIFY_SECRET", "whsec_TWZLUTlyOEdLWXFyVHdqVVBEOElM"),
    ])
    .unwrap();
    assert_eq!(s.http_tokens.organizations(), ["acme", "globex"]);
    assert_eq!(
        s.http_tokens.to_map().get("token-of-acme-0123456789"),
        Some(&"acme".to_string())
    );
    assert_eq!(s.organizations(), ["default", "acme", "globex"]);
    let n = s.notify.unwrap();
    assert_eq!(n.url, "https://hooks.example.com/paylink");
}

#[test]
fn the_ledger_cache_defaults_to_sleds_and_can_be_bounded() {
    assert_eq!(Settings::default().cache_bytes(), 1 << 30);
    let s = from_env(&[("PAYLINK_CACHE_MB", " 256 ")]).unwrap();
    assert_eq!(s.cache_bytes(), 256 << 20);
    assert_eq!(from_file("cache_mb = 64\n").unwrap().cache_mb, 64);
    let e = from_file("cache_mb = 8\n").unwrap_err();
    assert_eq!(e.field, "cache_mb");
    assert!(e.problem.contains("16 to 1048576"), "{e}");
}

#[test]
fn a_metrics_token_comes_from_env_or_file_and_short_ones_are_refused_unrepeated() {
    let s = from_env(&[("PAYLINK_METRICS_TOKEN", " 0123456789abcdef ")]).unwrap();
    assert_eq!(
        s.metrics_token.as_ref().unwrap().expose_secret(),
        "0123456789abcdef"
    );
    assert!(!format!("{s:?}").contains("0123456789abcdef"));
    let e = from_env(&[("PAYLINK_METRICS_TOKEN", "tok-15-chars-xx")]).unwrap_err();
    assert!(e.problem.contains("shorter than 16"), "{e}");
    assert!(!e.to_string().contains("tok-15-chars-xx"), "{e}");
    let s = from_file("metrics_token = \"file-token-0123456789\"\n").unwrap();
    assert_eq!(
        s.metrics_token.as_ref().unwrap().expose_secret(),
        "file-token-0123456789"
    );
    let e = from_file("metrics_token = \"short\"\n").unwrap_err();
    assert_eq!(e.field, "metrics_token");
    assert!(!e.to_string().contains("\"short\""), "{e}");
}

#[test]
fn the_file_layer_applies_and_unknown_keys_are_named() {
    let s = from_file("listen = \"127.0.0.1:9999\"\nreconcile_interval_secs = 60\n").unwrap();
    assert_eq!(s.listener_addr.port(), 9999);
    assert_eq!(s.reconcile_interval, Duration::from_secs(60));
    let e = from_file("listen_addr = \"x\"\n").unwrap_err();
    assert!(e.problem.contains("listen_addr"), "{e}");
    assert_eq!(
        from_file("public_url = \"nope\"\n").unwrap_err().field,
        "public_url"
    );
    // Secrets and Flow credentials are not file keys.
    for key in [
        "master_key",
        "http_tokens",
        "notify_secret",
        "flow_secret_key",
    ] {
        let e = from_file(&format!("{key} = \"x\"\n")).unwrap_err();
        assert!(e.problem.contains("unknown key"), "{key}: {e}");
    }
    // The file goes through the same checks as the environment.
    assert_eq!(
        from_file("flow_timeout_secs = 0\n").unwrap_err().field,
        "flow_timeout_secs"
    );
    assert_eq!(
        from_file("reconcile_interval_secs = -5\n")
            .unwrap_err()
            .field,
        "reconcile_interval_secs"
    );
    assert_eq!(
        from_file("allow_live = \"sure\"\n").unwrap_err().field,
        "allow_live"
    );
    let s =
        from_file("http_allowed_hosts = [\"pay.example.com\", \"b.example.com:443\"]\n").unwrap();
    assert_eq!(
        s.http_allowed_hosts,
        ["pay.example.com", "b.example.com:443"]
    );
}

#[test]
fn layers_apply_in_order_defaults_file_environment_flags() {
    let dir = tempfile::tempdir().unwrap();
    let f = dir.path().join("paylink.toml");
    std::fs::write(
        &f,
        "listen = \"127.0.0.1:1111\"\norganization = \"from-file\"\ncache_mb = 64\n",
    )
    .unwrap();
    let flags = Flags {
        config: Some(f.clone()),
        listen: Some("127.0.0.1:3333".into()),
        ..Flags::default()
    };
    let s = Settings::load(
        &flags,
        env(&[
            ("PAYLINK_LISTEN", "127.0.0.1:2222"),
            ("PAYLINK_ORGANIZATION", "from-env"),
        ]),
    )
    .unwrap();
    assert_eq!(s.listener_addr.port(), 3333, "the flag wins");
    assert_eq!(s.organization, "from-env", "the environment beats the file");
    assert_eq!(s.cache_mb, 64, "the file beats the default");
    assert_eq!(
        s.reconcile_interval,
        Duration::from_secs(300),
        "the default"
    );
    // PAYLINK_CONFIG names the file when --config does not.
    let s = Settings::load(
        &Flags::default(),
        env(&[("PAYLINK_CONFIG", &f.display().to_string())]),
    )
    .unwrap();
    assert_eq!(s.organization, "from-file");
    // A bad flag is named as the flag.
    let flags = Flags {
        public_url: Some("nope".into()),
        ..Flags::default()
    };
    assert_eq!(
        Settings::load(&flags, env(&[])).unwrap_err().field,
        "--public-url"
    );
}

#[test]
fn flow_credentials_from_the_environment_default_to_flows_sandbox() {
    let s = from_env(&[K, S]).unwrap();
    let f = s.flow.unwrap();
    assert_eq!(f.api_url, SANDBOX_BASE_URL);
    assert_eq!(f.endpoint, FlowEndpoint::Sandbox);
    assert_eq!(f.environment, Environment::Development);
    assert!(!format!("{f:?}").contains("\"s\""));
    let s = from_env(&[
        K,
        S,
        ("FLOW_BASE_URL", "https://www.flow.cl/api/"),
        ("PAYLINK_ALLOW_LIVE", "yes"),
    ])
    .unwrap();
    let f = s.flow.unwrap();
    assert_eq!(f.api_url, PRODUCTION_BASE_URL);
    assert_eq!(f.environment, Environment::Production);
    let s = from_env(&[K, S, ("FLOW_BASE_URL", "http://[::1]:9/api")]).unwrap();
    assert_eq!(s.flow.unwrap().endpoint, FlowEndpoint::Loopback);
}

#[test]
fn the_readme_documents_every_variable() {
    let readme = include_str!("../../README.md");
    for var in Settings::variables() {
        assert!(readme.contains(var), "README.md does not mention {var}");
    }
}

#[test]
fn a_stripe_account_comes_from_its_variables_and_its_key_says_test_or_live() {
    let s = Settings::load(
        &Flags::default(),
        env(&[
            ("STRIPE_SECRET_KEY", "rk_test_abc"),
            ("STRIPE_WEBHOOK_SECRET", "whsec_old, whsec_new"),
            ("STRIPE_API_BASE", "http://127.0.0.1:9/"),
        ]),
    )
    .unwrap();
    let stripe = s.stripe.expect("a Stripe account");
    assert_eq!(stripe.environment, Environment::Development);
    assert_eq!(stripe.api_base, "http://127.0.0.1:9");
    assert_eq!(stripe.webhook_secrets.len(), 2);
    let live = Settings::load(
        &Flags::default(),
        env(&[
            ("STRIPE_SECRET_KEY", "sk_live_abc"),
            ("PAYLINK_ALLOW_LIVE", "1"),
        ]),
    )
    .unwrap();
    let live = live.stripe.unwrap();
    assert_eq!(live.environment, Environment::Production);
    assert_eq!(live.api_base, "https://api.stripe.com");
    // The key never appears in a refusal.
    let e = Settings::load(
        &Flags::default(),
        env(&[("STRIPE_SECRET_KEY", "pk_live_SECRETVALUE")]),
    )
    .unwrap_err();
    assert!(!e.to_string().contains("SECRETVALUE"), "{e}");
}

#[test]
fn the_data_dir_is_the_one_given_else_the_per_user_data_directory() {
    // No layer names one: the platform's per-user data directory for paylink.
    let s = from_env(&[]).unwrap();
    assert_eq!(s.data_dir, default_data_dir().unwrap());
    assert!(s.data_dir.is_absolute(), "{}", s.data_dir.display());
    #[cfg(target_os = "linux")]
    if let Some(home) = std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        let base = std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| PathBuf::from(home).join(".local/share"));
        assert_eq!(s.data_dir, base.join("paylink"));
    }
    // Each layer overrides it, in the usual order.
    assert_eq!(
        from_file("data_dir = \"/from/file\"\n").unwrap().data_dir,
        PathBuf::from("/from/file")
    );
    assert_eq!(
        from_env(&[("PAYLINK_DATA_DIR", "/from/env")])
            .unwrap()
            .data_dir,
        PathBuf::from("/from/env")
    );
    let flags = Flags {
        data_dir: Some("/from/flag".into()),
        ..Flags::default()
    };
    let s = Settings::load(&flags, env(&[("PAYLINK_DATA_DIR", "/from/env")])).unwrap();
    assert_eq!(s.data_dir, PathBuf::from("/from/flag"));
    assert_eq!(s.key_file(), PathBuf::from("/from/flag/master.key"));
}

#[test]
fn without_a_home_directory_the_error_says_to_name_a_data_dir() {
    let e = data_dir_of(None).unwrap_err();
    assert_eq!(e.field, "PAYLINK_DATA_DIR");
    let line = e.to_string();
    assert!(!line.contains('\n'), "{line}");
    assert!(
        line.contains("no home directory") && line.contains("--data-dir"),
        "{line}"
    );
}

#[test]
fn a_spending_policy_comes_from_its_variables_or_the_file() {
    let s = from_env(&[
        ("PAYLINK_POLICY_MAX_PER_PAYMENT", "CLP 500000"),
        ("PAYLINK_POLICY_MAX_PER_DAY", "CLP 2000000, USD 1000"),
        ("PAYLINK_POLICY_CURRENCIES", "CLP,usd"),
    ])
    .unwrap();
    let usd = Currency::from_code("USD").unwrap();
    assert_eq!(
        s.policy.per_payment(Currency::CLP).map(|m| m.minor),
        Some(500_000)
    );
    assert_eq!(s.policy.per_day(usd).map(|m| m.minor), Some(100_000));
    assert_eq!(s.policy.currencies, Some(vec![Currency::CLP, usd]));
    let s =
        from_file("policy_max_per_day = [\"CLP 2000000\"]\npolicy_currencies = \"CLP\"\n").unwrap();
    assert_eq!(
        s.policy.per_day(Currency::CLP).map(|m| m.minor),
        Some(2_000_000)
    );
    assert!(from_env(&[]).unwrap().policy.is_empty());
}

#[test]
fn bad_policy_values_are_refused_naming_the_variable() {
    let cases: &[(&str, &str, &str)] = &[
        (
            "PAYLINK_POLICY_MAX_PER_PAYMENT",
            "CLP 12.5",
            "CLP amounts have 0 decimal places",
        ),
        (
            "PAYLINK_POLICY_MAX_PER_DAY",
            "XYZ 100",
            "\"XYZ\" is not a currency",
        ),
        (
            "PAYLINK_POLICY_MAX_PER_DAY",
            "CLP -100",
            "must be greater than zero",
        ),
        (
            "PAYLINK_POLICY_MAX_PER_PAYMENT",
            "500000",
            "not a currency and an amount",
        ),
        (
            "PAYLINK_POLICY_CURRENCIES",
            "CLP,PESOS",
            "\"PESOS\" is not a currency",
        ),
    ];
    for (var, value, problem) in cases {
        let e = from_env(&[(var, value)]).unwrap_err();
        assert_eq!(e.field, *var, "{value}: {e}");
        assert!(e.problem.contains(problem), "{var}={value}: {e}");
    }
}

#[test]
fn the_merchant_the_return_page_names_comes_from_two_optional_settings() {
    assert_eq!(
        from_env(&[]).unwrap().merchant,
        crate::payer::Merchant::default()
    );
    let s = from_env(&[
        ("PAYLINK_MERCHANT_NAME", " Academia Sol "),
        ("PAYLINK_MERCHANT_URL", "https://academiasol.cl/"),
    ])
    .unwrap();
    assert_eq!(s.merchant.name.as_deref(), Some("Academia Sol"));
    assert_eq!(s.merchant.url.as_deref(), Some("https://academiasol.cl"));
}
