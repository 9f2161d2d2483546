//! A command (`serve --greeting 'hello world'`) as one line of text in the
//! form and as the list of arguments the spec holds. The quoting is the
//! POSIX shell's, which is what people already write in compose files and
//! terminals; nothing else of the shell (variables, globs) applies.

/// Splits a line into words: blanks separate them, `'…'` quotes literally,
/// `"…"` quotes with `\"` and `\\` escapes, and a backslash elsewhere takes
/// the next character as it is.
pub fn split_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word: Option<String> = None;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => words.extend(word.take()),
            '\'' => {
                let word = word.get_or_insert_default();
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("a quote ' is not closed".to_owned()),
                    }
                }
            }
            '"' => {
                let word = word.get_or_insert_default();
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("a quote \" is not closed".to_owned()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("a quote \" is not closed".to_owned()),
                    }
                }
            }
            '\\' => match chars.next() {
                Some(c) => word.get_or_insert_default().push(c),
                None => return Err("a backslash at the end escapes nothing".to_owned()),
            },
            c => word.get_or_insert_default().push(c),
        }
    }
    words.extend(word);
    Ok(words)
}

/// The line [`split_words`] reads back as `words`: plain words stay as they
/// are, the others go in single quotes.
pub fn join_words(words: &[String]) -> String {
    words.iter().map(|word| quote(word)).collect::<Vec<_>>().join(" ")
}

fn quote(word: &str) -> String {
    let plain = !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c));
    if plain {
        word.to_owned()
    } else {
        // A single quote cannot appear inside '…': close, escape it, reopen.
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(words: &[&str]) -> Vec<String> {
        words.iter().map(|word| (*word).to_owned()).collect()
    }

    #[test]
    fn splits_like_a_shell() {
        let cases: [(&str, &[&str]); 7] = [
            ("serve --port=8080", &["serve", "--port=8080"]),
            ("  spaced   out  ", &["spaced", "out"]),
            ("say 'hello world'", &["say", "hello world"]),
            (
                r#"say "a \"quoted\" \\ word" \$HOME"#,
                &["say", r#"a "quoted" \ word"#, "$HOME"],
            ),
            ("glued'to'gether", &["gluedtogether"]),
            ("empty '' arg", &["empty", "", "arg"]),
            ("", &[]),
        ];
        for (line, words) in cases {
            assert_eq!(split_words(line).unwrap(), owned(words), "{line}");
        }
        for unclosed in ["echo 'x", "echo \"x", "echo x\\"] {
            assert!(split_words(unclosed).is_err(), "{unclosed}");
        }
    }

    #[test]
    fn joined_words_split_back_the_same() {
        for words in [
            owned(&["serve", "--port=8080"]),
            owned(&["sh", "-c", "echo 'hi' && exit 1"]),
            owned(&["", "tab\there", "it's", r"back\slash", "\"dq\""]),
        ] {
            let line = join_words(&words);
            assert_eq!(split_words(&line).unwrap(), words, "{line}");
        }
        assert_eq!(
            join_words(&owned(&["serve", "hello world"])),
            "serve 'hello world'"
        );
    }
}
