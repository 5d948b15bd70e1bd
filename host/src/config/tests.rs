use super::*;
use clap::Parser;

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    serve: ServeArgs,
}

/// The default the README's configuration table gives for `variable`
/// (its third column, up to the first space, without backticks).
fn readme_default(variable: &str) -> String {
    let row = include_str!("../../../README.md")
        .lines()
        .find(|l| l.starts_with(&format!("| `{variable}`")))
        .unwrap_or_else(|| panic!("the README has no row for {variable}"));
    let cell = row.split('|').nth(3).unwrap().trim().replace('`', "");
    cell.split(' ').next().unwrap().to_string()
}

fn resolve(args: &[&str], file: Option<&str>) -> anyhow::Result<ServeConfig> {
    let component = concat!(env!("CARGO_MANIFEST_DIR"), "/Cargo.toml");
    let mut argv = vec!["serve", "--database-url", "postgres://u@h/db", "--component", component];
    argv.extend(args);
    // Tests run in parallel: each file gets its own name.
    static FILES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let path = file.map(|text| {
        let n = FILES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = std::env::temp_dir().join(format!("zerodb-config-test-{}-{n}.toml", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    });
    let path_text = path.as_ref().map(|p| p.to_str().unwrap().to_string());
    if let Some(p) = &path_text {
        argv.extend(["--config", p.as_str()]);
    }
    let resolved = Cli::try_parse_from(argv).unwrap().serve.resolve();
    if let Some(path) = path {
        let _ = std::fs::remove_file(path);
    }
    resolved
}

/// `serve` with nothing set uses the defaults the README documents.
#[test]
fn defaults_are_the_documented_ones() {
    let c = resolve(&[], None).unwrap();
    let (cache, probe, instances) = (&c.cache, &c.services.probe, &c.instances);
    let ms = |d: Duration| d.as_millis().to_string();
    let expected = [
        ("ZERODB_LISTEN", c.listen.clone()),
        ("ZERODB_DB_MAX_CONNECTIONS", c.pool.max_connections.to_string()),
        ("ZERODB_DB_POOL_WAIT_MS", ms(c.pool.wait)),
        ("ZERODB_INSTANCE_MAX_REQUESTS", instances.max_requests.to_string()),
        (
            "ZERODB_INSTANCE_MAX_MEMORY_MB",
            (instances.max_memory_bytes >> 20).to_string(),
        ),
        ("ZERODB_REQUEST_TIMEOUT_MS", ms(instances.request_timeout)),
        ("ZERODB_MAX_RESPONSE_BYTES", instances.max_response_bytes.to_string()),
        ("ZERODB_CACHE_BYTES", cache.budget_bytes.to_string()),
        ("ZERODB_CACHE_TTL_MS", ms(cache.ttl)),
        ("ZERODB_HOT_COLLECTION_MAX_VECTORS", cache.hot_max_vectors.to_string()),
        (
            "ZERODB_EDGE_INSTANCES_PER_SHARD",
            instances.instances_per_shard.to_string(),
        ),
        (
            "ZERODB_EDGE_OVERFLOW_INSTANCES",
            instances.overflow_instances.to_string(),
        ),
        ("ZERODB_EDGE_REQUESTS_PER_SHARD", instances.max_in_flight.to_string()),
        ("ZERODB_EDGE_REQUESTS_PER_INSTANCE", instances.max_running.to_string()),
        ("ZERODB_AUTH_CACHE_MS", ms(c.auth_cache)),
        ("ZERODB_REDPANDA_TOPIC", c.services.topic.clone()),
        ("ZERODB_HEALTH_INTERVAL_MS", ms(probe.interval)),
        ("ZERODB_HEALTH_DOWN_INTERVAL_MS", ms(probe.down_interval)),
        ("ZERODB_HEALTH_TIMEOUT_MS", ms(probe.timeout)),
        (
            "ZERODB_HEALTH_UNHEALTHY_THRESHOLD",
            probe.unhealthy_threshold.to_string(),
        ),
        ("ZERODB_HEALTH_HEALTHY_THRESHOLD", probe.healthy_threshold.to_string()),
        ("ZERODB_HEALTH_LATENCY_BOUND_MS", ms(probe.latency_bound)),
    ];
    for (variable, value) in expected {
        assert_eq!(readme_default(variable), value, "{variable}");
    }
    assert!(!c.migrate);
    assert_eq!(c.memory_dims, None);
    assert!(c.origin_secret.is_none() && c.services.s3.is_none() && c.services.brokers.is_empty());
}

/// A flag beats the file; the file sets what flags leave unset; a switch
/// turned on in the file stays on.
#[test]
fn flags_stack_over_the_file() {
    let file = "memory_dims = 8\ncache_ttl_ms = 60000\nmigrate = true\nredpanda_brokers = \"a:1, b:2\"\n";
    let c = resolve(&["--memory-dims", "3", "--cache-bytes", "2097152"], Some(file)).unwrap();
    assert_eq!(c.memory_dims, Some(3));
    assert_eq!(c.cache.ttl, Duration::from_secs(60));
    assert_eq!(c.cache.budget_bytes, 2 << 20);
    assert!(c.migrate);
    assert_eq!(c.services.brokers, ["a:1", "b:2"]);
}

/// Unknown keys, wrong types and values out of range are refused, naming
/// the setting.
#[test]
fn bad_settings_are_refused() {
    let error = |args: &[&str], file: Option<&str>| format!("{:#}", resolve(args, file).err().unwrap());
    assert!(error(&[], Some("cache_bytez = 5\n")).contains("cache_bytez"));
    assert!(error(&[], Some("config = \"x.toml\"\n")).contains("config"));
    assert!(error(&[], Some("cache_bytes = \"big\"\n")).contains("cache_bytes"));
    assert!(error(&[], Some("memory_dims = 0\n")).contains("memory dims"));
    assert!(error(&["--cache-bytes", "1000"], None).contains("cache_bytes"));
    assert!(error(&["--instance-max-memory-mb", "8"], None).contains("instance_max_memory_mb"));
    assert!(error(&["--origin-secret", "short"], None).contains("origin secret"));
    assert!(error(&["--minio-url", "http://m:9000"], None).contains("ZERODB_MINIO_ACCESS_KEY"));
    assert!(error(&["--health-timeout-ms", "0"], None).contains("above 0 ms"));
}

/// The debug form never shows the database URL.
#[test]
fn the_database_url_is_not_printed() {
    let c = resolve(&[], None).unwrap();
    assert!(!format!("{c:?}").contains("postgres://"));
}

/// Embedding models: the spec syntax, the queue sizes the README gives,
/// and what is refused.
#[test]
fn embedding_models_and_queues() {
    let c = resolve(
        &[
            "--embedding-model",
            "a/b=/m/b,pooling=cls,dims=384,normalize=false,max_tokens=128",
        ],
        None,
    )
    .unwrap();
    assert_eq!(
        c.embedding.models,
        [ModelSpec {
            name: "a/b".into(),
            dir: "/m/b".into(),
            dims: Some(384),
            pooling: Some(Pooling::Cls),
            normalize: Some(false),
            max_tokens: Some(128),
        }]
    );
    assert_eq!(
        readme_default("ZERODB_EMBEDDING_BATCH"),
        c.embedding.max_batch.to_string()
    );
    assert_eq!(readme_default("ZERODB_EMBEDDING_QUEUE"), c.embedding.queue.to_string());
    let two = resolve(&["--embedding-model", "x=/x;y=/y", "--models-dir", "/nowhere"], None).unwrap();
    let names: Vec<&str> = two.embedding.models.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["x", "y"]);
    // No model given and none installed where it is looked for: none run.
    let none = resolve(&["--models-dir", "/nowhere"], None).unwrap();
    assert!(none.embedding.models.is_empty());
    for bad in [
        &["--embedding-model", "no-directory"][..],
        &["--embedding-model", "a=/m,pooling=max"],
        &["--embedding-model", "a=/m,colour=red"],
        &["--embedding-queue", "99"],
        &["--embedding-workers", "0"],
    ] {
        assert!(resolve(bad, None).is_err(), "{bad:?}");
    }
}
