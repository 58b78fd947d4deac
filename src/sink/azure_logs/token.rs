//! The Azure access token: from Entra ID (client credentials) or the instance metadata service
//! (managed identity), cached, fetched again a few minutes before it expires, and once more when
//! the API answers 401. Secrets and tokens appear in no log line and no error message.

use std::time::{Duration, Instant};

use reqwest::header::HeaderValue;
use serde::Deserialize;
use tokio::sync::Mutex;

use super::AzureAuth;
use crate::sink::http::{error_chain, read_answer};

/// Tokens are renewed this long before they expire (or at half their life, if that is sooner).
const REFRESH_BEFORE_EXPIRY: Duration = Duration::from_secs(300);

pub struct TokenSource {
    auth: AzureAuth,
    client: reqwest::Client,
    cached: Mutex<Option<Token>>,
}

struct Token {
    header: HeaderValue,
    renew_at: Instant,
}

/// Entra ID sends `expires_in` as a number, the metadata service as a string.
#[derive(Deserialize)]
struct TokenResponse {
    access_token: String,
    #[serde(deserialize_with = "number_or_string")]
    expires_in: u64,
}

fn number_or_string<'de, D: serde::Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Number(u64),
        Text(String),
    }
    match Either::deserialize(d)? {
        Either::Number(n) => Ok(n),
        Either::Text(text) => text.parse().map_err(serde::de::Error::custom),
    }
}

impl TokenSource {
    pub async fn bearer(&self) -> Result<HeaderValue, String> {
        let mut cached = self.cached.lock().await;
        if let Some(token) = cached.as_ref() {
            if Instant::now() < token.renew_at {
                return Ok(token.header.clone());
            }
        }
        let fetched = self.fetch().await?;
        let lifetime = Duration::from_secs(fetched.expires_in);
        let renew_in = lifetime.saturating_sub(REFRESH_BEFORE_EXPIRY.min(lifetime / 2));
        let mut header = HeaderValue::from_str(&format!("Bearer {}", fetched.access_token))
            .map_err(|_| {
                "the token service returned a token that is not header-safe".to_string()
            })?;
        header.set_sensitive(true);
        *cached = Some(Token {
            header: header.clone(),
            renew_at: Instant::now() + renew_in,
        });
        tracing::debug!(
            expires_in_secs = fetched.expires_in,
            "fetched an Azure access token"
        );
        Ok(header)
    }

    async fn fetch(&self) -> Result<TokenResponse, String> {
        let request = match &self.auth {
            AzureAuth::ClientSecret {
                authority,
                tenant_id,
                client_id,
                secret,
                scope,
            } => self
                .client
                .post(format!("{authority}/{tenant_id}/oauth2/v2.0/token"))
                .form(&[
                    ("client_id", client_id.as_str()),
                    ("client_secret", secret.value.as_str()),
                    ("grant_type", "client_credentials"),
                    ("scope", scope.as_str()),
                ]),
            AzureAuth::ManagedIdentity {
                endpoint,
                client_id,
                resource,
            } => {
                let mut query = vec![("api-version", "2018-02-01"), ("resource", resource)];
                if let Some(id) = client_id {
                    query.push(("client_id", id));
                }
                self.client
                    .get(endpoint)
                    .query(&query)
                    .header("Metadata", "true")
            }
        };
        let response = request
            .send()
            .await
            .map_err(|e| format!("cannot reach the token service: {}", error_chain(&e)))?;
        let status = response.status();
        let body = read_answer(response)
            .await
            .map_err(|reason| format!("token service: {reason}"))?;
        if !status.is_success() {
            // Entra ID explains itself in `error` and `error_description`, never echoing secrets.
            let reason = serde_json::from_slice::<serde_json::Value>(&body)
                .ok()
                .and_then(|v| {
                    Some(format!(
                        "{}: {}",
                        v.get("error")?.as_str()?,
                        v.get("error_description")
                            .and_then(|d| d.as_str())
                            .unwrap_or("")
                    ))
                })
                .unwrap_or_default();
            return Err(format!("the token service answered {status} {reason}"));
        }
        serde_json::from_slice(&body)
            .map_err(|e| format!("the token service's answer is not a token: {e}"))
    }
}

impl TokenSource {
    /// After a 401: the next [`Self::bearer`] fetches a fresh token.
    pub async fn forget(&self) {
        *self.cached.lock().await = None;
    }

    pub fn new(auth: AzureAuth, client: reqwest::Client) -> Self {
        TokenSource {
            auth,
            client,
            cached: Mutex::new(None),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expires_in_may_be_a_string() {
        let token: TokenResponse =
            serde_json::from_str(r#"{"access_token":"t","expires_in":"3599"}"#).unwrap();
        assert_eq!(token.expires_in, 3599);
        let token: TokenResponse =
            serde_json::from_str(r#"{"access_token":"t","expires_in":3599}"#).unwrap();
        assert_eq!(token.expires_in, 3599);
    }
}
