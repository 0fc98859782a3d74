//! What we call things at IDCloudHost: a VM's name from our hostname, and a server id
//! that names the VM's location when it is not the account's.

/// A VM as a server id names it: its location slug (`None`: the default) and uuid.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct VmRef {
    pub slug: Option<String>,
    pub uuid: String,
}

impl VmRef {
    /// Reads `uuid` or `slug/uuid`; a bare uuid lives in `account_slug`.
    pub fn parse(server_id: &str, account_slug: Option<&str>) -> VmRef {
        match server_id.split_once('/') {
            Some((slug, uuid)) if !slug.is_empty() && !uuid.is_empty() => VmRef {
                slug: Some(slug.to_owned()),
                uuid: uuid.to_owned(),
            },
            _ => VmRef {
                slug: account_slug.map(str::to_owned),
                uuid: server_id.to_owned(),
            },
        }
    }

    /// The server id: the bare uuid in the account's own location.
    pub fn server_id(&self, account_slug: Option<&str>) -> String {
        match self.slug.as_deref() {
            Some(slug) if Some(slug) != account_slug => format!("{slug}/{}", self.uuid),
            _ => self.uuid.clone(),
        }
    }
}

/// A VM name from our hostname: the seed's VM parameters want
/// `^[0-9a-zA-Z][-0-9a-zA-Z]{2,}[0-9a-zA-Z]$`, so dots become dashes and a name
/// shorter than four characters gets `-vm`.
pub(crate) fn vm_name(hostname: &str) -> String {
    let mapped: String = hostname
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    let mut name = mapped
        .trim_matches(|c: char| !c.is_ascii_alphanumeric())
        .to_owned();
    if name.is_empty() {
        name.push_str("vm");
    }
    if name.len() < 4 {
        name.push_str("-vm");
    }
    name
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_names_follow_the_seeds_pattern() {
        assert_eq!(vm_name("web-1.example.com"), "web-1-example-com");
        assert_eq!(vm_name("a"), "a-vm");
        assert_eq!(vm_name("abc"), "abc-vm");
        assert_eq!(vm_name("node4"), "node4");
        for host in ["web-1.example.com", "a", "x.y", "1.2.3"] {
            let n = vm_name(host);
            let b = n.as_bytes();
            assert!(n.len() >= 4, "{n}");
            assert!(b[0].is_ascii_alphanumeric() && b[b.len() - 1].is_ascii_alphanumeric());
            assert!(
                b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-'),
                "{n}"
            );
        }
    }

    #[test]
    fn server_ids_name_the_location_only_when_it_is_not_the_accounts() {
        let uuid = "7c2f4d0e-1a3b-4c5d-8e9f-0a1b2c3d4e5f";
        let home = VmRef::parse(uuid, Some("jkt01"));
        assert_eq!(home.slug.as_deref(), Some("jkt01"));
        assert_eq!(home.server_id(Some("jkt01")), uuid);

        let away = VmRef {
            slug: Some("bus02".into()),
            uuid: uuid.into(),
        };
        let id = away.server_id(Some("jkt01"));
        assert_eq!(id, format!("bus02/{uuid}"));
        assert_eq!(VmRef::parse(&id, Some("jkt01")), away);

        let default = VmRef::parse(uuid, None);
        assert_eq!(default.slug, None);
        assert_eq!(default.server_id(None), uuid);
    }
}
