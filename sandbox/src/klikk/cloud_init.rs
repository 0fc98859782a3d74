//! A new server's first boot: when an order item with a `cloud_init_url` (seed 000,
//! an order option) becomes a server, the simulator fetches that URL as the
//! server's cloud-init would, from loopback, and records what the document would
//! set: root's password (`chpasswd.users`) and the SSH keys (`ssh_authorized_keys`).
//!
//! The document is read as the block-style YAML of cloud-init's own examples: keys
//! and `- ` list items by indentation, values plain, single- or double-quoted
//! (double-quoted ones with JSON's escapes, which YAML shares). Flow style, anchors
//! and multi-line scalars are not read; a document using them records no password.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::runtime::Handle;

/// One fetch of a server's cloud-init document.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct CloudInitFetch {
    pub server_id: u64,
    pub url: String,
    /// The HTTP status answered; `None` when the request failed.
    pub status: Option<u16>,
    pub error: Option<String>,
    /// The password the document sets for root, if it sets one.
    pub root_password: Option<String>,
    /// The keys the document authorises.
    pub ssh_keys: Vec<String>,
}

/// Fetches documents in the background and keeps a record of each; cheap to clone.
#[derive(Clone, Debug)]
pub struct CloudInitFetcher {
    client: reqwest::Client,
    records: Arc<Mutex<Vec<CloudInitFetch>>>,
    runtime: Handle,
}

impl Default for CloudInitFetcher {
    fn default() -> Self {
        Self::new()
    }
}

impl CloudInitFetcher {
    /// A fetcher spawning on the current tokio runtime.
    ///
    /// # Panics
    /// Outside a tokio runtime.
    pub fn new() -> Self {
        CloudInitFetcher {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .unwrap_or_default(),
            records: Arc::default(),
            runtime: Handle::current(),
        }
    }

    /// GETs `url` for `server_id` in a background task.
    pub fn fetch(&self, server_id: u64, url: String) {
        let client = self.client.clone();
        let records = Arc::clone(&self.records);
        self.runtime.spawn(async move {
            let mut record = CloudInitFetch {
                server_id,
                url: url.clone(),
                status: None,
                error: None,
                root_password: None,
                ssh_keys: Vec::new(),
            };
            match client.get(&url).send().await {
                Ok(response) => {
                    record.status = Some(response.status().as_u16());
                    match response.text().await {
                        Ok(text) if record.status == Some(200) => {
                            let found = read_cloud_config(&text);
                            record.root_password = found.root_password;
                            record.ssh_keys = found.ssh_keys;
                        }
                        Ok(_) => {}
                        Err(err) => record.error = Some(err.without_url().to_string()),
                    }
                }
                Err(err) => record.error = Some(err.without_url().to_string()),
            }
            tracing::debug!(server_id, status = ?record.status, "sandbox cloud-init fetched");
            records
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push(record);
        });
    }

    /// Every fetch so far (those still in flight are not listed yet).
    pub fn records(&self) -> Vec<CloudInitFetch> {
        self.records
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}

/// What a document sets.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CloudConfig {
    pub root_password: Option<String>,
    pub ssh_keys: Vec<String>,
}

/// Reads root's password and the SSH keys from a `#cloud-config` document.
pub fn read_cloud_config(text: &str) -> CloudConfig {
    let mut found = CloudConfig::default();
    if !text.starts_with("#cloud-config") {
        return found;
    }
    // The keys leading to the current line, with their indentation.
    let mut path: Vec<(usize, String)> = Vec::new();
    // The `chpasswd.users` entry being read.
    let mut user = UserEntry::default();
    for line in text.lines() {
        let content = line.trim_start();
        if content.is_empty() || content.starts_with('#') {
            continue;
        }
        let indent = line.len() - content.len();
        // A list item's own keys sit two columns in, under the `- `.
        let (item, rest, key_indent) = match content.strip_prefix("- ") {
            Some(rest) => (true, rest.trim_start(), indent + 2),
            None => (false, content, indent),
        };
        while path.last().is_some_and(|(i, _)| *i >= key_indent) {
            path.pop();
        }
        let parent: Vec<&str> = path.iter().map(|(_, k)| k.as_str()).collect();
        let in_users = parent == ["chpasswd", "users"];
        if item || !in_users {
            user.finish(&mut found);
        }
        match split_key(rest) {
            Some((key, "")) => path.push((key_indent, key.to_owned())),
            Some(("name", value)) if in_users => user.name = Some(scalar(value)),
            Some(("password", value)) if in_users => user.password = Some(scalar(value)),
            Some(_) => {}
            None if item && parent == ["ssh_authorized_keys"] => found.ssh_keys.push(scalar(rest)),
            None => {}
        }
    }
    user.finish(&mut found);
    found
}

#[derive(Default)]
struct UserEntry {
    name: Option<String>,
    password: Option<String>,
}

impl UserEntry {
    /// Ends the entry: root's password is what the document sets.
    fn finish(&mut self, found: &mut CloudConfig) {
        if let (Some(name), Some(password)) = (self.name.take(), self.password.take())
            && name == "root"
        {
            found.root_password = Some(password);
        }
    }
}

/// `key: value` (value possibly empty), unless the line is a bare scalar.
fn split_key(s: &str) -> Option<(&str, &str)> {
    if s.starts_with('"') || s.starts_with('\'') {
        return None;
    }
    let (key, value) = s.split_once(':')?;
    if !(value.is_empty() || value.starts_with(' ')) {
        return None;
    }
    Some((key.trim(), value.trim()))
}

/// A plain, single-quoted or double-quoted scalar.
fn scalar(s: &str) -> String {
    let s = s.trim();
    if s.starts_with('"') {
        return serde_json::from_str::<String>(s).unwrap_or_else(|_| s.to_owned());
    }
    if let Some(inner) = s.strip_prefix('\'').and_then(|r| r.strip_suffix('\'')) {
        return inner.replace("''", "'");
    }
    s.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_password_and_keys_are_read_from_block_yaml() {
        let doc = "#cloud-config\n# a comment\ndisable_root: false\nchpasswd:\n  expire: false\n  users:\n    - name: ubuntu\n      password: \"other\"\n    - name: root\n      password: \"S3cure\\\"pw\"\n      type: text\nssh_authorized_keys:\n  - \"ssh-ed25519 AAAA a@b\"\n  - ssh-rsa BBBB c@d\n";
        let found = read_cloud_config(doc);
        assert_eq!(found.root_password.as_deref(), Some("S3cure\"pw"));
        assert_eq!(
            found.ssh_keys,
            vec![
                "ssh-ed25519 AAAA a@b".to_owned(),
                "ssh-rsa BBBB c@d".to_owned()
            ]
        );
    }

    #[test]
    fn a_document_without_root_or_header_sets_nothing() {
        let no_root =
            "#cloud-config\nchpasswd:\n  users:\n    - name: ubuntu\n      password: 'x'\n";
        assert_eq!(read_cloud_config(no_root), CloudConfig::default());
        let no_header = "chpasswd:\n  users:\n    - name: root\n      password: x\n";
        assert_eq!(read_cloud_config(no_header), CloudConfig::default());
    }
}
