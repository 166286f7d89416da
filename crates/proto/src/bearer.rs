//! The caller's token on every call: `authorization: Bearer TOKEN`, as the scheduler's gate
//! reads it. Clients, agents and executors wrap their channels in [`Bearer`].

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// A channel whose calls carry a token, when there is one.
pub type Authorized = InterceptedService<Channel, Bearer>;

/// Puts `authorization: Bearer TOKEN` on each call.
#[derive(Clone, Debug, Default)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

/// A token a header cannot carry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the token is empty or has characters a header cannot carry; tokens are printable ASCII without spaces")]
pub struct BadToken;

impl Bearer {
    /// Calls carrying `token`, or none.
    pub fn new(token: Option<&str>) -> Result<Bearer, BadToken> {
        match token {
            None => Ok(Bearer(None)),
            Some(token) => {
                let token = token.trim();
                if token.is_empty() || !token.chars().all(|c| c.is_ascii_graphic()) {
                    return Err(BadToken);
                }
                format!("Bearer {token}").parse().map(|value| Bearer(Some(value))).map_err(|_| BadToken)
            }
        }
    }

    /// `channel` with this token on every call.
    pub fn wrap(self, channel: Channel) -> Authorized {
        InterceptedService::new(channel, self)
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request.metadata_mut().insert("authorization", value.clone());
        }
        Ok(request)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_goes_in_the_authorization_header_and_a_bad_one_is_refused() {
        let mut bearer = Bearer::new(Some(" s3cret\n")).unwrap();
        let request = bearer.call(tonic::Request::new(())).unwrap();
        assert_eq!(request.metadata().get("authorization").unwrap(), "Bearer s3cret");
        let request = Bearer::new(None).unwrap().call(tonic::Request::new(())).unwrap();
        assert!(request.metadata().get("authorization").is_none());
        assert_eq!(Bearer::new(Some("caf\u{e9}")).unwrap_err(), BadToken);
        assert_eq!(Bearer::new(Some("two words")).unwrap_err(), BadToken);
        assert_eq!(Bearer::new(Some("  ")).unwrap_err(), BadToken);
    }
}
