use super::*;

/// A compact rendering of an invocation, so the table stays readable:
/// `3: pin api production tag=v1 reason="x"` or `1: error MissingArgument unpin ENV`.
fn show(inv: &Invocation) -> String {
    let body = match &inv.result {
        Ok(Command::Pin {
            app,
            env,
            tag,
            reason,
        }) => {
            let mut s = format!("pin {app} {env}");
            if let Some(t) = tag {
                s.push_str(&format!(" tag={t}"));
            }
            if let Some(r) = reason {
                s.push_str(&format!(" reason={r:?}"));
            }
            s
        }
        Ok(Command::Unpin { app, env }) => format!("unpin {app} {env}"),
        Ok(Command::Revert { app, env, to }) => match to {
            Some(t) => format!("revert {app} {env} to={t}"),
            None => format!("revert {app} {env}"),
        },
        Ok(Command::Promote { app, tag, env }) => format!("promote {app} {tag} {env}"),
        Ok(Command::Status { app }) => match app {
            Some(a) => format!("status {a}"),
            None => "status".to_string(),
        },
        Ok(Command::Help) => "help".to_string(),
        Err(ParseError::MissingVerb) => "error MissingVerb".to_string(),
        Err(ParseError::UnknownVerb { verb }) => format!("error UnknownVerb {verb}"),
        Err(ParseError::MissingArgument { verb, what }) => {
            format!("error MissingArgument {verb} {what}")
        }
        Err(ParseError::ExtraArgument { verb, arg }) => {
            format!("error ExtraArgument {verb} {arg}")
        }
        Err(ParseError::ExpectedTo { verb, found }) => format!("error ExpectedTo {verb} {found}"),
        Err(ParseError::InvalidTag { verb, .. }) => format!("error InvalidTag {verb}"),
        Err(ParseError::InvalidName {
            verb, what, name, ..
        }) => format!("error InvalidName {verb} {what} {name}"),
    };
    format!("{}: {body}", inv.line)
}

