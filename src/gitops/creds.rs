//! Credentials for the GitOps remote, handed to libgit2 through
//! `RemoteCallbacks`. Secrets stay out of `Debug` output and errors.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use git2::{Cred, CredentialType, RemoteCallbacks};

/// How ferry authenticates to the GitOps remote.
#[derive(Clone, Default)]
pub enum Credentials {
    /// No credentials: local repositories, or public remotes over https.
    #[default]
    None,
    /// HTTPS basic auth with a token as the password (for a GitHub App
    /// installation token the user is `x-access-token`).
    Token {
        /// The user name sent with the token.
        user: String,
        /// The token; never printed.
        token: String,
    },
    /// HTTPS basic auth with a short-lived token asked for each time libgit2
    /// needs one (a GitHub App installation token, renewed by the source),
    /// so no long-lived credential for git is configured at all.
    Source(Arc<dyn TokenSource>),
    /// An SSH private key file (the user comes from the URL, else `git`).
    SshKey {
        /// Path to the private key.
        private_key: PathBuf,
        /// The key's passphrase, if it has one; never printed.
        passphrase: Option<String>,
    },
}

/// Where [`Credentials::Source`] gets a user and token for a remote URL.
/// Called from libgit2's credential callback, outside any async context,
/// so it blocks; implementations cache what they hand out.
pub trait TokenSource: fmt::Debug + Send + Sync {
    /// `(user, token)` for `url`, valid now; or why not (no secret in it).
    fn credentials(&self, url: &str) -> Result<(String, String), String>;
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Credentials::None => f.write_str("None"),
            Credentials::Token { user, .. } => f
                .debug_struct("Token")
                .field("user", user)
                .field("token", &"<redacted>")
                .finish(),
            Credentials::Source(source) => f.debug_tuple("Source").field(source).finish(),
            Credentials::SshKey {
                private_key,
                passphrase,
            } => f
                .debug_struct("SshKey")
                .field("private_key", private_key)
                .field("passphrase", &passphrase.as_ref().map(|_| "<redacted>"))
                .finish(),
        }
    }
}

/// libgit2 asks again after each refused credential; past this many asks in
/// one operation the credentials are wrong, and asking more would loop.
const MAX_CREDENTIAL_ASKS: u32 = 3;

impl Credentials {
    /// Callbacks that answer libgit2's credential requests with `self`.
    pub(crate) fn callbacks(&self) -> RemoteCallbacks<'_> {
        let mut callbacks = RemoteCallbacks::new();
        let mut asks = 0u32;
        callbacks.credentials(move |url, user_from_url, allowed| {
            asks += 1;
            if asks > MAX_CREDENTIAL_ASKS {
                return Err(git2::Error::from_str(
                    "authentication failed: the remote refused the configured credentials",
                ));
            }
            self.answer(url, user_from_url, allowed)
        });
        callbacks
    }

    /// One answer to libgit2's credential request for `url`.
    fn answer(
        &self,
        url: &str,
        user_from_url: Option<&str>,
        allowed: CredentialType,
    ) -> Result<Cred, git2::Error> {
        match self {
            Credentials::None => Err(git2::Error::from_str(
                "the remote asks for credentials and none are configured",
            )),
            Credentials::Token { user, token } => {
                if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                    Cred::userpass_plaintext(user, token)
                } else {
                    Err(git2::Error::from_str(
                        "a token is configured but the remote does not accept user/password \
                         authentication (is this an ssh URL?)",
                    ))
                }
            }
            Credentials::Source(source) => {
                if !allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
                    return Err(git2::Error::from_str(
                        "a token source is configured but the remote does not accept \
                         user/password authentication (is this an ssh URL?)",
                    ));
                }
                match source.credentials(url) {
                    Ok((user, token)) => Cred::userpass_plaintext(&user, &token),
                    Err(why) => Err(git2::Error::from_str(&format!(
                        "no token for {}: {}",
                        crate::redact::url(url),
                        crate::redact::text(&why)
                    ))),
                }
            }
            Credentials::SshKey {
                private_key,
                passphrase,
            } => {
                let user = user_from_url.unwrap_or("git");
                if allowed.contains(CredentialType::USERNAME) {
                    Cred::username(user)
                } else if allowed.contains(CredentialType::SSH_KEY) {
                    Cred::ssh_key(user, None, private_key, passphrase.as_deref())
                } else {
                    Err(git2::Error::from_str(
                        "an ssh key is configured but the remote does not accept ssh keys \
                         (is this an https URL?)",
                    ))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hands out a new token each time and counts the asks.
    #[derive(Debug, Default)]
    struct Counting(std::sync::atomic::AtomicU32);

    impl TokenSource for Counting {
        fn credentials(&self, url: &str) -> Result<(String, String), String> {
            let n = self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            if url.contains("other.example") {
                return Err("not this host".into());
            }
            Ok(("x-access-token".into(), format!("ghs_token{n}")))
        }
    }

    #[test]
    fn a_token_source_is_asked_on_every_credential_request() {
        let source = Arc::new(Counting::default());
        let creds = Credentials::Source(source.clone());
        let plain = CredentialType::USER_PASS_PLAINTEXT;
        let url = "https://github.com/acme/gitops.git";
        let cred = creds.answer(url, None, plain).unwrap();
        assert_eq!(cred.credtype(), CredentialType::USER_PASS_PLAINTEXT.bits());
        creds.answer(url, None, plain).unwrap();
        assert_eq!(source.0.load(std::sync::atomic::Ordering::SeqCst), 2);
        // An ssh remote cannot take a token.
        let Err(err) = creds.answer(
            "ssh://git@github.com/a.git",
            Some("git"),
            CredentialType::SSH_KEY,
        ) else {
            panic!("an ssh remote got a token")
        };
        assert!(err.message().contains("ssh URL"), "{err}");
        // The source's refusal is passed on, with the URL redacted.
        let Err(err) = creds.answer("https://u:pw@other.example/a.git?x=1", None, plain) else {
            panic!("the source's refusal was ignored")
        };
        assert_eq!(
            err.message(),
            "no token for https://***@other.example/a.git?<redacted>: not this host"
        );
        let shown = format!("{creds:?}");
        assert!(shown.starts_with("Source("), "{shown}");
        assert!(!shown.contains("ghs_"), "{shown}");
    }

    #[test]
    fn debug_hides_secrets() {
        let token = Credentials::Token {
            user: "x-access-token".into(),
            token: "ghs_supersecret".into(),
        };
        let shown = format!("{token:?}");
        assert!(shown.contains("x-access-token"), "{shown}");
        assert!(!shown.contains("supersecret"), "{shown}");
        let key = Credentials::SshKey {
            private_key: "/keys/id_ed25519".into(),
            passphrase: Some("hunter2".into()),
        };
        let shown = format!("{key:#?}");
        assert!(shown.contains("/keys/id_ed25519"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert_eq!(format!("{:?}", Credentials::None), "None");
    }
}
