//! The classification against a table of addresses, and the URL spellings the URL
//! standard reads as addresses (what `url` makes of them is what we check).

use super::*;

#[test]
fn a_table_of_addresses_and_their_verdicts() {
    // (address, global?)
    let table: &[(&str, bool)] = &[
        // public
        ("8.8.8.8", true),
        ("1.1.1.1", true),
        ("93.184.216.34", true),
        ("100.63.255.255", true),
        ("100.128.0.0", true),
        ("172.15.255.255", true),
        ("172.32.0.0", true),
        ("192.0.1.1", true),
        ("192.88.98.1", true),
        ("198.17.255.255", true),
        ("198.20.0.0", true),
        ("223.255.255.255", true),
        ("2606:4700:4700::1111", true),
        ("2a00:1450:4001:80b::200e", true),
        ("2001:4860:4860::8888", true),
        ("2001:200::1", true),
        ("::ffff:8.8.8.8", true),
        ("64:ff9b::808:808", true),
        ("2002:808:808::1", true),
        // IPv4 special-purpose
        ("0.0.0.0", false),
        ("0.1.2.3", false),
        ("10.0.0.1", false),
        ("10.255.255.255", false),
        ("100.64.0.1", false),
        ("100.127.255.255", false),
        ("127.0.0.1", false),
        ("127.255.255.254", false),
        ("169.254.169.254", false),
        ("172.16.0.1", false),
        ("172.31.255.255", false),
        ("192.0.0.1", false),
        ("192.0.0.9", false),
        ("192.0.2.1", false),
        ("192.88.99.1", false),
        ("192.168.1.1", false),
        ("198.18.0.1", false),
        ("198.19.255.255", false),
        ("198.51.100.7", false),
        ("203.0.113.9", false),
        ("224.0.0.1", false),
        ("239.255.255.250", false),
        ("240.0.0.1", false),
        ("255.255.255.254", false),
        ("255.255.255.255", false),
        // IPv6 special-purpose
        ("::", false),
        ("::1", false),
        ("::127.0.0.1", false),
        ("::8.8.8.8", false),
        ("::ffff:127.0.0.1", false),
        ("::ffff:10.1.2.3", false),
        ("::ffff:169.254.169.254", false),
        ("::ffff:0:127.0.0.1", false),
        ("64:ff9b::7f00:1", false),
        ("64:ff9b::a9fe:a9fe", false),
        ("64:ff9b::c0a8:101", false),
        ("64:ff9b:1::808:808", false),
        ("100::1", false),
        ("2001::1", false),
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", false),
        ("2001:2::1", false),
        ("2001:10::1", false),
        ("2001:20::1", false),
        ("2001:1ff::1", false),
        ("2001:db8::1", false),
        ("2001:db8:ffff::1", false),
        ("3fff::1", false),
        ("3fff:fff::1", false),
        ("2002:7f00:1::1", false),
        ("2002:a9fe:a9fe::", false),
        ("2002:c0a8:101::1", false),
        ("5f00::1", false),
        ("fc00::1", false),
        ("fd12:3456::1", false),
        ("fe80::1", false),
        ("febf::1", false),
        ("fec0::1", false),
        ("feff::1", false),
        ("ff02::1", false),
        ("ff05::1:3", false),
        ("4000::1", false),
        ("1::1", false),
    ];
    assert!(table.len() >= 40);
    let wrong: Vec<String> = table
        .iter()
        .filter(|(a, want)| is_global(a.parse().expect("an address")) != *want)
        .map(|(a, want)| format!("{a}: expected global={want}"))
        .collect();
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_reason_names_the_block() {
    let why = |a: &str| special_purpose(a.parse().unwrap()).unwrap_or("global");
    assert_eq!(why("169.254.169.254"), "link-local (169.254.0.0/16)");
    assert_eq!(why("255.255.255.255"), "broadcast (255.255.255.255)");
    assert!(why("64:ff9b::7f00:1").starts_with("NAT64"));
    assert!(why("2002:7f00:1::1").starts_with("6to4"));
    assert!(why("::ffff:127.0.0.1").starts_with("IPv4-mapped"));
    assert!(why("2001::1").contains("Teredo"));
    assert_eq!(why("8.8.8.8"), "global");
}

/// What the URL standard makes of a host, and our verdict on it.
fn verdict(url: &str) -> Result<String, String> {
    let parsed = url::Url::parse(url).map_err(|e| format!("unparsable: {e}"))?;
    let host = parsed.host().ok_or("no host")?;
    match refused_host(&host) {
        Some(why) => Err(why),
        None => Ok(host.to_string()),
    }
}

#[test]
fn ipv4_in_decimal_octal_hex_and_short_forms_is_the_address_it_denotes() {
    // `url` parses hosts of special schemes as the WHATWG URL standard does: these
    // are all 127.0.0.1 (or 0.0.0.0), and are judged as that address.
    for url in [
        "https://2130706433/",
        "https://0177.0.0.1/",
        "https://0x7f.1/",
        "https://0x7f000001/",
        "https://0x7F.0.0.1/",
        "https://127.1/",
        "https://127.0.1/",
        "https://017700000001/",
        "https://127.0.0.%31/",
        "https://127.0.0.1./",
        "https://0/",
        "https://[::ffff:7f00:1]/",
        "https://[0:0:0:0:0:ffff:127.0.0.1]/",
    ] {
        let why = verdict(url).expect_err(url);
        assert!(
            why.starts_with("127.0.0.1 is")
                || why.starts_with("0.0.0.0 is")
                || why.contains("::ffff:"),
            "{url}: {why}"
        );
    }
    assert_eq!(
        verdict("https://0xa9fea9fe/").unwrap_err(),
        "169.254.169.254 is link-local (169.254.0.0/16)"
    );
    // an out-of-range number is no host at all
    assert!(
        verdict("https://4294967296/")
            .unwrap_err()
            .starts_with("unparsable")
    );
}

#[test]
fn local_only_names_are_refused_and_public_ones_pass() {
    for url in [
        "https://localhost/",
        "https://LOCALHOST./",
        "https://localhost.localdomain/",
        "https://api.localhost/",
        "https://printer.local/",
        "https://metadata.google.internal/",
        "https://router.home.arpa/",
        "https://nas.lan./",
        "https://ip6-localhost/",
        "https://intranet/",
    ] {
        assert!(verdict(url).is_err(), "{url} must be refused");
    }
    for url in [
        "https://billing.example.com/",
        "https://billing.example.com./",
        "https://xn--bcher-kva.example/",
        "https://localhost-tools.example.com/",
        "https://[2606:4700:4700::1111]/",
        "https://93.184.216.34/",
    ] {
        assert!(verdict(url).is_ok(), "{url}: {:?}", verdict(url));
    }
}