#[test]
fn grammar_table() {
    let long_tag = "v".repeat(129);
    let long_word = "é".repeat(200);
    let long_echo = format!("1: error UnknownVerb {}…", "é".repeat(MAX_ECHO_CHARS));
    #[rustfmt::skip]
    let cases: Vec<(&str, String, Vec<String>)> = vec![
        // Each verb, in its shapes.
        ("pin", "/ferry pin api production".into(), vec!["1: pin api production".into()]),
        ("pin tag", "/ferry pin api production v1.2.3".into(), vec!["1: pin api production tag=v1.2.3".into()]),
        ("pin reason", "/ferry pin api production -- bad release".into(), vec!["1: pin api production reason=\"bad release\"".into()]),
        ("pin tag reason", "/ferry pin api production v1.2.3 -- CVE-2024-1 fix".into(), vec!["1: pin api production tag=v1.2.3 reason=\"CVE-2024-1 fix\"".into()]),
        ("pin reason keeps inner spacing and --", "/ferry pin api prod --  wait  -- for  QA  ".into(), vec!["1: pin api prod reason=\"wait  -- for  QA\"".into()]),
        ("pin reason unicode", "/ferry pin api prod -- déploiement raté 🚨 «ne pas toucher»".into(), vec!["1: pin api prod reason=\"déploiement raté 🚨 «ne pas toucher»\"".into()]),
        ("pin empty reason", "/ferry pin api prod --".into(), vec!["1: error MissingArgument pin REASON".into()]),
        ("pin blank reason", "/ferry pin api prod v1 --   \t ".into(), vec!["1: error MissingArgument pin REASON".into()]),
        ("pin missing env", "/ferry pin api".into(), vec!["1: error MissingArgument pin ENV".into()]),
        ("pin missing app", "/ferry pin".into(), vec!["1: error MissingArgument pin APP".into()]),
        ("pin extra before reason", "/ferry pin api prod v1 v2".into(), vec!["1: error ExtraArgument pin v2".into()]),
        ("pin dash-dash glued is a bad tag", "/ferry pin api prod --urgent".into(), vec!["1: error InvalidTag pin".into()]),
        ("pin invalid tag", "/ferry pin api prod v1:2".into(), vec!["1: error InvalidTag pin".into()]),
        ("pin tag too long", format!("/ferry pin api prod {long_tag}"), vec!["1: error InvalidTag pin".into()]),
        ("unpin", "/ferry unpin api production".into(), vec!["1: unpin api production".into()]),
        ("unpin missing env", "/ferry unpin api".into(), vec!["1: error MissingArgument unpin ENV".into()]),
        ("unpin trailing word", "/ferry unpin api production now".into(), vec!["1: error ExtraArgument unpin now".into()]),
        ("unpin reason is not taken", "/ferry unpin api production -- done".into(), vec!["1: error ExtraArgument unpin --".into()]),
        ("revert", "/ferry revert api production".into(), vec!["1: revert api production".into()]),
        ("revert to tag", "/ferry revert api production to v1.4.0".into(), vec!["1: revert api production to=v1.4.0".into()]),
        ("revert tag without to", "/ferry revert api production v1.4.0".into(), vec!["1: error ExpectedTo revert v1.4.0".into()]),
        ("revert to without tag", "/ferry revert api production to".into(), vec!["1: error MissingArgument revert TAG".into()]),
        ("revert extra after tag", "/ferry revert api production to v1 please".into(), vec!["1: error ExtraArgument revert please".into()]),
        ("revert To is not the keyword", "/ferry revert api production To v1".into(), vec!["1: error ExpectedTo revert To".into()]),
        ("promote", "/ferry promote api v2.0.0 to staging".into(), vec!["1: promote api v2.0.0 staging".into()]),
        ("promote missing to", "/ferry promote api v2.0.0".into(), vec!["1: error MissingArgument promote \"to\"".into()]),
        ("promote wrong keyword", "/ferry promote api v2.0.0 into staging".into(), vec!["1: error ExpectedTo promote into".into()]),
        ("promote missing env", "/ferry promote api v2.0.0 to".into(), vec!["1: error MissingArgument promote ENV".into()]),
        ("promote bad tag", "/ferry promote api .v2 to staging".into(), vec!["1: error InvalidTag promote".into()]),
        ("promote extra", "/ferry promote api v2 to staging now".into(), vec!["1: error ExtraArgument promote now".into()]),
        ("status", "/ferry status".into(), vec!["1: status".into()]),
        ("status app", "/ferry status api".into(), vec!["1: status api".into()]),
        ("status two apps", "/ferry status api web".into(), vec!["1: error ExtraArgument status web".into()]),
        ("help", "/ferry help".into(), vec!["1: help".into()]),
        ("help with words", "/ferry help me".into(), vec!["1: error ExtraArgument help me".into()]),
        // Verbs.
        ("bare /ferry", "/ferry".into(), vec!["1: error MissingVerb".into()]),
        ("bare /ferry with spaces", "/ferry   \t".into(), vec!["1: error MissingVerb".into()]),
        ("unknown verb", "/ferry deploy api prod".into(), vec!["1: error UnknownVerb deploy".into()]),
        ("verb is case-sensitive", "/ferry Pin api prod".into(), vec!["1: error UnknownVerb Pin".into()]),
        ("unknown verb is echoed cut", format!("/ferry {long_word}"), vec![long_echo]),
        // Not commands.
        ("ferryman", "/ferryman pin api prod".into(), vec![]),
        ("ferry-x", "/ferry-x pin api prod".into(), vec![]),
        ("ferry colon", "/ferry: pin api prod".into(), vec![]),
        ("uppercase prefix", "/Ferry pin api prod".into(), vec![]),
        ("text before", "please /ferry pin api prod".into(), vec![]),
        ("inline code", "`/ferry pin api prod`".into(), vec![]),
        ("empty comment", "".into(), vec![]),
        ("prose only", "LGTM, thanks!\r\n\r\nShip it.".into(), vec![]),
        // Indentation and spacing.
        ("three leading spaces", "   /ferry unpin api prod".into(), vec!["1: unpin api prod".into()]),
        ("four leading spaces is code", "    /ferry unpin api prod".into(), vec![]),
        ("leading tab is code", "\t/ferry unpin api prod".into(), vec![]),
        ("tabs and runs of spaces between words", "/ferry\tpin  \t api   prod\t\tv1".into(), vec!["1: pin api prod tag=v1".into()]),
        ("no-break spaces separate words", "/ferry\u{a0}unpin\u{a0}api\u{a0}prod".into(), vec!["1: unpin api prod".into()]),
        ("trailing spaces", "/ferry help   ".into(), vec!["1: help".into()]),
        // Line ends.
        ("CRLF", "hi\r\n/ferry unpin api prod\r\nbye\r\n".into(), vec!["2: unpin api prod".into()]),
        ("CRLF reason has no CR", "/ferry pin api prod -- late\r\n".into(), vec!["1: pin api prod reason=\"late\"".into()]),
        ("text on next line is ignored", "/ferry revert api prod\nbecause it is broken".into(), vec!["1: revert api prod".into()]),
        // Unicode in names.
        ("unicode app", "/ferry unpin äpi prod".into(), vec!["1: error InvalidName unpin APP äpi".into()]),
        ("zero-width space in env", "/ferry unpin api prod\u{200b}".into(), vec!["1: error InvalidName unpin ENV prod\u{200b}".into()]),
        ("emoji env", "/ferry status 🚀".into(), vec!["1: error InvalidName status APP 🚀".into()]),
        ("name starting with dash", "/ferry unpin -api prod".into(), vec!["1: error InvalidName unpin APP -api".into()]),
        ("name with slash", "/ferry unpin api prod/eu".into(), vec!["1: error InvalidName unpin ENV prod/eu".into()]),
        ("unicode tag", "/ferry promote api v1é to prod".into(), vec!["1: error InvalidTag promote".into()]),
        ("unicode around command", "Merci 🙏\n/ferry help\nÜbrigens: 終わり".into(), vec!["2: help".into()]),
        // Code blocks.
        ("backtick fence", "```\n/ferry pin api prod\n```\n/ferry help".into(), vec!["4: help".into()]),
        ("tilde fence", "~~~\n/ferry pin api prod\n~~~".into(), vec![]),
        ("fence with info string", "```sh\n/ferry pin api prod\n```".into(), vec![]),
        ("longer fence needs a long close", "````\n```\n/ferry pin api prod\n````\n/ferry help".into(), vec!["5: help".into()]),
        ("tilde does not close backticks", "```\n~~~\n/ferry pin api prod\n```".into(), vec![]),
        ("unclosed fence runs to the end", "```\n/ferry pin api prod\n/ferry help".into(), vec![]),
        ("indented fence", "  ```\n/ferry pin api prod\n  ```\n/ferry help".into(), vec!["4: help".into()]),
        ("two backticks are not a fence", "``\n/ferry help".into(), vec!["2: help".into()]),
        ("fence CRLF", "```\r\n/ferry pin api prod\r\n```\r\n/ferry help\r\n".into(), vec!["4: help".into()]),
        // Quotes.
        ("quote", "> /ferry revert api prod".into(), vec![]),
        ("quote without space", ">/ferry revert api prod".into(), vec![]),
        ("nested quote", "> > /ferry revert api prod".into(), vec![]),
        ("indented quote", "  > /ferry revert api prod".into(), vec![]),
        ("lazy quote continuation", "> earlier text\n/ferry revert api prod".into(), vec![]),
        ("after a quote and a blank line", "> /ferry revert api prod\n\n/ferry unpin api prod".into(), vec!["3: unpin api prod".into()]),
        ("after a blank-ish line", "> quoted\n   \n/ferry unpin api prod".into(), vec!["3: unpin api prod".into()]),
        ("after an empty quote line", ">\n/ferry unpin api prod".into(), vec!["2: unpin api prod".into()]),
        ("line after a quoted fence is ignored, fail-safe", "> ```\n/ferry help".into(), vec![]),
        ("fence inside a quote, then blank", "> ```\n\n/ferry help".into(), vec!["3: help".into()]),
        ("ferry's own reply", "> /ferry revert api production\n\nReverted `api` in `production` to v1.3.0 (abc1234).".into(), vec![]),
        // Several commands.
        ("several, in order", "/ferry pin api prod\n/ferry unpin web prod\n/ferry status".into(), vec!["1: pin api prod".into(), "2: unpin web prod".into(), "3: status".into()]),
        ("bad one does not hide the others", "/ferry pin\ntext\n/ferry help".into(), vec!["1: error MissingArgument pin APP".into(), "3: help".into()]),
        ("html comment hides a command", "<!-- template\n/ferry pin api prod\n-->\n/ferry help".into(), vec!["4: help".into()]),
        ("one-line html comment", "<!-- /ferry pin api prod -->\n/ferry status".into(), vec!["2: status".into()]),
        ("html comment in a fence is text", "```\n<!--\n```\n/ferry help".into(), vec!["4: help".into()]),
        ("mixed with code and quotes", "> /ferry pin a b\n\n```\n/ferry pin c d\n```\n/ferry unpin e f\n    /ferry pin g h".into(), vec!["6: unpin e f".into()]),
    ];
    assert!(cases.len() >= 40, "{} cases", cases.len());
    let mut failures = Vec::new();
    for (name, body, want) in &cases {
        let got: Vec<String> = parse_comment(body).iter().map(show).collect();
        if &got != want {
            failures.push(format!("{name}: got {got:?}, want {want:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn errors_carry_the_usage_of_their_verb() {
    let cases = [
        ("/ferry unpin api", "/ferry unpin APP ENV"),
        (
            "/ferry revert api prod v1",
            "/ferry revert APP ENV [to TAG]",
        ),
        (
            "/ferry promote api !x to prod",
            "/ferry promote APP TAG to ENV",
        ),
        (
            "/ferry pin api prod --",
            "/ferry pin APP ENV [TAG] [-- REASON]",
        ),
        ("/ferry status a b", "/ferry status [APP]"),
        ("/ferry help x", "/ferry help"),
    ];
    for (line, usage) in cases {
        let err = parse_line(line).unwrap().unwrap_err();
        assert_eq!(err.usage(), usage, "{line}");
        assert!(err.to_string().ends_with(usage), "{line}: {err}");
    }
    for line in ["/ferry", "/ferry nope"] {
        let err = parse_line(line).unwrap().unwrap_err();
        assert_eq!(err.usage(), USAGE);
        assert!(err.to_string().ends_with(USAGE), "{line}: {err}");
    }
}

#[test]
fn messages_name_what_is_wrong() {
    let msg = |line: &str| parse_line(line).unwrap().unwrap_err().to_string();
    assert!(msg("/ferry unpin api").starts_with("unpin: missing ENV;"));
    assert!(msg("/ferry deploy").starts_with("unknown command \"deploy\";"));
    assert!(msg("/ferry unpin api prod now").starts_with("unpin: unexpected \"now\";"));
    assert!(msg("/ferry promote api v1 into prod").contains("expected \"to\", found \"into\""));
    assert!(msg("/ferry pin api prod v1:2").contains("invalid tag \"v1:2\""));
    assert!(msg("/ferry unpin api pröd").contains("invalid ENV \"pröd\""));
}

#[test]
fn invocation_keeps_the_line_as_written() {
    let got = parse_comment("x\r\n  /ferry  pin api prod -- why  \r\n");
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].line, 2);
    assert_eq!(got[0].text, "/ferry  pin api prod -- why");
}

#[test]
fn accessors() {
    let cmd = parse_line("/ferry promote api v1 to prod")
        .unwrap()
        .unwrap();
    assert_eq!(cmd.verb(), Verb::Promote);
    assert_eq!(cmd.app(), Some("api"));
    assert_eq!(cmd.environment(), Some("prod"));
    let cmd = parse_line("/ferry status web").unwrap().unwrap();
    assert_eq!((cmd.app(), cmd.environment()), (Some("web"), None));
    assert_eq!(parse_line("/ferryman"), None);
}

#[test]
fn arbitrary_text_never_panics() {
    // Every char boundary of an awkward string, each prefix and suffix, as
    // a comment and as a command.
    let s = "/ferry pin ä🚀 prod\u{200b} v1 -- é\r\n> ```\n~~~\t/ferry\u{a0}help\r";
    for (i, _) in s.char_indices() {
        for part in [&s[..i], &s[i..]] {
            let _ = parse_comment(part);
            let _ = parse_comment(&format!("/ferry {part}"));
            let _ = parse_line(&format!("/ferry pin a b {part}"));
        }
    }
}
