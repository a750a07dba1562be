//! A real S3-compatible server for the tests and the benchmark of
//! author-stats-batch: `s3s-fs` serving a directory on 127.0.0.1, checking
//! signed requests against one key pair, with a [`Layer`] in front of it (the
//! tests' fault layer, the benchmark's paced bodies, or nothing).
//!
//! One crate for both, as cargo keeps its own test-support crate: the tests
//! and the benchmark start the same server the same way. It is a dev-only
//! workspace member; the function never links it.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use aws_sdk_s3::Client;
use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use futures::future::BoxFuture;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder as ConnBuilder;
use s3s::service::S3Service;

pub const ACCESS_KEY: &str = "test-access-key";
pub const SECRET_KEY: &str = "test-secret-key";

/// A response body of any kind (the S3 service's, an error written by a
/// layer, a paced stream).
pub type BoxBody =
    http_body_util::combinators::BoxBody<bytes::Bytes, Box<dyn std::error::Error + Send + Sync>>;
pub type Request = http::Request<hyper::body::Incoming>;
pub type Response = http::Response<BoxBody>;

/// What stands between a connection and the S3 service: it gets the service
/// and each request, and answers it (usually by calling the service).
pub type Layer = Arc<
    dyn Fn(S3Service, Request) -> BoxFuture<'static, Result<Response, s3s::HttpError>>
        + Send
        + Sync,
>;

/// Calls the service as it is.
pub async fn call(service: &S3Service, req: Request) -> Result<Response, s3s::HttpError> {
    let response = service.call(req.map(s3s::Body::from)).await?;
    Ok(response.map(http_body_util::BodyExt::boxed))
}

/// No layer: every request goes to the service.
pub fn passthrough() -> Layer {
    Arc::new(|service, req| Box::pin(async move { call(&service, req).await }))
}

/// The server; dropping it stops it.
pub struct Server {
    pub addr: SocketAddr,
    root: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    /// Serves `root` (each bucket a directory in it; `buckets` are created)
    /// on a free port of 127.0.0.1, on the current tokio runtime.
    pub async fn start(root: tempfile::TempDir, buckets: &[&str], layer: Layer) -> Server {
        for bucket in buckets {
            std::fs::create_dir_all(root.path().join(bucket)).unwrap();
        }
        let fs = s3s_fs::FileSystem::new(root.path()).unwrap();
        let mut builder = s3s::service::S3ServiceBuilder::new(fs);
        builder.set_auth(s3s::auth::SimpleAuth::from_single(ACCESS_KEY, SECRET_KEY));
        let service = builder.build();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let task = tokio::spawn(async move {
            loop {
                let Ok((socket, _)) = listener.accept().await else {
                    continue;
                };
                let (service, layer) = (service.clone(), layer.clone());
                let layered =
                    hyper::service::service_fn(move |req: Request| layer(service.clone(), req));
                tokio::spawn(async move {
                    let _ = ConnBuilder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(socket), layered)
                        .await;
                });
            }
        });
        Server { addr, root, task }
    }

    /// The directory the buckets are kept in.
    pub fn root(&self) -> &Path {
        self.root.path()
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// An SDK client for this server (path-style, the test key pair).
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
    /// default chain (and nothing from the machine's own AWS configuration).
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

    /// Empties (or creates) a bucket.
    pub fn fresh_bucket(&self, name: &str) {
        let dir = self.root().join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn objects_put_are_listed_and_read_back() {
        let server = Server::start(tempfile::tempdir().unwrap(), &["bucket"], passthrough()).await;
        let client = server.client();
        client
            .put_object()
            .bucket("bucket")
            .key("a/x.txt")
            .body(b"hello".to_vec().into())
            .send()
            .await
            .unwrap();
        let count = || async {
            let listed = client.list_objects_v2().bucket("bucket").send().await;
            listed.unwrap().contents().len()
        };
        assert_eq!(count().await, 1);
        let got = client.get_object().bucket("bucket").key("a/x.txt");
        let body = got.send().await.unwrap().body.collect().await.unwrap();
        assert_eq!(body.into_bytes().as_ref(), b"hello");
        server.fresh_bucket("bucket");
        assert_eq!(count().await, 0);
    }
}
