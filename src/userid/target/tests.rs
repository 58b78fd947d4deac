//! `Target` against the fake firewall and agent, over real HTTPS on 127.0.0.1. Targets are
//! configured from TOML, as `run` configures them, with their key and CA in files.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::fake_firewall::{Api, FakeFirewall, Seen, Trouble};
use super::*;
use crate::config::Config;

/// A `[[userid.target]]` table's keys, with its key (`fw.key`) and the fake's CA (`ca.pem`)
/// written beside the configuration file in `dir`.
fn target_config(dir: &std::path::Path, fake: &FakeFirewall, keys: &str) -> UseridTarget {
    std::fs::write(dir.join("ca.pem"), &fake.ca_pem).unwrap();
    std::fs::write(dir.join("fw.key"), "secret-key\n").unwrap();
    std::fs::write(dir.join("fw.password"), "s3cret pass\n").unwrap();
    let text = format!(
        "[[userid.target]]\nname = \"t\"\nurl = \"{}\"\nretry_initial_ms = 10\nretry_max_ms = 40\n{keys}\n",
        fake.url
    );
    let config = Config::from_toml(&format!("[userid]\n{text}"), &dir.join("cefrelay.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    config.userid.expect("[userid]").targets.remove(0)
}

fn firewall_api() -> Api {
    Api::Firewall {
        key: "secret-key".into(),
        vsys: None,
        keygen: None,
    }
}

fn login(user: &str, ip: &str, timeout_mins: u32) -> Login {
    Login {
        user: user.into(),
        ip: ip.parse().unwrap(),
        timeout_mins,
    }
}

fn logout(user: &str, ip: &str) -> Logout {
    Logout {
        user: user.into(),
        ip: ip.parse().unwrap(),
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

fn kinds_and_statuses(requests: &[Seen]) -> Vec<(String, u16)> {
    requests
        .iter()
        .map(|seen| (seen.kind.clone(), seen.status))
        .collect()
}

#[tokio::test]
async fn a_firewall_and_an_agent_end_with_exactly_the_expected_mappings() {
    let dir = tempfile::tempdir().unwrap();
    let firewall = FakeFirewall::start(Api::Firewall {
        key: "secret-key".into(),
        vsys: Some("vsys2".into()),
        keygen: None,
    })
    .await;
    let agent = FakeFirewall::start(Api::Agent {
        key: Some("secret-key".into()),
    })
    .await;
    let targets = [
        Target::new(&target_config(
            dir.path(),
            &firewall,
            "type = \"firewall\"\napi_key_file = \"fw.key\"\nca_file = \"ca.pem\"\nvsys = \"vsys2\"\nserial = \"0123456789\"",
        ))
        .unwrap(),
        Target::new(&target_config(
            dir.path(),
            &agent,
            "type = \"agent\"\napi_key_file = \"fw.key\"\nca_file = \"ca.pem\"",
        ))
        .unwrap(),
    ];
    let odd_user = "o'brien & <co> \"x\"\\y";
    let first_logins = [
        login("CORP\\alice", "10.0.0.1", 60),
        login("CORP\\bob", "10.0.0.2", 30),
        login(odd_user, "2001:db8::5", 5),
        login("CORP\\carol", "10.0.0.3", 10),
    ];
    // Later: bob leaves, alice's address goes to dave, carol logs in again for longer.
    let second_logins = [
        login("CORP\\dave", "10.0.0.1", 45),
        login("CORP\\carol", "10.0.0.3", 120),
    ];
    let second_logouts = [logout("CORP\\bob", "10.0.0.2")];
    let expected: BTreeMap<IpAddr, (String, u32)> = [
        (ip("10.0.0.1"), ("CORP\\dave".to_string(), 45)),
        (ip("10.0.0.3"), ("CORP\\carol".to_string(), 120)),
        (ip("2001:db8::5"), (odd_user.to_string(), 5)),
    ]
    .into();
    for target in &targets {
        assert_eq!(
            target.push(&first_logins, &[]).await,
            Ok(Pushed {
                logins: 4,
                logouts: 0,
                requests: 1
            })
        );
        assert_eq!(
            target.push(&second_logins, &second_logouts).await,
            Ok(Pushed {
                logins: 2,
                logouts: 1,
                requests: 1
            })
        );
    }
    for fake in [&firewall, &agent] {
        assert_eq!(fake.mappings(), expected);
    }
    for seen in firewall.requests() {
        assert_eq!(seen.kind, "user-id");
        assert_eq!(seen.key.as_deref(), Some("secret-key"));
        assert_eq!(seen.vsys.as_deref(), Some("vsys2"));
        assert_eq!(seen.serial.as_deref(), Some("0123456789"));
    }
    for seen in agent.requests() {
        assert_eq!((seen.kind.as_str(), seen.status), ("agent", 200));
        assert_eq!(seen.key.as_deref(), Some("secret-key"));
    }
}

#[tokio::test]
async fn batches_never_exceed_batch_entries_and_at_most_five_are_in_flight() {
    let dir = tempfile::tempdir().unwrap();
    let firewall = FakeFirewall::start(firewall_api()).await;
    // Held long enough that the requests overlap, if the target sends them together.
    firewall.hold_requests(Duration::from_millis(50));
    let target = Target::new(&target_config(
        dir.path(),
        &firewall,
        "type = \"firewall\"\napi_key_file = \"fw.key\"\nca_file = \"ca.pem\"\nbatch_entries = 3",
    ))
    .unwrap();
    let logins: Vec<Login> = (1..=40)
        .map(|n| login(&format!("CORP\\u{n}"), &format!("10.1.0.{n}"), 30))
        .collect();
    let logouts: Vec<Logout> = (1..=7)
        .map(|n| logout(&format!("CORP\\u{n}"), &format!("10.1.0.{n}")))
        .collect();
    let pushed = target.push(&logins, &logouts).await.unwrap();
    assert_eq!(
        pushed,
        Pushed {
            logins: 40,
            logouts: 7,
            requests: 16
        }
    );
    let requests = firewall.requests();
    assert_eq!(requests.len(), 16);
    for seen in &requests {
        assert!(seen.logins + seen.logouts <= 3, "{seen:?}");
    }
    assert_eq!(
        requests.iter().map(|s| s.logins + s.logouts).sum::<usize>(),
        47
    );
    assert_eq!(firewall.max_in_flight(), MAX_IN_FLIGHT);
    // Documents may land out of order, but a document's logouts are of addresses whose logins
    // were sent before them, and every one of 1..=7 is gone.
    let mappings = firewall.mappings();
    assert_eq!(mappings.len(), 33);
    assert!((1..=7).all(|n| !mappings.contains_key(&ip(&format!("10.1.0.{n}")))));
}

#[tokio::test]
async fn passing_troubles_are_retried_until_the_firewall_takes_the_batch() {
    let dir = tempfile::tempdir().unwrap();
    let firewall = FakeFirewall::start(firewall_api()).await;
    firewall.fail_next(2, Trouble::Status(503));
    firewall.fail_next(1, Trouble::Code(22));
    let target = Target::new(&target_config(
        dir.path(),
        &firewall,
        "type = \"firewall\"\napi_key_file = \"fw.key\"\nca_file = \"ca.pem\"",
    ))
    .unwrap();
    let pushed = target
        .push(&[login("CORP\\alice", "10.0.0.1", 60)], &[])
        .await
        .unwrap();
    assert_eq!(pushed.requests, 4);
    assert_eq!(
        kinds_and_statuses(&firewall.requests()),
        [
            ("user-id", 503),
            ("user-id", 503),
            ("user-id", 200),
            ("user-id", 200)
        ]
        .map(|(k, s)| (k.to_string(), s))
    );
    assert_eq!(firewall.requests()[2].code, Some(22));
    assert_eq!(
        firewall.mappings(),
        [(ip("10.0.0.1"), ("CORP\\alice".to_string(), 60))].into()
    );
}

#[tokio::test]
async fn a_malformed_batch_is_rejected_with_its_entries_and_never_retried() {
    let dir = tempfile::tempdir().unwrap();
    let firewall = FakeFirewall::start(firewall_api()).await;
    firewall.fail_next(1, Trouble::Code(18));
    let target = Target::new(&target_config(
        dir.path(),
        &firewall,
        "type = \"firewall\"\napi_key_file = \"fw.key\"\nca_file = \"ca.pem\"\nbatch_entries = 1",
    ))
    .unwrap();
    let logins = [
        login("CORP\\a", "10.0.0.1", 5),
        login("CORP\\b", "10.0.0.2", 5),
        login("CORP\\c", "10.0.0.3", 5),
    ];
    let pushed = target.push(&logins, &[]).await;
    let Err(PushError::Rejected {
        code,
        message,
        logins: rejected,
        logouts,
    }) = pushed
    else {
        panic!("a code 18 is a rejection: {pushed:?}");
    };
    assert_eq!(code, Some(18));
    assert!(message.contains("scripted trouble"), "{message}");
    assert!(logouts.is_empty());
    // Whichever of the three documents came first was refused; the other two were taken.
    assert_eq!(rejected.len(), 1);
    assert_eq!(firewall.requests().len(), 3);
    let mappings = firewall.mappings();
    assert!(!mappings.contains_key(&rejected[0].ip));
    assert_eq!(mappings.len(), 2);
}

#[tokio::test]
async fn a_refused_key_stops_the_target_at_once_and_never_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let firewall = FakeFirewall::start(Api::Firewall {
        key: "the-right-key".into(),
        vsys: None,
        keygen: None,
    })
    .await;
    let target = Target::new(&target_config(
        dir.path(),
        &firewall,
        "type = \"firewall\"\napi_key_file = \"fw.key\"\nca_file = \"ca.pem\"",
    ))
    .unwrap();
    let pushed = target.push(&[login("CORP\\a", "10.0.0.1", 5)], &[]).await;
    let Err(PushError::Stopped { reason }) = pushed else {
        panic!("a 403 stops the target: {pushed:?}");
    };
    assert!(reason.contains("403"), "{reason}");
    assert!(!reason.contains("secret-key"), "{reason}");
    assert_eq!(firewall.requests().len(), 1);
}

#[tokio::test]
async fn a_generated_key_that_is_refused_is_generated_again_once() {
    let dir = tempfile::tempdir().unwrap();
    let firewall = FakeFirewall::start(Api::Firewall {
        key: "never-used".into(),
        vsys: None,
        keygen: Some(("relay".into(), "s3cret pass".into())),
    })
    .await;
    let target = Target::new(&target_config(
        dir.path(),
        &firewall,
        "type = \"firewall\"\nuser = \"relay\"\npassword_file = \"fw.password\"\nca_file = \"ca.pem\"",
    ))
    .unwrap();
    // The key is generated once and kept.
    target
        .push(&[login("CORP\\a", "10.0.0.1", 5)], &[])
        .await
        .unwrap();
    target
        .push(&[login("CORP\\b", "10.0.0.2", 5)], &[])
        .await
        .unwrap();
    // The admin's password changed and its keys with it: a new key, and the push goes through.
    firewall.revoke_issued_keys();
    target
        .push(&[login("CORP\\c", "10.0.0.3", 5)], &[])
        .await
        .unwrap();
    let requests = firewall.requests();
    assert_eq!(
        kinds_and_statuses(&requests),
        [
            ("keygen", 200),
            ("user-id", 200),
            ("user-id", 200),
            ("user-id", 403),
            ("keygen", 200),
            ("user-id", 200)
        ]
        .map(|(k, s)| (k.to_string(), s))
    );
    assert_eq!(requests[1].key.as_deref(), Some("key-1"));
    assert_eq!(requests[5].key.as_deref(), Some("key-2"));
    assert_eq!(firewall.mappings().len(), 3);

    // A role without the User-ID rights: the fresh key is refused too, and the target stops.
    firewall.refuse_all_keys();
    let pushed = target.push(&[login("CORP\\d", "10.0.0.4", 5)], &[]).await;
    let Err(PushError::Stopped { reason }) = pushed else {
        panic!("a key refused twice stops the target: {pushed:?}");
    };
    assert!(reason.contains("403"), "{reason}");
    assert_eq!(
        kinds_and_statuses(&firewall.requests()[6..]),
        [("user-id", 403), ("keygen", 200), ("user-id", 403)].map(|(k, s)| (k.to_string(), s))
    );
}

#[tokio::test]
async fn refused_credentials_stop_the_target_without_naming_the_password() {
    let dir = tempfile::tempdir().unwrap();
    let firewall = FakeFirewall::start(Api::Firewall {
        key: "never-used".into(),
        vsys: None,
        keygen: Some(("relay".into(), "another password".into())),
    })
    .await;
    let target = Target::new(&target_config(
        dir.path(),
        &firewall,
        "type = \"firewall\"\nuser = \"relay\"\npassword_file = \"fw.password\"\nca_file = \"ca.pem\"",
    ))
    .unwrap();
    let pushed = target.push(&[login("CORP\\a", "10.0.0.1", 5)], &[]).await;
    let Err(PushError::Stopped { reason }) = pushed else {
        panic!("refused credentials stop the target: {pushed:?}");
    };
    assert!(reason.contains("keygen as `relay`"), "{reason}");
    assert!(!reason.contains("s3cret"), "{reason}");
    assert_eq!(
        kinds_and_statuses(&firewall.requests()),
        [("keygen".to_string(), 403)]
    );
}

#[tokio::test]
async fn the_certificate_is_verified_against_the_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let firewall = FakeFirewall::start(firewall_api()).await;
    let untrusting = Target::new(&target_config(
        dir.path(),
        &firewall,
        "type = \"firewall\"\napi_key_file = \"fw.key\"",
    ))
    .unwrap();
    let pushed = untrusting
        .push(&[login("CORP\\a", "10.0.0.1", 5)], &[])
        .await;
    let Err(PushError::Stopped { reason }) = pushed else {
        panic!("an untrusted certificate stops the target: {pushed:?}");
    };
    assert!(reason.contains("ca_file"), "{reason}");
    assert!(firewall.requests().is_empty());

    let trusting = Target::new(&target_config(
        dir.path(),
        &firewall,
        "type = \"firewall\"\napi_key_file = \"fw.key\"\nca_file = \"ca.pem\"",
    ))
    .unwrap();
    trusting
        .push(&[login("CORP\\a", "10.0.0.1", 5)], &[])
        .await
        .unwrap();
    let insecure = Target::new(&target_config(
        dir.path(),
        &firewall,
        "type = \"firewall\"\napi_key_file = \"fw.key\"\ntls_insecure = true",
    ))
    .unwrap();
    insecure
        .push(&[login("CORP\\b", "10.0.0.2", 5)], &[])
        .await
        .unwrap();
    assert_eq!(firewall.mappings().len(), 2);
}

#[tokio::test]
async fn a_firewall_down_for_a_while_gets_the_batch_when_it_is_back() {
    let dir = tempfile::tempdir().unwrap();
    let firewall = FakeFirewall::start(firewall_api()).await;
    let target = Target::new(&target_config(
        dir.path(),
        &firewall,
        "type = \"firewall\"\napi_key_file = \"fw.key\"\nca_file = \"ca.pem\"",
    ))
    .unwrap();
    // A connection in the pool, which going down must close too.
    target
        .push(&[login("CORP\\a", "10.0.0.1", 5)], &[])
        .await
        .unwrap();
    firewall.down_for(Duration::from_millis(150));
    tokio::time::sleep(Duration::from_millis(20)).await;
    target
        .push(&[login("CORP\\b", "10.0.0.2", 5)], &[])
        .await
        .unwrap();
    assert_eq!(firewall.mappings().len(), 2);
}

#[tokio::test]
async fn a_target_that_refuses_connections_is_unreachable_after_the_last_try() {
    let dir = tempfile::tempdir().unwrap();
    let firewall = FakeFirewall::start(firewall_api()).await;
    firewall.down_for(Duration::from_secs(60));
    tokio::time::sleep(Duration::from_millis(20)).await;
    let target = Target::new(&target_config(
        dir.path(),
        &firewall,
        "type = \"firewall\"\napi_key_file = \"fw.key\"\nca_file = \"ca.pem\"",
    ))
    .unwrap();
    let started = Instant::now();
    let pushed = target.push(&[login("CORP\\a", "10.0.0.1", 5)], &[]).await;
    let Err(PushError::Unreachable { last_error }) = pushed else {
        panic!("a port that refuses is unreachable: {pushed:?}");
    };
    assert!(last_error.contains("refused"), "{last_error}");
    // MAX_ATTEMPTS tries, 7 waits of at most retry_max (40 ms): not much longer than that.
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(5 * 7) && elapsed < Duration::from_secs(5),
        "{elapsed:?}"
    );
}

#[tokio::test]
async fn the_fake_refuses_what_pan_os_refuses() {
    let firewall = FakeFirewall::start(Api::Firewall {
        key: "k".into(),
        vsys: Some("vsys1".into()),
        keygen: None,
    })
    .await;
    let client = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(firewall.ca_pem.as_bytes()).unwrap())
        .build()
        .unwrap();
    let send = |form: Vec<(&'static str, &'static str)>| {
        let request = client.post(format!("{}/api/", firewall.url)).form(&form);
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (
                status,
                message::parse_answer(&response.text().await.unwrap()),
            )
        }
    };
    let good = "<uid-message><version>2.0</version><type>update</type><payload><login><entry name=\"u\" ip=\"10.0.0.1\" timeout=\"5\"/></login></payload></uid-message>";
    let code = |answer: &Answer| match answer {
        Answer::Error { code, .. } => *code,
        Answer::Success => None,
    };
    let (status, answer) = send(vec![
        ("type", "user-id"),
        ("key", "k"),
        ("vsys", "vsys1"),
        ("cmd", good),
    ])
    .await;
    assert_eq!((status, answer), (200, Answer::Success));
    let (status, answer) = send(vec![
        ("type", "user-id"),
        ("key", "k"),
        ("vsys", "vsys1"),
        ("cmd", "<uid-message><payload>"),
    ])
    .await;
    assert_eq!((status, code(&answer)), (200, Some(18)));
    let (status, answer) = send(vec![
        ("type", "user-id"),
        ("key", "bad"),
        ("vsys", "vsys1"),
        ("cmd", good),
    ])
    .await;
    assert_eq!((status, code(&answer)), (403, Some(403)));
    let (status, answer) = send(vec![("type", "user-id"), ("key", "k"), ("cmd", good)]).await;
    assert_eq!((status, code(&answer)), (400, Some(400)));
    let (status, answer) = send(vec![
        ("type", "op"),
        ("key", "k"),
        ("vsys", "vsys1"),
        ("cmd", good),
    ])
    .await;
    assert_eq!((status, code(&answer)), (400, Some(400)));
    assert_eq!(firewall.mappings().len(), 1);
}
