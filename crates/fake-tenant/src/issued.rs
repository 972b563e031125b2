//! A record of the credentials the fake tenant handed out (access tokens, client secret
//! values), so leak tests can search a command's output and logs for every one of them.
//! Bounded, so a standalone tenant left running does not grow without end; the values are
//! zeroized when dropped, like every other secret the tenant holds.

use std::collections::VecDeque;

use zeroize::Zeroizing;

/// How many of each kind are kept (the most recent ones).
const KEEP: usize = 1024;

#[derive(Default)]
pub(crate) struct IssuedLog {
    tokens: VecDeque<Zeroizing<String>>,
    secrets: VecDeque<Zeroizing<String>>,
}

impl IssuedLog {
    pub fn token(&mut self, token: &str) {
        push_bounded(&mut self.tokens, token);
    }

    pub fn secret(&mut self, secret: &str) {
        push_bounded(&mut self.secrets, secret);
    }

    pub fn tokens(&self) -> impl Iterator<Item = &str> {
        self.tokens.iter().map(|t| t.as_str())
    }

    pub fn secrets(&self) -> impl Iterator<Item = &str> {
        self.secrets.iter().map(|s| s.as_str())
    }
}

fn push_bounded(log: &mut VecDeque<Zeroizing<String>>, value: &str) {
    if log.len() == KEEP {
        log.pop_front();
    }
    log.push_back(Zeroizing::new(value.to_string()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_most_recent() {
        let mut log = IssuedLog::default();
        for i in 0..KEEP + 5 {
            log.token(&format!("t{i}"));
        }
        log.secret("s");
        assert_eq!(log.tokens().count(), KEEP);
        assert_eq!(log.tokens().next(), Some("t5"));
        assert_eq!(log.secrets().collect::<Vec<_>>(), vec!["s"]);
    }
}
