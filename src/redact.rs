//! Keeping secrets out of text: URLs lose their user-info and query
//! string, and header values and bearer tokens are replaced, before they
//! reach a plan, a log line, an error or a pull-request body.
//!
//! A smoke check's `?token=…`, an `https://user:token@host` remote echoed
//! by libgit2, or an `Authorization` header quoted by a server are all
//! secrets the operator put in config. Redaction keeps what helps a human
//! (scheme, host, path) and drops the rest.

/// What replaces a removed secret.
pub const REDACTED: &str = "<redacted>";

/// Header names whose value is a secret wherever they are quoted.
const SECRET_HEADERS: &[&str] = &[
    "authorization",
    "proxy-authorization",
    "cookie",
    "set-cookie",
    "x-api-key",
    "private-token",
    "x-auth-token",
];

/// One URL with its user-info replaced by `***` and its query string and
/// fragment by [`REDACTED`]: `https://u:t@h/p?token=x` becomes
/// `https://***@h/p?<redacted>`. Text that is not a `scheme://` URL only
/// loses a query string.
pub fn url(text: &str) -> String {
    let (head, tail) = split_query(text);
    let head = match head.find("://") {
        Some(scheme_end) => {
            let authority_start = scheme_end + 3;
            let rest = &head[authority_start..];
            let authority_len = rest.find(['/', '\\']).unwrap_or(rest.len());
            match rest[..authority_len].rfind('@') {
                Some(at) => format!("{}***{}", &head[..authority_start], &rest[at..]),
                None => head.to_string(),
            }
        }
        None => head.to_string(),
    };
    format!("{head}{tail}")
}

/// Splits off the query and fragment, replacing each by [`REDACTED`]; an
/// empty query stays empty.
fn split_query(text: &str) -> (&str, String) {
    let Some(start) = text.find(['?', '#']) else {
        return (text, String::new());
    };
    let (head, rest) = text.split_at(start);
    let mut tail = String::new();
    // `?query#fragment`, `?query`, `#fragment`: each part that has content
    // is replaced as a whole.
    let (query, fragment) = match rest.strip_prefix('?') {
        Some(q) => match q.find('#') {
            Some(i) => (Some(&q[..i]), Some(&q[i + 1..])),
            None => (Some(q), None),
        },
        None => (None, rest.strip_prefix('#')),
    };
    if let Some(q) = query {
        tail.push('?');
        if !q.is_empty() {
            tail.push_str(REDACTED);
        }
    }
    if let Some(f) = fragment {
        tail.push('#');
        if !f.is_empty() {
            tail.push_str(REDACTED);
        }
    }
    (head, tail)
}

/// Free text (an error message, a server's answer) with every URL in it
/// passed through [`url`], the value after a secret header name
/// (`Authorization: …`) and the credential after `Bearer` or `Basic`
/// replaced by [`REDACTED`].
pub fn text(input: &str) -> String {
    let urls = urls_in(input);
    headers_in(&urls)
}

/// Characters that end a URL inside text.
fn ends_url(c: char) -> bool {
    c.is_whitespace() || matches!(c, '"' | '\'' | '<' | '>' | '`' | '(' | ')' | '[' | ']')
}

fn urls_in(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    let mut rest = input;
    while let Some(sep) = rest.find("://") {
        // The scheme: the letters, digits, `+`, `-` and `.` before `://`.
        let before = &rest[..sep];
        let scheme_len = before
            .chars()
            .rev()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'))
            .map(char::len_utf8)
            .sum::<usize>();
        let start = sep - scheme_len;
        out.push_str(&rest[..start]);
        let from_start = &rest[start..];
        let len = from_start
            .char_indices()
            .find(|&(_, c)| ends_url(c))
            .map_or(from_start.len(), |(i, _)| i);
        let (found, after) = from_start.split_at(len);
        // Also without a scheme: what follows `://` may hold user-info.
        out.push_str(&url(found));
        rest = after;
    }
    out.push_str(rest);
    out
}

/// Replaces header values and authorization tokens, line by line.
fn headers_in(input: &str) -> String {
    let mut out = String::with_capacity(input.len());
    for (i, line) in input.split('\n').enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&header_line(line));
    }
    out
}

