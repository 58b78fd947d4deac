//! PAN-OS parse profiles ([`Profile`]) and the built-ins' names and shared checks.

use super::*;

/// PAN-OS's own example message for syslog parse profiles.
const PAN_EXAMPLE: &str = "[Tue Jul 5 13:15:04 2005 CDT] Administrator authentication success User:domain\\johndoe_4 Source:192.168.0.212";

fn regex_profile(login: bool) -> Profile {
    Profile {
        name: "pan-example-regex".to_owned(),
        login,
        identifier: Identifier::Regex {
            event: Regex::new(r"(authentication\ success){1}").unwrap(),
            user: Regex::new(r"User:([a-zA-Z0-9\\\._]+)").unwrap(),
            address: Regex::new(r"Source:([0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3})")
                .unwrap(),
        },
        timeout_mins: Some(60),
    }
}

fn field_profile(event: &str, delimiter: &str) -> Profile {
    Profile {
        name: "pan-example-field".to_owned(),
        login: true,
        identifier: Identifier::Field {
            event: event.to_owned(),
            user_prefix: "User:".to_owned(),
            user_delimiter: delimiter.to_owned(),
            address_prefix: "Source:".to_owned(),
            address_delimiter: delimiter.to_owned(),
        },
        timeout_mins: None,
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().unwrap()
}

#[test]
fn the_pan_example_as_a_regex_profile_is_a_login() {
    assert_eq!(
        regex_profile(true).observe(PAN_EXAMPLE),
        Some(Observed {
            user: "domain\\johndoe_4".to_owned(),
            ip: ip("192.168.0.212"),
            login: true,
            timeout_mins: Some(60),
            profile: "pan-example-regex".to_owned(),
        })
    );
}

#[test]
fn the_pan_example_as_a_field_profile_is_a_login() {
    assert_eq!(
        field_profile("authentication success", "\\s").observe(PAN_EXAMPLE),
        Some(Observed {
            user: "domain\\johndoe_4".to_owned(),
            ip: ip("192.168.0.212"),
            login: true,
            timeout_mins: None,
            profile: "pan-example-field".to_owned(),
        })
    );
}

#[test]
fn a_logout_profile_observes_logouts() {
    let message = "[Tue Jul 5 17:02:11 2005 CDT] Administrator logout User:domain\\johndoe_4 Source:192.168.0.212";
    let profile = Profile {
        identifier: Identifier::Regex {
            event: Regex::new(r"(logout){1}").unwrap(),
            user: Regex::new(r"User:([a-zA-Z0-9\\\._]+)").unwrap(),
            address: Regex::new(r"Source:([0-9.]+)").unwrap(),
        },
        ..regex_profile(false)
    };
    let observed = profile.observe(message).unwrap();
    assert!(!observed.login);
    assert_eq!(observed.user, "domain\\johndoe_4");
    assert_eq!(observed.ip, ip("192.168.0.212"));
    assert_eq!(
        profile.observe(PAN_EXAMPLE),
        None,
        "a login is not its event"
    );
}

#[test]
fn a_message_without_the_event_is_nothing() {
    let failure = PAN_EXAMPLE.replace("success", "failure");
    assert_eq!(regex_profile(true).observe(&failure), None);
    assert_eq!(
        field_profile("authentication success", "\\s").observe(&failure),
        None
    );
}

#[test]
fn the_event_string_is_literal_not_a_regex() {
    assert_eq!(
        field_profile("authentication.success", "\\s").observe(PAN_EXAMPLE),
        None
    );
}

#[test]
fn an_address_that_is_not_an_ip_is_nothing() {
    let hostname = PAN_EXAMPLE.replace("192.168.0.212", "ws042.corp.example");
    assert_eq!(
        field_profile("authentication success", "\\s").observe(&hostname),
        None
    );
    let regex = Profile {
        identifier: Identifier::Regex {
            event: Regex::new("success").unwrap(),
            user: Regex::new(r"User:(\S+)").unwrap(),
            address: Regex::new(r"Source:(\S+)").unwrap(),
        },
        ..regex_profile(true)
    };
    assert_eq!(regex.observe(&hostname), None);
    assert_eq!(
        regex.observe(&PAN_EXAMPLE.replace("192.168.0.212", "999.1.1.1")),
        None
    );
}

#[test]
fn a_missing_user_or_address_is_nothing() {
    let profile = field_profile("authentication success", "\\s");
    assert_eq!(
        profile.observe(&PAN_EXAMPLE.replace("User:", "Name:")),
        None
    );
    assert_eq!(
        profile.observe(&PAN_EXAMPLE.replace("Source:", "From:")),
        None
    );
    assert_eq!(
        profile.observe(&PAN_EXAMPLE.replace("User:domain\\johndoe_4", "User: ")),
        None,
        "an empty user"
    );
    let regex = regex_profile(true);
    assert_eq!(regex.observe(&PAN_EXAMPLE.replace("User:", "Name:")), None);
}

#[test]
fn a_field_runs_to_the_end_of_the_message_without_its_delimiter() {
    // The address is last: no space follows it, yet it is read whole.
    let observed = field_profile("authentication success", "\\s")
        .observe(&format!("{PAN_EXAMPLE}\r\n"))
        .unwrap();
    assert_eq!(
        observed.ip,
        ip("192.168.0.212"),
        "trailing whitespace trimmed"
    );
}

#[test]
fn field_values_are_trimmed_and_literal_delimiters_work() {
    let message = "login ok; User: jdoe ; Source: 2001:db8::7 ; port 22";
    let observed = field_profile("login ok", ";").observe(message).unwrap();
    assert_eq!(observed.user, "jdoe");
    assert_eq!(observed.ip, ip("2001:db8::7"));
    let tabbed = "login ok\tUser:jdoe\tSource:10.1.2.3\tport";
    let observed = field_profile("login ok", "\\t").observe(tabbed).unwrap();
    assert_eq!(
        (observed.user.as_str(), observed.ip),
        ("jdoe", ip("10.1.2.3"))
    );
}

#[test]
fn a_delimiter_of_several_characters_is_matched_whole() {
    let message = "ok User:a,b,,c Source:10.0.0.9,,";
    let observed = field_profile("ok", ",,").observe(message).unwrap();
    assert_eq!(observed.user, "a,b");
    assert_eq!(observed.ip, ip("10.0.0.9"));
}

#[test]
fn regex_values_are_trimmed() {
    let profile = Profile {
        identifier: Identifier::Regex {
            event: Regex::new("success").unwrap(),
            user: Regex::new(r"User:([^S]+)").unwrap(),
            address: Regex::new(r"Source:(.*)$").unwrap(),
        },
        ..regex_profile(true)
    };
    let observed = profile.observe(&format!("{PAN_EXAMPLE}  ")).unwrap();
    assert_eq!(observed.user, "domain\\johndoe_4");
    assert_eq!(observed.ip, ip("192.168.0.212"));
}

#[test]
fn builtin_names_round_trip() {
    for name in Builtin::NAMES {
        assert_eq!(Builtin::from_name(name).map(Builtin::name), Some(name));
    }
    assert_eq!(Builtin::from_name("cisco_ise"), None);
    assert_eq!(Builtin::from_name(""), None);
}

#[test]
fn macs_and_machine_accounts_are_not_people() {
    for device in [
        "90-1B-0E-34-EA-92",
        "90:1b:0e:34:ea:92",
        "901b.0e34.ea92",
        "901b0e34ea92",
        "host/ws042.corp.example",
        "HOST/ws042",
        "",
    ] {
        assert!(!is_person(device), "{device}");
    }
    for person in [
        "jdoe",
        "CORP\\jdoe",
        "jdoe@corp.example",
        "123456789012",
        "deadbeef",
    ] {
        assert!(is_person(person), "{person}");
    }
}

#[test]
fn addresses_no_user_sits_behind_are_not_client_addresses() {
    for nobody in [
        "0.0.0.0",
        "::",
        "127.0.0.1",
        "::1",
        "224.0.0.1",
        "ff02::1",
        "255.255.255.255",
        "-",
        "",
    ] {
        assert_eq!(client_address(nobody), None, "{nobody}");
    }
    assert_eq!(client_address(" 10.0.0.1 "), Some(ip("10.0.0.1")));
    assert_eq!(client_address("::ffff:10.0.0.1"), Some(ip("10.0.0.1")));
    assert_eq!(client_address("2001:db8::1"), Some(ip("2001:db8::1")));
}
