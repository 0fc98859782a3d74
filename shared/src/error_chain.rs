//! One line for an error and its causes, for logs and for a job's error text
//! (reqwest's own message alone says little). A cause whose text the line already
//! holds is not repeated.

/// `e`'s text, then each cause's, joined by ": ".
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        let text = c.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct E {
        text: &'static str,
        #[source]
        source: Option<Box<E>>,
    }

    fn e(text: &'static str, source: Option<E>) -> E {
        E {
            text,
            source: source.map(Box::new),
        }
    }

    #[test]
    fn causes_follow_once_each() {
        let inner = e("connection refused", None);
        let mid = e("error sending request", Some(inner));
        assert_eq!(
            error_chain(&mid),
            "error sending request: connection refused"
        );
        // a cause already quoted by its parent is not repeated
        let quoted = e(
            "timed out: connection refused",
            Some(e("connection refused", None)),
        );
        assert_eq!(error_chain(&quoted), "timed out: connection refused");
    }
}
