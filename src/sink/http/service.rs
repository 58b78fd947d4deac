//! What an HTTP sink type does its own way, behind one small trait; the driver ([`super`]) does
//! the rest: gathering, splitting on 413, retrying with backoff, the dead-letter file and the
//! in-order acknowledgement to the buffer.

use std::future::Future;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{RequestBuilder, StatusCode, Url};

/// What one attempt at a request came to.
pub enum Attempt {
    Delivered,
    /// 413: the body is too big for the far end.
    TooLarge,
    /// 401 from an API whose token can be fetched again.
    Unauthorized,
    /// Permanent: retrying the same records cannot succeed.
    Rejected {
        status: StatusCode,
        reason: String,
    },
    Retry {
        after: Option<Duration>,
        reason: String,
    },
}

pub trait Service: Send + Sync + 'static {
    /// Where every request goes.
    fn url(&self) -> &Url;

    /// What every request carries besides the body's encoding: its content type, configured
    /// extras.
    fn headers(&self) -> HeaderMap;

    /// One JSON array per request; otherwise one JSON object per line.
    fn json_array(&self) -> bool;

    /// The header that names a request; `request_id` is the same on every retry of one request.
    fn request_header(&self, request_id: &str) -> (&'static str, String);

    /// Adds the credentials, fetching a token first if need be.
    fn authorize(
        &self,
        request: RequestBuilder,
    ) -> impl Future<Output = Result<RequestBuilder, String>> + Send;

    /// After a 401: whether a fresh token may help (the next `authorize` then fetches one).
    fn forget_token(&self) -> impl Future<Output = bool> + Send {
        std::future::ready(false)
    }

    /// What a status other than 2xx means for the records of the request.
    fn classify(
        &self,
        status: StatusCode,
        retry_after: Option<Duration>,
        reason: String,
    ) -> Attempt {
        classify(status, retry_after, reason, false)
    }

    /// The far end answered 2xx with `answer`: whether the records count as delivered yet.
    fn accepted(&self, _answer: &str) -> impl Future<Output = Attempt> + Send {
        std::future::ready(Attempt::Delivered)
    }
}

/// What a non-2xx status means. `token_expires`: a 401 asks for a fresh token (Azure); without
/// one, a 401 or 403 means a wrong or disabled credential, which the operator fixes, and the
/// buffered events go through then.
pub fn classify(
    status: StatusCode,
    retry_after: Option<Duration>,
    reason: String,
    token_expires: bool,
) -> Attempt {
    match status.as_u16() {
        413 => Attempt::TooLarge,
        // Throttled or busy: the far end says when to come back.
        429 | 503 => Attempt::Retry {
            after: retry_after,
            reason,
        },
        401 if token_expires => Attempt::Unauthorized,
        401 | 403 if !token_expires => Attempt::Retry {
            after: None,
            reason,
        },
        408 => Attempt::Retry {
            after: None,
            reason,
        },
        400..=499 => Attempt::Rejected { status, reason },
        _ => Attempt::Retry {
            after: retry_after,
            reason,
        },
    }
}
