//! Credentials for the GitOps remote, handed to libgit2 through
//! `RemoteCallbacks`. Secrets stay out of `Debug` output and errors.

use std::fmt;
use std::path::PathBuf;

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
    /// An SSH private key file (the user comes from the URL, else `git`).
    SshKey {
        /// Path to the private key.
        private_key: PathBuf,
        /// The key's passphrase, if it has one; never printed.
        passphrase: Option<String>,
    },
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
        callbacks.credentials(move |_url, user_from_url, allowed| {
            asks += 1;
            if asks > MAX_CREDENTIAL_ASKS {
                return Err(git2::Error::from_str(
                    "authentication failed: the remote refused the configured credentials",
                ));
            }
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
        });
        callbacks
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
