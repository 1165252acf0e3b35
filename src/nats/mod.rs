//! NATS: how to reach a server — its address, and the login and TLS options (one option
//! group, flattened into `publish` and `subscribe` alike) — for the `async-nats` client.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// The login and TLS options of the NATS stages.
#[derive(clap::Args, Clone, Debug, Default)]
pub struct Login {
    /// Log in with this user (with `--password`).
    #[arg(long, value_name = "USER", requires = "password")]
    pub user: Option<String>,
    /// The password of `--user`.
    #[arg(long, value_name = "PASSWORD")]
    pub password: Option<String>,
    /// Log in with this token.
    #[arg(long, value_name = "TOKEN")]
    pub token: Option<String>,
    /// Log in with this credentials file (JWT and NKey seed).
    #[arg(long, value_name = "FILE")]
    pub creds: Option<PathBuf>,
    /// Require TLS.
    #[arg(long)]
    pub tls: bool,
    /// Trust the certificate authorities in this PEM file.
    #[arg(long, value_name = "FILE")]
    pub tls_ca: Option<PathBuf>,
    /// Present this client certificate (PEM; with `--tls-key`).
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The key of `--tls-cert` (PEM).
    #[arg(long, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
}

impl Login {
    /// How to reach the server at `url` with these options.
    pub fn conn(&self, url: &str) -> Conn {
        Conn {
            url: url.to_string(),
            user: self.user.clone().zip(self.password.clone()),
            token: self.token.clone(),
            creds: self.creds.clone(),
            tls: self.tls,
            tls_ca: self.tls_ca.clone(),
            tls_cert: self.tls_cert.clone().zip(self.tls_key.clone()),
        }
    }
}

/// How to reach the server.
pub struct Conn {
    pub url: String,
    pub user: Option<(String, String)>,
    pub token: Option<String>,
    pub creds: Option<PathBuf>,
    pub tls: bool,
    pub tls_ca: Option<PathBuf>,
    pub tls_cert: Option<(PathBuf, PathBuf)>,
}

impl Conn {
    /// Check the URL: `nats://` or `tls://` (or a bare `HOST:PORT`).
    pub fn check_url(url: &str) -> Result<()> {
        let rest = url
            .strip_prefix("nats://")
            .or_else(|| url.strip_prefix("tls://"))
            .unwrap_or(url);
        if rest.contains("://") || rest.is_empty() {
            bail!("{url}: not a NATS server address (nats://HOST:PORT or tls://HOST:PORT)");
        }
        Ok(())
    }

    pub async fn options(&self) -> Result<async_nats::ConnectOptions> {
        let mut o = async_nats::ConnectOptions::new()
            .connection_timeout(Duration::from_secs(2))
            .max_reconnects(None)
            .client_capacity(65_536);
        if let Some((u, p)) = &self.user {
            o = o.user_and_password(u.clone(), p.clone());
        }
        if let Some(t) = &self.token {
            o = o.token(t.clone());
        }
        if let Some(c) = &self.creds {
            o = o
                .credentials_file(c)
                .await
                .with_context(|| format!("{}: cannot read the credentials", c.display()))?;
        }
        if self.tls {
            o = o.require_tls(true);
        }
        if let Some(ca) = &self.tls_ca {
            o = o.add_root_certificates(ca.clone());
        }
        if let Some((c, k)) = &self.tls_cert {
            o = o.add_client_certificate(c.clone(), k.clone());
        }
        Ok(o)
    }
}
