//! Password policy (length, embedded common-password list) and argon2id hashing with OWASP
//! minimum parameters; weaker stored hashes are upgraded at the next login.

use argon2::{Algorithm, Argon2, Params, PasswordHash, PasswordHasher, PasswordVerifier, Version};

/// Shortest accepted password (characters).
pub const MIN_LEN: usize = 8;
/// Longest accepted password (characters); at least 64 must be allowed.
pub const MAX_LEN: usize = 128;

/// Why a password was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PolicyError {
    /// Fewer than [`MIN_LEN`] characters.
    TooShort,
    /// More than [`MAX_LEN`] characters.
    TooLong,
    /// On the embedded list of common passwords (or a trivial variant of the email).
    Common,
}

impl PolicyError {
    /// Stable code for problem details.
    pub fn code(&self) -> &'static str {
        match self {
            PolicyError::TooShort => "too_short",
            PolicyError::TooLong => "too_long",
            PolicyError::Common => "too_common",
        }
    }

    /// Explanation for people.
    pub fn message(&self) -> String {
        match self {
            PolicyError::TooShort => format!("must be at least {MIN_LEN} characters"),
            PolicyError::TooLong => format!("must be at most {MAX_LEN} characters"),
            PolicyError::Common => "is too common; choose a less predictable password".into(),
        }
    }
}

/// Checks a new password. The common list is zxcvbn's embedded password frequency list; a
/// password that is entirely one entry of it (case-insensitive, not reversed or l33t) or that is
/// built from the user's own email is refused.
pub fn check_policy(password: &str, email: &str) -> Result<(), PolicyError> {
    let n = password.chars().count();
    if n < MIN_LEN {
        return Err(PolicyError::TooShort);
    }
    if n > MAX_LEN {
        return Err(PolicyError::TooLong);
    }
    let local = email.split('@').next().unwrap_or("");
    let entropy = zxcvbn::zxcvbn(password, &[email, local]);
    let seq = entropy.sequence();
    if let [only] = seq
        && only.i == 0
        && only.j + 1 >= n
        && let zxcvbn::matching::patterns::MatchPattern::Dictionary(d) = &only.pattern
    {
        // zxcvbn does not export the dictionary enum's path; its Debug name is stable.
        let dict = format!("{:?}", d.dictionary_name);
        if matches!(dict.as_str(), "Passwords" | "UserInputs") && !d.reversed && !d.l33t {
            return Err(PolicyError::Common);
        }
    }
    Ok(())
}

/// argon2id cost parameters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HashParams {
    /// Memory in KiB.
    pub memory_kib: u32,
    /// Iterations.
    pub iterations: u32,
    /// Lanes.
    pub parallelism: u32,
}

impl HashParams {
    fn argon(&self) -> Result<Argon2<'static>, String> {
        let p = Params::new(self.memory_kib, self.iterations, self.parallelism, None)
            .map_err(|e| e.to_string())?;
        Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, p))
    }

    /// PHC string of `password` (CPU-heavy: call off the async workers).
    pub fn hash(&self, password: &str) -> Result<String, String> {
        let h: PasswordHash = self
            .argon()?
            .hash_password(password.as_bytes())
            .map_err(|e| e.to_string())?;
        Ok(h.to_string())
    }

    /// Whether `password` matches `phc` (CPU-heavy; constant-time comparison inside argon2).
    pub fn verify(&self, password: &str, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return false;
        };
        // Verification uses the parameters stored in the hash.
        Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok()
    }

    /// Whether `phc` was made with weaker parameters (or another algorithm) than these.
    pub fn needs_rehash(&self, phc: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(phc) else {
            return true;
        };
        if parsed.algorithm.as_str() != "argon2id" {
            return true;
        }
        let get = |k: &str| parsed.params.get_decimal(k).map(u64::from).unwrap_or(0);
        get("m") < u64::from(self.memory_kib)
            || get("t") < u64::from(self.iterations)
            || get("p") < u64::from(self.parallelism)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy() {
        assert_eq!(check_policy("short", "a@b.co"), Err(PolicyError::TooShort));
        assert_eq!(
            check_policy(&"x".repeat(129), "a@b.co"),
            Err(PolicyError::TooLong)
        );
        assert!(
            check_policy(&"Zq8#".repeat(16), "a@b.co").is_ok(),
            "64 chars allowed"
        );
        for common in [
            "password",
            "Password1",
            "12345678",
            "iloveyou",
            "qwertyuiop",
            "PASSWORD123",
        ] {
            assert_eq!(
                check_policy(common, "a@b.co"),
                Err(PolicyError::Common),
                "{common}"
            );
        }
        assert_eq!(
            check_policy("annalee2020", "annalee2020@x.com").err(),
            Some(PolicyError::Common)
        );
        assert!(check_policy("correct horse battery staple", "a@b.co").is_ok());
        assert!(check_policy("vN3!pq-Lw8tz", "a@b.co").is_ok());
    }

    #[test]
    fn hash_verify_and_rehash() {
        let weak = HashParams {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        };
        let strong = HashParams {
            memory_kib: 19456,
            iterations: 2,
            parallelism: 1,
        };
        let h = weak.hash("hunter2hunter2").expect("hash");
        assert!(weak.verify("hunter2hunter2", &h));
        assert!(!weak.verify("hunter2hunter3", &h));
        assert!(
            strong.verify("hunter2hunter2", &h),
            "verification reads params from the hash"
        );
        assert!(strong.needs_rehash(&h));
        let s = strong.hash("hunter2hunter2").expect("hash");
        assert!(s.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{s}");
        assert!(!strong.needs_rehash(&s));
        assert!(!strong.verify("x", "not a phc string"));
    }
}
