//! Root passwords a job makes up when its request brings none.
//!
//! Each provider that takes a root password from us has a policy (the seeds'
//! rules); a generated password is 20 characters from letters, digits and a few
//! punctuation marks that need no quoting in a form body, a YAML string or a shell
//! word, with at least one of each class the policy asks for. Randomness is the
//! thread's CSPRNG (`rand::rng`).

use crate::provider::ProviderKind;
use rand::Rng;
use rand::seq::SliceRandom;
use secrecy::SecretString;

const UPPER: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZ";
const LOWER: &[u8] = b"abcdefghijkmnopqrstuvwxyz";
const DIGITS: &[u8] = b"23456789";
/// Punctuation every provider we set a password at accepts, and that reads the same
/// in a shell, a URL-encoded form and a YAML double-quoted string.
const SPECIALS: &[u8] = b"#%+-.=@_";
/// About 115 bits from this alphabet; far above every policy's minimum of 8.
const LENGTH: usize = 20;

/// What a provider requires of a root password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub min_len: usize,
    pub upper: bool,
    pub lower: bool,
    pub digit: bool,
    pub special: bool,
}

impl Policy {
    /// Whether `password` meets this policy.
    pub fn accepts(&self, password: &str) -> bool {
        let has = |f: fn(&char) -> bool| password.chars().any(|c| f(&c));
        password.chars().count() >= self.min_len
            && (!self.upper || has(char::is_ascii_uppercase))
            && (!self.lower || has(char::is_ascii_lowercase))
            && (!self.digit || has(char::is_ascii_digit))
            && (!self.special || has(|c| !c.is_ascii_alphanumeric()))
    }
}

/// The policy of the root passwords Provisioner sets at `provider`; `None` where it
/// sets none (Inferno makes up its own; the noop provider has no server).
pub fn policy(provider: ProviderKind) -> Option<Policy> {
    match provider {
        // Seed 002: `eq/order_instance` wants upper- and lower-case Latin letters and
        // a special character; `eq/reinstall` (the PXE install) numbers and capitals.
        ProviderKind::Hostkey => Some(Policy {
            min_len: 8,
            upper: true,
            lower: true,
            digit: true,
            special: true,
        }),
        // Seed 004, the VM's `password`: `^(?=.*[a-z])(?=.*[A-Z])(?=.*\d).{8,}$`.
        ProviderKind::Idcloudhost => Some(Policy {
            min_len: 8,
            upper: true,
            lower: true,
            digit: true,
            special: false,
        }),
        // Klikk has no password of its own (seeds 000, 001): ours goes in through
        // cloud-init, as strong as HOSTKEY's.
        ProviderKind::Klikk => Some(Policy {
            min_len: 8,
            upper: true,
            lower: true,
            digit: true,
            special: true,
        }),
        ProviderKind::Inferno | ProviderKind::Noop => None,
    }
}

/// A new password meeting `policy`.
pub fn generate(policy: &Policy) -> SecretString {
    let mut rng = rand::rng();
    let classes: Vec<&[u8]> = [
        (policy.upper, UPPER),
        (policy.lower, LOWER),
        (policy.digit, DIGITS),
        (policy.special, SPECIALS),
    ]
    .into_iter()
    .filter_map(|(required, class)| required.then_some(class))
    .collect();
    let alphabet: Vec<u8> = [UPPER, LOWER, DIGITS, SPECIALS].concat();
    let pick = |rng: &mut rand::rngs::ThreadRng, from: &[u8]| from[rng.random_range(0..from.len())];
    let mut chars: Vec<u8> = classes.iter().map(|class| pick(&mut rng, class)).collect();
    while chars.len() < LENGTH.max(policy.min_len) {
        chars.push(pick(&mut rng, &alphabet));
    }
    chars.shuffle(&mut rng);
    SecretString::from(String::from_utf8(chars).expect("the alphabet is ASCII"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    /// The providers' rules as the seeds write them, checked apart from `Policy`.
    fn seed_rule(provider: ProviderKind, p: &str) -> bool {
        let upper = p.chars().any(|c| c.is_ascii_uppercase());
        let lower = p.chars().any(|c| c.is_ascii_lowercase());
        let digit = p.chars().any(|c| c.is_ascii_digit());
        let special = p.chars().any(|c| !c.is_ascii_alphanumeric());
        let long = p.chars().count() >= 8;
        match provider {
            // order_instance, and reinstall's "numbers and letters in caps"
            ProviderKind::Hostkey => long && upper && lower && special && digit,
            ProviderKind::Idcloudhost => long && upper && lower && digit,
            ProviderKind::Klikk => long && upper && lower && digit && special,
            _ => unreachable!(),
        }
    }

    #[test]
    fn generated_passwords_meet_each_providers_policy() {
        for provider in [
            ProviderKind::Hostkey,
            ProviderKind::Idcloudhost,
            ProviderKind::Klikk,
        ] {
            let policy = policy(provider).expect("a policy");
            for _ in 0..500 {
                let generated = generate(&policy);
                let p = generated.expose_secret();
                assert_eq!(p.len(), LENGTH, "{provider}");
                assert!(seed_rule(provider, p), "{provider}: {p}");
                assert!(policy.accepts(p), "{provider}: {p}");
                assert!(
                    p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || SPECIALS.contains(&b)),
                    "{p}"
                );
            }
        }
    }

    #[test]
    fn providers_that_set_their_own_have_no_policy() {
        assert_eq!(policy(ProviderKind::Inferno), None);
        assert_eq!(policy(ProviderKind::Noop), None);
    }

    #[test]
    fn passwords_differ_and_use_the_whole_alphabet() {
        let policy = policy(ProviderKind::Hostkey).unwrap();
        let many: Vec<String> = (0..200)
            .map(|_| generate(&policy).expose_secret().to_owned())
            .collect();
        let distinct: std::collections::BTreeSet<&String> = many.iter().collect();
        assert_eq!(distinct.len(), many.len());
        let seen: std::collections::BTreeSet<u8> = many.iter().flat_map(|p| p.bytes()).collect();
        assert!(seen.len() > 60, "{} distinct characters", seen.len());
    }

    #[test]
    fn a_policy_refuses_what_it_must() {
        let hk = policy(ProviderKind::Hostkey).unwrap();
        assert!(hk.accepts("S3cure!pass"));
        assert!(!hk.accepts("S3cure!"), "too short");
        assert!(!hk.accepts("Secure!pass"), "no digit");
        assert!(!hk.accepts("S3curepass"), "no special character");
        let idc = policy(ProviderKind::Idcloudhost).unwrap();
        assert!(idc.accepts("Password123"));
        assert!(!idc.accepts("password123"), "no capital");
    }
}
