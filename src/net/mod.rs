//! Network addresses as the network stages write them (`tcp://HOST:PORT`, `udp://HOST:PORT`,
//! `unix:PATH`): shared by `listen`, which serves one, and `send`, which connects to one.

use std::path::PathBuf;

use anyhow::{Result, bail};

/// A socket address as the network stages write it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    Tcp(String),
    Udp(String),
    Unix(PathBuf),
}

impl Address {
    pub fn parse(s: &str) -> Result<Self> {
        if let Some(rest) = s.strip_prefix("tcp://") {
            Ok(Address::Tcp(host_port(rest, s)?))
        } else if let Some(rest) = s.strip_prefix("udp://") {
            Ok(Address::Udp(host_port(rest, s)?))
        } else if let Some(rest) = s
            .strip_prefix("unix://")
            .or_else(|| s.strip_prefix("unix:"))
            && !rest.is_empty()
        {
            Ok(Address::Unix(PathBuf::from(rest)))
        } else {
            bail!("`{s}` is not an address: use tcp://HOST:PORT, udp://HOST:PORT or unix:PATH")
        }
    }
}

fn host_port(rest: &str, whole: &str) -> Result<String> {
    match rest.rsplit_once(':') {
        Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
            Ok(rest.to_string())
        }
        _ => bail!("`{whole}`: expected HOST:PORT after the scheme (e.g. tcp://127.0.0.1:5140)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_parse_or_say_what_is_expected() {
        assert_eq!(
            Address::parse("tcp://127.0.0.1:0").unwrap(),
            Address::Tcp("127.0.0.1:0".into())
        );
        assert_eq!(
            Address::parse("udp://[::1]:514").unwrap(),
            Address::Udp("[::1]:514".into())
        );
        assert_eq!(
            Address::parse("unix:/tmp/x.sock").unwrap(),
            Address::Unix("/tmp/x.sock".into())
        );
        for bad in [
            "127.0.0.1:80",
            "tcp://nohost",
            "tcp://h:99999",
            "unix:",
            "http://x:1",
        ] {
            assert!(Address::parse(bad).is_err(), "{bad}");
        }
    }
}
