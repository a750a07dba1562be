//! The CDN in front of the charts: after a run deletes charts (an `erase`, a
//! prune), `CloudFront` is asked to forget them (`CreateInvalidation` on the
//! one distribution `CLOUDFRONT_DISTRIBUTION_ID` names), so an erased chart
//! is not served from an edge cache until its `max-age` runs out.
//!
//! [`invalidation_paths`] is the pure part: the URL paths of the deleted
//! objects, percent-encoded as `CloudFront` requires, or one wildcard for the
//! charts prefix past [`MAX_PATHS`]. [`Cdn`] sends them.

use std::fmt::Write as _;

use tracing::{info, warn};

use crate::chart_keys::{Object, keys_of};

/// The most paths sent one by one: `CloudFront` allows 3,000 file paths in
/// progress per distribution; past this many, one wildcard for the charts
/// prefix (15 wildcard paths may be in progress) invalidates them all.
pub(crate) const MAX_PATHS: usize = 1_000;

/// The URL paths of every object ([`keys_of`]) under `charts_prefix` of
/// each deleted slug (`CloudFront` serves the bucket from its root), each
/// character outside RFC 3986's unreserved set and `/` percent-encoded; or,
/// for more than [`MAX_PATHS`] paths, the prefix's wildcard.
pub(crate) fn invalidation_paths(charts_prefix: &str, slugs: &[String]) -> Vec<String> {
    if slugs.len() * Object::ALL.len() > MAX_PATHS {
        return vec![format!("/{}*", encode(charts_prefix))];
    }
    slugs
        .iter()
        .flat_map(|slug| keys_of(charts_prefix, slug).map(|key| format!("/{}", encode(&key))))
        .collect()
}

fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~' | b'/') {
            out.push(char::from(b));
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A `CloudFront` distribution the function may invalidate.
#[derive(Debug, Clone)]
pub(crate) struct Cdn {
    client: aws_sdk_cloudfront::Client,
    distribution_id: String,
}

impl Cdn {
    /// The distribution's client, from the default chain (and
    /// `AWS_ENDPOINT_URL`, as the S3 client).
    pub(crate) async fn connect(distribution_id: String) -> Self {
        let shared = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
        Cdn {
            client: aws_sdk_cloudfront::Client::new(&shared),
            distribution_id,
        }
    }

    /// Asks `CloudFront` to forget `paths`; returns the invalidation's id, or
    /// why it was not made. `caller_reference` makes a retry of the same
    /// request one invalidation.
    pub(crate) async fn invalidate(
        &self,
        paths: Vec<String>,
        caller_reference: String,
    ) -> Result<String, String> {
        use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
        let quantity = paths.len() as i32;
        let paths = Paths::builder()
            .quantity(quantity)
            .set_items(Some(paths))
            .build()
            .map_err(|e| e.to_string())?;
        let batch = InvalidationBatch::builder()
            .paths(paths)
            .caller_reference(caller_reference)
            .build()
            .map_err(|e| e.to_string())?;
        match self
            .client
            .create_invalidation()
            .distribution_id(&self.distribution_id)
            .invalidation_batch(batch)
            .send()
            .await
        {
            Ok(out) => {
                let id = out
                    .invalidation()
                    .map(|i| i.id().to_string())
                    .unwrap_or_default();
                info!(distribution = %self.distribution_id, invalidation = %id, paths = quantity,
                      "CloudFront invalidation made for the deleted charts");
                Ok(id)
            }
            Err(e) => {
                let why = aws_sdk_cloudfront::error::DisplayErrorContext(&e).to_string();
                warn!(distribution = %self.distribution_id, error = %why,
                      "the CloudFront invalidation failed; the deleted charts stay cached until they expire");
                Err(why)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    // REQ-IA-008: the deleted objects' URL paths, encoded; a wildcard past
    // the limit.
    #[test]
    fn paths_of_deleted_charts() {
        let slugs = vec!["jane-doe".to_string(), "さとう".to_string()];
        assert_eq!(
            invalidation_paths("author-monthly-stats/", &slugs),
            [
                "/author-monthly-stats/jane-doe.json",
                "/author-monthly-stats/jane-doe.png",
                "/author-monthly-stats/dark/jane-doe.png",
                "/author-monthly-stats/compact/jane-doe.png",
                "/author-monthly-stats/compact-dark/jane-doe.png",
                "/author-monthly-stats/%E3%81%95%E3%81%A8%E3%81%86.json",
                "/author-monthly-stats/%E3%81%95%E3%81%A8%E3%81%86.png",
                "/author-monthly-stats/dark/%E3%81%95%E3%81%A8%E3%81%86.png",
                "/author-monthly-stats/compact/%E3%81%95%E3%81%A8%E3%81%86.png",
                "/author-monthly-stats/compact-dark/%E3%81%95%E3%81%A8%E3%81%86.png",
            ]
        );
        let many: Vec<String> = (0..=MAX_PATHS / 5).map(|i| format!("s{i}")).collect();
        assert_eq!(
            invalidation_paths("author-monthly-stats/", &many),
            ["/author-monthly-stats/*"]
        );
        let at_limit: Vec<String> = (0..MAX_PATHS / 5).map(|i| format!("s{i}")).collect();
        assert_eq!(invalidation_paths("c/", &at_limit).len(), MAX_PATHS);
    }
}
