//! Command-line flags of `cefrelay run`, laid over the file's raw values before validation (as
//! ripgrep builds its high-level arguments from the low-level ones): a flag's value is checked by
//! exactly the code that checks the same key in the file, and an error about it names the flag.

use std::net::SocketAddr;
use toml::Spanned;

use super::raw::{Agent, FilterMode, RawConfig, RawListener};
use super::validate::{FlagKey, FROM_COMMAND_LINE};

/// What `cefrelay run`'s flags set; `None` (or empty) leaves the file's value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--listen`: replaces the file's listeners.
    pub listen: Vec<String>,
    /// `--forward`: replaces the file's forward addresses.
    pub forward: Option<String>,
    /// `--agent`
    pub agent: Option<Agent>,
    /// `--filter`
    pub filter: Option<FilterMode>,
    /// `--admin` ("" turns the endpoint off).
    pub admin: Option<String>,
}

impl Overrides {
    /// Writes the flags into `raw` and says which keys they set, so that validation names the flag
    /// in an error about one of them.
    pub(super) fn apply(&self, raw: &mut RawConfig) -> Vec<FlagKey> {
        let mut flags = Vec::new();
        let from_flag = |value: String| Spanned::new(FROM_COMMAND_LINE, value);
        if !self.listen.is_empty() {
            raw.listener = self.listen.iter().map(|url| RawListener::at(url)).collect();
            flags.push(FlagKey {
                key_prefix: "listener[",
                flag: "--listen",
            });
        }
        if let Some(agent) = self.agent {
            raw.forward.agent = Some(agent);
            // Follow the agent's port unless an address was chosen on purpose: a loopback
            // address on the other agent's port is the other agent's default.
            let other_port = match agent {
                Agent::Legacy => Agent::Ama.port(),
                Agent::Ama => Agent::Legacy.port(),
            };
            if let Some(addresses) = &mut raw.forward.address {
                let span = addresses.span();
                let followed = addresses
                    .get_ref()
                    .iter()
                    .map(|url| follow_agent_port(url, other_port, agent.port()))
                    .collect();
                *addresses = Spanned::new(span, followed);
            }
            flags.push(FlagKey {
                key_prefix: "forward.agent",
                flag: "--agent",
            });
        }
        if let Some(url) = &self.forward {
            raw.forward.address = Some(Spanned::new(FROM_COMMAND_LINE, vec![url.clone()]));
            flags.push(FlagKey {
                key_prefix: "forward.address",
                flag: "--forward",
            });
        }
        if let Some(filter) = self.filter {
            raw.filter.mode = Some(filter);
        }
        if let Some(admin) = &self.admin {
            raw.admin.listen = Some(from_flag(admin.clone()));
            flags.push(FlagKey {
                key_prefix: "admin.listen",
                flag: "--admin",
            });
        }
        flags
    }
}

/// `url` with `to_port` in place of `from_port` when it is a loopback address on `from_port`;
/// anything else (including what does not parse, which validation then refuses) as it is.
fn follow_agent_port(url: &str, from_port: u16, to_port: u16) -> String {
    let Some((scheme, address)) = url.split_once("://") else {
        return url.to_string();
    };
    match address.parse::<SocketAddr>() {
        Ok(mut address) if address.ip().is_loopback() && address.port() == from_port => {
            address.set_port(to_port);
            format!("{scheme}://{address}")
        }
        _ => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_agent_flag_moves_only_a_loopback_address_on_the_other_agents_port() {
        assert_eq!(
            follow_agent_port("tcp://127.0.0.1:25226", 25226, 28330),
            "tcp://127.0.0.1:28330"
        );
        assert_eq!(
            follow_agent_port("tcp://127.0.0.1:5140", 25226, 28330),
            "tcp://127.0.0.1:5140"
        );
        assert_eq!(
            follow_agent_port("tcp://10.0.0.5:25226", 25226, 28330),
            "tcp://10.0.0.5:25226"
        );
    }
}
