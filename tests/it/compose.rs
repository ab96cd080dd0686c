//! `docker compose up` must work for a new user, and this machine has no Docker
//! engine: so every kttipay service in docker-compose.yml has its command run
//! with exactly that service's environment through `kttipay --check-config`. A
//! service that would exit at start (a missing provider URL, a refused secret, a
//! bad value) fails here.

use std::collections::BTreeMap;
use std::process::Command;

fn compose() -> serde_yaml::Value {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docker-compose.yml")).unwrap();
    let mut doc: serde_yaml::Value = serde_yaml::from_str(&text).expect("docker-compose.yml parses");
    doc.apply_merge().expect("merge keys resolve");
    doc
}

fn text(v: &serde_yaml::Value) -> String {
    match v {
        serde_yaml::Value::String(s) => s.clone(),
        serde_yaml::Value::Number(n) => n.to_string(),
        serde_yaml::Value::Bool(b) => b.to_string(),
        other => panic!("unexpected value {other:?}"),
    }
}

#[test]
fn every_kttipay_service_would_start_with_its_own_environment() {
    let doc = compose();
    let services = doc["services"].as_mapping().expect("services");
    let mut checked = Vec::new();
    for (name, service) in services {
        let name = text(name);
        if service.get("build").is_none() {
            continue; // postgres, redis, mailpit: not ours
        }
        let command: Vec<String> = service["command"]
            .as_sequence()
            .unwrap_or_else(|| panic!("{name}: command is a list"))
            .iter()
            .map(text)
            .collect();
        let env: BTreeMap<String, String> = service["environment"]
            .as_mapping()
            .unwrap_or_else(|| panic!("{name}: environment is a mapping"))
            .iter()
            .map(|(k, v)| (text(k), text(v)))
            .collect();
        let out = Command::new(env!("CARGO_BIN_EXE_kttipay"))
            .arg("--check-config")
            .args(&command)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(&env)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "service {name} ({command:?}) would not start:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        checked.push(name);
    }
    checked.sort();
    assert_eq!(checked, ["api", "migrate", "sandbox", "workers"]);
}

#[test]
fn the_api_and_workers_reach_the_sandbox_and_it_reaches_the_api() {
    let doc = compose();
    let env = |service: &str, key: &str| text(&doc["services"][service]["environment"][key]);
    for service in ["api", "workers"] {
        assert_eq!(env(service, "SHAYPE_BASE_URL"), "http://sandbox:8090");
    }
    assert_eq!(env("sandbox", "KTTIPAY_SANDBOX_WEBHOOK_URL"), "http://api:8080");
    for key in ["SHAYPE_API_TOKEN", "SHAYPE_WEBHOOK_SECRET"] {
        assert_eq!(env("api", key), env("sandbox", key), "{key} is shared");
        assert_eq!(env("workers", key), env("sandbox", key), "{key} is shared");
    }
}

#[test]
fn a_worker_without_a_provider_fails_the_check() {
    let out = Command::new(env!("CARGO_BIN_EXE_kttipay"))
        .args(["--check-config", "worker"])
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SHAYPE_BASE_URL"));
}
