//! How Atoll's clients, agents and executors reach a scheduler (and the scheduler an agent's
//! log service): over TLS for an `https://` address, verified against the CA certificate they
//! were given and, for agents, presenting a certificate of their own ([`secure`]), with the
//! caller's token on every call as `authorization: Bearer TOKEN`, as the scheduler's gate reads
//! it ([`Bearer`]).

use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Endpoint, Identity};

/// A certificate (chain) and its private key, both PEM: what a TLS listener serves, and what an
/// agent presents to its scheduler in place of a token (mutual TLS).
#[derive(Clone)]
pub struct TlsIdentity {
    pub cert_pem: Vec<u8>,
    pub key_pem: Vec<u8>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "TlsIdentity({} bytes of certificate, key hidden)", self.cert_pem.len())
    }
}

impl TlsIdentity {
    /// The identity tonic takes.
    pub fn identity(&self) -> Identity {
        Identity::from_pem(&self.cert_pem, &self.key_pem)
    }
}

/// A scheduler address and a CA that do not go together.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlsSetupError {
    #[error(
        "{address} is https://, so its certificate must be checked: give the CA certificate that signed it (ca_file for the cluster in the clusters file, ATOLL_CA_FILE, or --tls-ca)"
    )]
    NoCa { address: String },
    #[error("a CA certificate was given, but {address} is plaintext http://; use https:// (or drop the CA)")]
    CaForPlaintext { address: String },
    #[error(
        "a client certificate was given, but {address} is plaintext http://; use https:// (or drop the certificate)"
    )]
    IdentityForPlaintext { address: String },
    #[error("the TLS settings for {address} cannot be used: {detail}")]
    Unusable { address: String, detail: String },
}

/// `endpoint` (for `address`) over TLS verified against `ca_pem` when `address` is
/// `https://`, presenting `identity` if given; plaintext for `http://`, which takes neither.
pub fn secure(
    endpoint: Endpoint,
    address: &str,
    ca_pem: Option<&[u8]>,
    identity: Option<&TlsIdentity>,
) -> Result<Endpoint, TlsSetupError> {
    let address_owned = || address.to_owned();
    match (address.starts_with("https://"), ca_pem) {
        (false, _) if identity.is_some() => Err(TlsSetupError::IdentityForPlaintext { address: address_owned() }),
        (false, None) => Ok(endpoint),
        (false, Some(_)) => Err(TlsSetupError::CaForPlaintext { address: address_owned() }),
        (true, None) => Err(TlsSetupError::NoCa { address: address_owned() }),
        (true, Some(ca)) => {
            let mut config = ClientTlsConfig::new().ca_certificate(Certificate::from_pem(ca));
            if let Some(identity) = identity {
                config = config.identity(identity.identity());
            }
            endpoint
                .tls_config(config)
                .map_err(|e| TlsSetupError::Unusable { address: address_owned(), detail: e.to_string() })
        }
    }
}

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

    #[test]
    fn a_client_certificate_needs_an_https_scheduler() {
        let identity = TlsIdentity { cert_pem: b"cert".to_vec(), key_pem: b"key".to_vec() };
        let endpoint = Endpoint::from_static("http://127.0.0.1:7070");
        let error = secure(endpoint, "http://127.0.0.1:7070", None, Some(&identity)).unwrap_err();
        assert_eq!(
            error.to_string(),
            "a client certificate was given, but http://127.0.0.1:7070 is plaintext http://; use https:// (or drop the certificate)"
        );
        assert_eq!(format!("{identity:?}"), "TlsIdentity(4 bytes of certificate, key hidden)", "never the key");
    }
}
