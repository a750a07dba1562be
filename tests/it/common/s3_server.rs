//! The S3 test server (the shared `s3-test-server` crate: s3s-fs on
//! 127.0.0.1), started by the test that needs it, behind the fault layer.

use std::sync::Arc;

use super::faults::{SharedFaults, faulty_call};
use super::fixtures::gzip_two_members;
use super::runs::sample_data;
use super::{CHARTS_BUCKET, SOURCE_BUCKET, data};

/// The S3 test server behind a fault layer the test can arm; it derefs to the
/// shared server (`endpoint`, `client`, `env`).
pub(crate) struct S3Server {
    server: s3_test_server::Server,
    pub faults: SharedFaults,
}

impl std::ops::Deref for S3Server {
    type Target = s3_test_server::Server;
    fn deref(&self) -> &Self::Target {
        &self.server
    }
}

impl S3Server {
    pub(crate) async fn start(buckets: &[&str]) -> S3Server {
        let faults = SharedFaults::default();
        let shared = faults.clone();
        let layer: s3_test_server::Layer = Arc::new(move |service, req| {
            let faults = shared.clone();
            Box::pin(async move { faulty_call(&service, &faults, req).await })
        });
        let server =
            s3_test_server::Server::start(tempfile::tempdir().unwrap(), buckets, layer).await;
        S3Server { server, faults }
    }

    pub(crate) async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.client()
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
    }

    pub(crate) async fn delete(&self, bucket: &str, key: &str) {
        self.client()
            .delete_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
    }

    /// The object's bytes. A read that races a rewrite of the same key (a
    /// test polling the lease while the run renews it) can stream a torn body
    /// from the server's files, which the client's checksum refuses: such a
    /// read is made again, a few times at most.
    pub(crate) async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let mut attempt = 0;
        loop {
            let out = self
                .client()
                .get_object()
                .bucket(bucket)
                .key(key)
                .send()
                .await
                .unwrap();
            match out.body.collect().await {
                Ok(body) => return body.into_bytes().to_vec(),
                Err(e) if attempt < 4 => {
                    eprintln!("reading {bucket}/{key} again: {e:?}");
                    attempt += 1;
                    tokio::time::sleep(std::time::Duration::from_millis(20)).await;
                }
                Err(e) => panic!("reading {bucket}/{key}: {e:?}"),
            }
        }
    }

    /// Every key in a bucket, sorted.
    pub(crate) async fn keys(&self, bucket: &str) -> Vec<String> {
        let out = self
            .client()
            .list_objects_v2()
            .bucket(bucket)
            .send()
            .await
            .unwrap();
        let mut keys: Vec<String> = out
            .contents()
            .iter()
            .filter_map(|o| o.key().map(str::to_string))
            .collect();
        keys.sort();
        keys
    }

    /// The keys a run published: everything but the lease it held
    /// (`reports/lease.json`, left behind released).
    pub(crate) async fn published(&self, bucket: &str) -> Vec<String> {
        let mut keys = self.keys(bucket).await;
        keys.retain(|k| k != "reports/lease.json");
        keys
    }

    /// Writes a sample export (`author-stats sample-data`) of `posts` posts by
    /// `authors` authors and uploads both files to the source bucket. The
    /// returned directory holds the files, for a local run to compare with.
    pub(crate) async fn put_sample(&self, posts: usize, authors: usize) -> tempfile::TempDir {
        let export = tempfile::tempdir().unwrap();
        sample_data(export.path(), posts, authors, &[]).await;
        for key in [
            "contentful/all-blog-posts.jsonl.gz",
            "contentful/authorProfile.jsonl.gz",
        ] {
            let bytes = std::fs::read(export.path().join(key)).unwrap();
            self.put(SOURCE_BUCKET, key, bytes).await;
        }
        export
    }

    /// A server with a source and a charts bucket, the fixtures in the source.
    pub(crate) async fn with_fixtures() -> S3Server {
        let server = S3Server::start(&[SOURCE_BUCKET, CHARTS_BUCKET]).await;
        server.put_fixtures().await;
        server
    }

    /// Uploads the committed fixtures, gzipped (two members) like the real export.
    pub(crate) async fn put_fixtures(&self) {
        let posts = std::fs::read(data("posts.jsonl")).unwrap();
        let authors = std::fs::read(data("authors.jsonl")).unwrap();
        self.put(
            SOURCE_BUCKET,
            "contentful/all-blog-posts.jsonl.gz",
            gzip_two_members(&posts),
        )
        .await;
        self.put(
            SOURCE_BUCKET,
            "contentful/authorProfile.jsonl.gz",
            gzip_two_members(&authors),
        )
        .await;
    }
}

/// The whole report of a run the function answered with its bounded summary:
/// read from the charts bucket at the summary's `report_location`.
pub(crate) async fn report_at(server: &S3Server, reply: &serde_json::Value) -> serde_json::Value {
    let location = reply["report_location"]
        .as_str()
        .unwrap_or_else(|| panic!("a summary names its report: {reply}"));
    let key = location
        .strip_prefix("s3://charts-bucket/")
        .unwrap_or_else(|| panic!("{location} is not in the charts bucket"));
    serde_json::from_slice(&server.get(super::CHARTS_BUCKET, key).await).unwrap()
}