fn header_line(line: &str) -> String {
    // ASCII lowercasing keeps every byte offset of `line`.
    let lower = line.to_ascii_lowercase();
    // `Name: value` with a secret name: keep the name, drop the value.
    for name in SECRET_HEADERS {
        let mut from = 0;
        while let Some(found) = lower[from..].find(name) {
            let at = from + found;
            let after = at + name.len();
            from = after;
            let whole_word = lower[..at].chars().next_back().is_none_or(|c| !is_word(c));
            let gap =
                lower[after..].len() - lower[after..].trim_start_matches([' ', '"', '\'']).len();
            let sep = after + gap;
            if whole_word && matches!(lower[sep..].chars().next(), Some(':' | '=')) {
                return format!("{} {REDACTED}", &line[..=sep]);
            }
        }
    }
    // `Bearer abc`, `Basic dXNlcjpwYXNz`: the credential after the scheme.
    let mut out = String::with_capacity(line.len());
    let mut scheme: Option<&str> = None;
    for (i, word) in line.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let secret = match scheme {
            Some("bearer") => !word.is_empty(),
            Some("basic") => looks_like_base64(word),
            _ => false,
        };
        if secret {
            out.push_str(REDACTED);
        } else {
            out.push_str(word);
        }
        scheme = match word.to_ascii_lowercase().as_str() {
            "bearer" => Some("bearer"),
            "basic" => Some("basic"),
            _ => None,
        };
    }
    out
}

fn is_word(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '-' || c == '_'
}

/// `user:password` in base64, not an English word after "basic".
fn looks_like_base64(word: &str) -> bool {
    let b = word.as_bytes();
    b.len() >= 8
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'/' | b'='))
        && (b.iter().any(|c| !c.is_ascii_alphabetic())
            || (b.iter().any(u8::is_ascii_uppercase) && b.iter().any(u8::is_ascii_lowercase)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_lose_user_info_query_and_fragment() {
        assert_eq!(
            url("https://dev.acme.io/health?token=s3cret"),
            "https://dev.acme.io/health?<redacted>"
        );
        assert_eq!(
            url("https://x-access-token:ghs_1@github.com/a/b.git"),
            "https://***@github.com/a/b.git"
        );
        assert_eq!(
            url("https://u:p@h/p?a=1#frag"),
            "https://***@h/p?<redacted>#<redacted>"
        );
        assert_eq!(url("https://h/p?"), "https://h/p?");
        assert_eq!(url("https://h/a@b/c"), "https://h/a@b/c");
        assert_eq!(url("https://h/p"), "https://h/p");
        assert_eq!(url("git@github.com:a/b.git"), "git@github.com:a/b.git");
        // The user-info may hold an `@` itself, or multi-byte text.
        assert_eq!(url("https://ü:p@ss@h/p"), "https://***@h/p");
    }

    #[test]
    fn urls_inside_text_are_redacted() {
        let t = text(
            "unexpected http status for 'https://x-access-token:ghs_abc@github.com/a/b.git/info/refs?service=git-upload-pack' (retry)",
        );
        assert_eq!(
            t,
            "unexpected http status for 'https://***@github.com/a/b.git/info/refs?<redacted>' (retry)"
        );
        assert!(!t.contains("ghs_abc"));
        let two = text("from http://a:b@h1/x to https://h2/y?k=v, then done");
        assert_eq!(
            two,
            "from http://***@h1/x to https://h2/y?<redacted> then done"
        );
        // Multi-byte text around URLs is kept as it is.
        assert_eq!(
            text("게이트웨이 https://h/?t=1 끝"),
            "게이트웨이 https://h/?<redacted> 끝"
        );
        assert_eq!(text("no url here"), "no url here");
        assert_eq!(text("://u:p@h"), "://***@h");
    }

    #[test]
    fn header_values_and_tokens_are_redacted() {
        assert_eq!(
            text("request had Authorization: Bearer abc.def"),
            "request had Authorization: <redacted>"
        );
        assert_eq!(text("cookie=session=1"), "cookie= <redacted>");
        assert_eq!(
            text("sent Bearer ghs_x to it"),
            "sent Bearer <redacted> to it"
        );
        assert_eq!(text("Basic dXNlcjpwYXNz"), "Basic <redacted>");
        assert_eq!(text("basic scanning is on"), "basic scanning is on");
        assert_eq!(text("a token is configured"), "a token is configured");
        assert_eq!(
            text("x-authorization-mode: y"),
            "x-authorization-mode: y",
            "only whole header names"
        );
        assert_eq!(
            text("line1\nX-Api-Key: k\nline3"),
            "line1\nX-Api-Key: <redacted>\nline3"
        );
    }
}
