//! How the clients read the loosely typed fields of provider answers: the seeds and
//! GAPS print the same id as a number in one answer and a string in the next, and
//! money as text. Each provider's parser uses these; what only one provider sends
//! (HOSTKEY's money fields, Klikk's status codes, each provider's yes/no words) stays
//! in its own parser.

use std::net::IpAddr;

use serde_json::Value;

/// A scalar as text: strings as they are, numbers and booleans printed.
pub fn text(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// An id given as a number or a string (seeds and GAPS use both); always a trimmed,
/// non-empty `String`.
pub fn id_text(v: &Value) -> Option<String> {
    text(v)
        .map(|s| s.trim().to_owned())
        .filter(|s| !s.is_empty())
}

/// A whole number given as a number or a numeric string.
pub fn number_u64(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// An address, with or without a prefix length (`fec0::1/64`).
pub fn ip_addr(text: &str) -> Option<IpAddr> {
    text.trim().split('/').next()?.parse().ok()
}

/// How a provider prints the decimals of an amount.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decimals {
    /// At most two, as WHMCS prints money (HOSTKEY: "5.00", "800.5"): "5." and "5.001"
    /// are not amounts.
    AtMostTwo,
    /// Any number, as a float prints (IDCloudHost: "0.59999"), rounded to the cent.
    Rounded,
}

/// A money text ("5.00", "6", "-0.10") in cents; `None` for anything else, such as
/// HOSTKEY's seed's "2.5.00" or "1e3".
pub fn money_to_cents(text: &str, decimals: Decimals) -> Option<i64> {
    let s = text.trim();
    let (negative, digits) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let (whole, frac) = digits.split_once('.').unwrap_or((digits, ""));
    let all_digits = |p: &str| p.bytes().all(|b| b.is_ascii_digit());
    if whole.is_empty() || !all_digits(whole) || !all_digits(frac) {
        return None;
    }
    if decimals == Decimals::AtMostTwo && (frac.len() > 2 || digits.ends_with('.')) {
        return None;
    }
    let frac_cents: i64 = match frac.len() {
        0 => 0,
        1 => frac.parse::<i64>().ok()? * 10,
        _ => {
            // Past the cents, the next digit rounds (a float's 0.59999 is 60 cents).
            let two: i64 = frac[..2].parse().ok()?;
            two + i64::from(frac.as_bytes()[2..].first().is_some_and(|d| *d >= b'5'))
        }
    };
    let cents = whole
        .parse::<i64>()
        .ok()?
        .checked_mul(100)?
        .checked_add(frac_cents)?;
    Some(if negative { -cents } else { cents })
}
