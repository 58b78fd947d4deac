//! Credentials that never change (Splunk's token, a bearer token, basic authentication), for the
//! sinks whose `Authorization` header is fixed (Azure's tokens expire: `azure_logs::token`).
//! Secrets appear in no log line and no error message.

use reqwest::header::HeaderValue;

pub enum Auth {
    None,
    /// A header that never changes: `Splunk <token>` or `Bearer <token>`.
    Fixed(HeaderValue),
    Basic {
        user: String,
        password: String,
    },
}

impl Auth {
    /// `Authorization: <value>`, marked sensitive so that no debug output shows it.
    pub fn fixed(value: &str) -> Auth {
        match HeaderValue::from_str(value) {
            Ok(mut header) => {
                header.set_sensitive(true);
                Auth::Fixed(header)
            }
            // Config validation reads secrets as trimmed text; a control character is the only
            // way here, and sending no credentials is the honest result (the far end says 401).
            Err(_) => {
                tracing::error!(
                    "the configured credential contains characters an HTTP header cannot carry"
                );
                Auth::None
            }
        }
    }

    /// Adds the credentials to a request.
    pub fn apply(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match self {
            Auth::None => request,
            Auth::Fixed(value) => request.header(reqwest::header::AUTHORIZATION, value.clone()),
            Auth::Basic { user, password } => request.basic_auth(user, Some(password)),
        }
    }
}
