//! Where `provctl` finds its bearer token: a file (`--token-file`, or
//! `PROVISIONER_TOKEN_FILE`) or `PROVISIONER_TOKEN`. Never the command line: an
//! argument shows in `ps` and in shell history, so the old `--token` still works but
//! is hidden from `--help` and warned about.

use super::client::CliError;
use secrecy::SecretString;
use std::path::Path;

/// The token to send, from the first source that is set: `--token` (warned about),
/// the token file, then `env_token` (`PROVISIONER_TOKEN`). `None`: no source is set.
pub fn resolve(
    argument: Option<String>,
    file: Option<&Path>,
    env_token: Option<String>,
) -> Result<Option<SecretString>, CliError> {
    if let Some(t) = argument.filter(|t| !t.is_empty()) {
        eprintln!(
            "provctl: warning: --token shows in `ps` and in shell history; \
             use PROVISIONER_TOKEN or --token-file instead"
        );
        return Ok(Some(SecretString::from(t)));
    }
    if let Some(path) = file {
        let text = std::fs::read_to_string(path).map_err(|source| CliError::Io {
            what: format!("reading the token file {}", path.display()),
            source,
        })?;
        let token = text.trim();
        if token.is_empty() {
            return Err(CliError::Usage(format!(
                "the token file {} is empty",
                path.display()
            )));
        }
        return Ok(Some(SecretString::from(token.to_owned())));
    }
    Ok(env_token
        .filter(|t| !t.trim().is_empty())
        .map(|t| SecretString::from(t.trim().to_owned())))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn exposed(t: Option<SecretString>) -> Option<String> {
        t.map(|t| t.expose_secret().to_owned())
    }

    #[test]
    fn a_file_wins_over_the_environment_and_loses_its_newline() {
        let path = std::env::temp_dir().join(format!("provctl-token-{}", std::process::id()));
        std::fs::write(&path, "from-file\n").unwrap();
        let got = resolve(None, Some(&path), Some("from-env".into())).unwrap();
        assert_eq!(exposed(got).as_deref(), Some("from-file"));
        std::fs::write(&path, "\n").unwrap();
        let e = resolve(None, Some(&path), None).err().unwrap();
        assert!(e.to_string().contains("is empty"), "{e}");
        let _ = std::fs::remove_file(&path);
    }

    #[test]
    fn the_environment_is_used_when_nothing_else_is_set() {
        let got = resolve(None, None, Some("from-env".into())).unwrap();
        assert_eq!(exposed(got).as_deref(), Some("from-env"));
        assert!(resolve(None, None, Some(" ".into())).unwrap().is_none());
        assert!(resolve(None, None, None).unwrap().is_none());
    }

    #[test]
    fn a_missing_file_names_its_path() {
        let e = resolve(None, Some(Path::new("/nonexistent/provctl-token")), None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("/nonexistent/provctl-token"), "{e}");
    }
}
