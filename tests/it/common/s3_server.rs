//! A real S3-compatible server (s3s-fs) on 127.0.0.1, started by the test that
//! needs it, behind the fault layer.

use std::net::SocketAddr;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;

use super::faults::{SharedFaults, faulty_call};
use super::fixtures::gzip_two_members;
use super::runs::sample_data;
use super::{ACCESS_KEY, SECRET_KEY, SOURCE_BUCKET, data};

/// A real S3-compatible server (s3s-fs) on 127.0.0.1, serving a temp directory,
/// with signed requests checked against one key pair, behind a fault layer.
pub struct S3Server {
    pub addr: SocketAddr,
    pub root: tempfile::TempDir,
    pub faults: SharedFaults,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl S3Server {
    pub async fn start(buckets: &[&str]) -> S3Server {
        let root = tempfile::tempdir().unwrap();
        for b in buckets {
            std::fs::create_dir(root.path().join(b)).unwrap();
        }
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let faults = SharedFaults::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let shared = faults.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let service = service.clone();
                let faults = shared.clone();
                let faulty =
                    hyper::service::service_fn(move |req: http::Request<hyper::body::Incoming>| {
                        let service = service.clone();
                        let faults = faults.clone();
                        async move { faulty_call(&service, &faults, req).await }
                    });
                tokio::spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), faulty)
                        .await;
                });
            }
        });
        S3Server {
            addr,
            root,
            faults,
            task,
        }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn client(&self) -> Client {
        let config = aws_sdk_s3::config::Builder::new()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(Credentials::new(ACCESS_KEY, SECRET_KEY, None, None, "test"))
            .force_path_style(true)
            .build();
        Client::from_conf(config)
    }

    /// The environment a process needs to reach this server through the SDK's
    /// default chain.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint()),
            ("AWS_ACCESS_KEY_ID", ACCESS_KEY.into()),
            ("AWS_SECRET_ACCESS_KEY", SECRET_KEY.into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED", "true".into()),
            ("AWS_CONFIG_FILE", "/nonexistent".into()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent".into()),
        ]
    }

    pub async fn put(&self, bucket: &str, key: &str, body: Vec<u8>) {
        self.client()
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
    }

    pub async fn get(&self, bucket: &str, key: &str) -> Vec<u8> {
        let out = self
            .client()
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .unwrap();
        out.body.collect().await.unwrap().into_bytes().to_vec()
    }

    /// Every key in a bucket, sorted.
    pub async fn keys(&self, bucket: &str) -> Vec<String> {
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
    pub async fn published(&self, bucket: &str) -> Vec<String> {
        let mut keys = self.keys(bucket).await;
        keys.retain(|k| k != "reports/lease.json");
        keys
    }

    /// Writes a sample export (`author-stats sample-data`) of `posts` posts by
    /// `authors` authors and uploads both files to the source bucket. The
    /// returned directory holds the files, for a local run to compare with.
    pub async fn put_sample(&self, posts: usize, authors: usize) -> tempfile::TempDir {
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

    /// Uploads the committed fixtures, gzipped (two members) like the real export.
    pub async fn put_fixtures(&self) {
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
