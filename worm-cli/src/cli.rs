//! Command-line syntax: every command, flag and its `--help` text.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

const AFTER_HELP: &str = "\
STORES:
  ./dir, /abs/dir, file:///abs/dir   a local directory of read-only files (worm-fs)
  s3://bucket[/prefix]               an S3 bucket with Object Lock (prefix default: AWS_S3_PREFIX
                                     or audit-logs); endpoint from --endpoint or AWS_ENDPOINT_URL,
                                     credentials from the standard AWS variables
  s3://bucket[/prefix]?endpoint=URL  the same on its own server (also &region=R), e.g. for a
                                     replica elsewhere: `--to s3://a --to s3://b?endpoint=...`
  s3://...?retention=7y&mode=compliance&legal-hold=on
                                     this store's own lock settings when writing (retention=
                                     DAYS|Nd|Ny|none, mode=governance|compliance, legal-hold=
                                     on|off); what is left out is the writer's
  memory:                            an in-process store that vanishes on exit (demos, tests)
  Default: s3://$AWS_S3_BUCKET when AWS_S3_BUCKET is set, else $WORM_DIR or ./worm-data.

EXIT CODES:
  0  success (ship: every record stored; verify: intact)
  1  verify found integrity problems; ship could not store every record; cat skipped
     unreadable batches; s3 verify/setup found a setting that is not as required
  2  usage error, or the store or a file could not be opened, read or written";

/// Immutable (WORM) storage for JSON audit logs: ship records, verify stores, read them
/// back.
#[derive(Debug, Parser)]
#[command(name = "worm", version, about, after_help = AFTER_HELP)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Read NDJSON audit records on stdin and store them in sealed, hash-chained batches.
    ///
    /// Each input line is one JSON object in the audit record schema (timestamp, level,
    /// service_name, request_id, user_id, action, message, … and any extra fields);
    /// `timestamp` defaults to now and `level` to INFO. A line that is not a JSON object,
    /// not UTF-8, or longer than --max-line-bytes is never dropped: it is stored as a
    /// record with action "worm.invalid_input", the raw line (lossy UTF-8, first 8 KiB),
    /// the reason and the line number, and counted. Empty lines are skipped and counted.
    ///
    /// On end of input, SIGINT or SIGTERM, ship stores what is pending, writes the
    /// stream's final batch and prints a summary to stderr (--json: to stdout). On a
    /// signal it first reads whatever input is already waiting in the pipe (without
    /// waiting for more), so every line written before the signal is stored; a last line
    /// without its newline is stored as it is (as invalid input if it is cut short). A
    /// second signal exits at once (130 for SIGINT, 143 for SIGTERM) without waiting for
    /// the store.
    #[command(after_help = AFTER_HELP)]
    Ship(ShipArgs),
    /// Receive audit records over the network and store each service's records in its
    /// own stream: OTLP logs over HTTP (POST /v1/logs, protobuf or JSON) and gRPC
    /// (LogsService/Export), NDJSON (POST /v1/audit, with ship's rules for bad lines),
    /// GET /healthz, /readyz and /metrics (Prometheus).
    ///
    /// A request is acknowledged (200, gRPC OK) only once every record of it is in the
    /// spool's write-ahead log (--ack stored: in the store). A full backlog is answered
    /// 429 / RESOURCE_EXHAUSTED with Retry-After, never a silent drop; malformed input
    /// 400, oversized input 413 (gzip bombs included). On SIGTERM or SIGINT the server
    /// stops accepting, finishes the requests in flight, and closes every stream with its
    /// final batch. Store, batch, retention, signing and spool flags are ship's.
    #[cfg(feature = "serve")]
    #[command(after_help = AFTER_HELP)]
    Serve(ServeArgs),
    /// Check a store offline: seals, signatures, hash chains, sequence gaps, final batches.
    ///
    /// Exit 0 when intact (open streams and benign duplicates are reported but do not
    /// count), 1 when anything was modified, removed, inserted, reordered, misplaced or
    /// badly signed, 2 when the store cannot be read.
    #[command(after_help = AFTER_HELP)]
    Verify(VerifyArgs),
    /// List the batch objects of a store, with their stream, seq and record count.
    #[command(after_help = AFTER_HELP)]
    Ls(LsArgs),
    /// Print the records that match the filters, as NDJSON (one record per line).
    ///
    /// Streams come in the order of their first timestamp, batches in seq order. Output
    /// pipes into jq; a closed pipe (e.g. `| head`) ends the command quietly. Batches
    /// that cannot be read or do not match their seal are skipped with a message on
    /// stderr, and the exit code is 1.
    #[command(after_help = AFTER_HELP)]
    Cat(CatArgs),
    /// Create or check an S3 bucket for audit logs (Object Lock, retention, policy,
    /// lifecycle).
    #[command(subcommand)]
    S3(S3Command),
    /// Generate an Ed25519 key pair for signing batch seals (or, with --age, an age
    /// identity for encryption).
    ///
    /// Writes the secret key to FILE (mode 0600) and the public key to FILE.pub. Refuses
    /// to overwrite either. Give FILE to `worm ship --sign-key` and FILE.pub to
    /// `worm verify --public-key`; with --age, FILE.pub to `worm ship --encrypt-to-file`
    /// and FILE to `worm cat --identity`.
    Keygen(KeygenArgs),
    /// Write sample surveillance-platform audit events through the real pipeline, then
    /// verify the store.
    ///
    /// Uses the compliance preset (5 records / 15 s batches, 7 years GOVERNANCE retention)
    /// and signs with a fresh key that is thrown away afterwards. On a store that already
    /// holds objects a new stream is added next to them.
    #[command(after_help = AFTER_HELP)]
    Demo(DemoArgs),
    /// Print the latest signed checkpoint of every stream in the store: an anchor file
    /// for an auditor or a second system to keep.
    ///
    /// Later, `worm verify STORE --anchor FILE` proves that the store still holds every
    /// one of these streams, with the anchored Merkle tree as a prefix: a deletion, or a
    /// rewrite re-signed with the writer's own key, of anything written before the
    /// anchor was taken is detected. The output is C2SP signed notes (tlog-checkpoint
    /// text), separated by blank lines.
    #[command(after_help = AFTER_HELP)]
    Checkpoint(CheckpointArgs),
    /// Write a standalone proof for each record the filters match: the record, its
    /// index in its stream's Merkle tree, the RFC 9162 audit path and the stream's
    /// latest signed checkpoint (`worm-proof/1` JSON). An auditor checks it with
    /// `worm verify-proof`, or any RFC 6962 / C2SP signed-note implementation, without
    /// the store.
    ///
    /// Exit 0 when every matching record got its proof, 1 when some could not be proven
    /// (unsigned stream, a gap in it; said on stderr).
    #[command(after_help = AFTER_HELP)]
    Prove(ProveArgs),
    /// Check record proofs written by `worm prove`: exit 0 when every one is valid, 1
    /// when any is not (each said on stderr), 2 when a file cannot be read.
    VerifyProof(VerifyProofArgs),
    /// Copy the batches FROM holds and TO lacks, byte for byte, with TO's lock settings
    /// (--retention-days/--mode, else TO's bucket default), and read each copy back to
    /// check it. Never overwrites: a key TO holds with other bytes is reported, not
    /// touched. A second run finds nothing to do.
    ///
    /// Exit 0 when TO now holds every batch of FROM, 1 when something could not be copied
    /// or differs, 2 when a store cannot be opened.
    #[command(after_help = AFTER_HELP)]
    Sync(SyncArgs),
}

/// `worm sync` arguments.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// The store to copy from.
    #[arg(value_name = "FROM")]
    pub from: String,
    /// The store to copy to.
    #[arg(value_name = "TO")]
    pub to: String,
    /// Object Lock retention in days for each copy (default: TO's bucket default).
    #[arg(long, value_name = "D", value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: Option<u32>,
    /// Object Lock retention mode for each copy (with --retention-days; default
    /// governance).
    #[arg(long, value_enum, value_name = "M")]
    pub mode: Option<Mode>,
    /// Only report what would be copied.
    #[arg(long)]
    pub dry_run: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// S3 connection (for stores whose URL names no endpoint).
    #[command(flatten)]
    pub s3: S3Args,
}

/// `worm prove` arguments: `cat`'s filters plus where to write.
#[derive(Debug, Args)]
pub struct ProveArgs {
    /// Which records (same filters as `worm cat`).
    #[command(flatten)]
    pub cat: CatArgs,
    /// Write one file per record, DIR/<stream>-<index>.json (created if missing; an
    /// existing file is not overwritten), instead of one JSON line per proof on stdout.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
}

/// `worm verify-proof` arguments.
#[derive(Debug, Args)]
pub struct VerifyProofArgs {
    /// Proof files (`worm-proof/1` JSON, one bundle per file or one per line).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// The writer's verifier key (FILE.vkey or FILE.pub from `worm keygen`); may be
    /// repeated.
    #[arg(long, value_name = "FILE", required = true)]
    pub public_key: Vec<PathBuf>,
}

/// How to reach an S3 store (ignored for other stores).
#[derive(Debug, Clone, Default, Args)]
pub struct S3Args {
    /// S3-compatible endpoint, e.g. http://127.0.0.1:7480 (default: AWS_ENDPOINT_URL, else
    /// AWS).
    #[arg(long, value_name = "URL")]
    pub endpoint: Option<String>,
    /// S3 region (default: AWS_REGION, else us-east-1).
    #[arg(long, value_name = "R")]
    pub region: Option<String>,
}

/// Batching preset.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Preset {
    /// 5 records / 15 s batches, 7 years GOVERNANCE retention, every level.
    Compliance,
    /// 50 records / 60 s batches, WARN and above only, zstd, 7 years GOVERNANCE retention.
    HighVolume,
}

/// Object Lock retention mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Mode {
    /// Privileged users may shorten or remove retention.
    Governance,
    /// Nobody may shorten or remove retention, not even the root account.
    Compliance,
}

/// Whole-batch compression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Compress {
    /// Plain NDJSON (`.json`).
    None,
    /// gzip (`.json.gz`, `Content-Encoding: gzip`).
    Gzip,
    /// zstd (`.json.zst`, `Content-Encoding: zstd`).
    Zstd,
}

impl From<Compress> for worm::batch::Compression {
    fn from(c: Compress) -> Self {
        match c {
            Compress::None => worm::batch::Compression::None,
            Compress::Gzip => worm::batch::Compression::Gzip,
            Compress::Zstd => worm::batch::Compression::Zstd,
        }
    }
}

impl From<Mode> for worm::RetentionMode {
    fn from(m: Mode) -> Self {
        match m {
            Mode::Governance => worm::RetentionMode::Governance,
            Mode::Compliance => worm::RetentionMode::Compliance,
        }
    }
}

/// Where a writer stores its batches: one store, or several replicas.
#[derive(Debug, Clone, Default, Args)]
pub struct TargetArgs {
    /// Store to write to (see STORES below). Repeat it to replicate: every batch goes to
    /// every store, under the same key with the same bytes; a store that is down gets its
    /// backlog (kept in the --spool, when given) once it is back.
    #[arg(long, value_name = "STORE")]
    pub to: Vec<String>,
    /// With several --to: when a batch counts as stored, `all` (every store has it) or
    /// `quorum N` (N stores have it; the others still receive it as they can).
    #[arg(long, value_name = "POLICY", default_value = "all", value_parser = parse_ack)]
    pub ack_targets: worm::pipeline::AckTargets,
    /// Also publish every signed checkpoint (and nothing else) to this store, for
    /// `worm verify --anchor-store`: a copy of the checkpoints the store's admin cannot
    /// touch. Needs --sign-key.
    #[arg(long, value_name = "STORE")]
    pub anchor_to: Option<String>,
}

/// An acknowledgement policy: `all` or `quorum N`.
pub fn parse_ack(s: &str) -> Result<worm::pipeline::AckTargets, String> {
    s.parse().map_err(|e: worm::Error| e.to_string())
}

/// `worm ship`.
#[derive(Debug, Args)]
pub struct ShipArgs {
    /// Where and how records are written.
    #[command(flatten)]
    pub write: WriteArgs,
    /// Service name written in batch headers and on records that carry none.
    #[arg(long, value_name = "NAME", default_value = "worm-ship")]
    pub service: String,
    /// Read FILE instead of stdin and keep following it as `tail -F` does (rename and
    /// create, or copy and truncate rotation), until SIGINT or SIGTERM. Needs --spool:
    /// the position in FILE is kept there with each record, so a restart (after a crash
    /// or kill -9 too) neither loses nor repeats a line. A first run reads FILE from
    /// its start.
    #[arg(long, value_name = "FILE", requires = "spool")]
    pub follow: Option<PathBuf>,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress display and no summary unless something went wrong.
    #[arg(long, short)]
    pub quiet: bool,
}

/// When `worm serve` acknowledges a request.
#[cfg(feature = "serve")]
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum AckArg {
    /// Every record is in the spool's write-ahead log (fsynced every 50 ms).
    Spool,
    /// Every record is stored in the store.
    Stored,
}

/// `worm serve`.
#[cfg(feature = "serve")]
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Where and how records are written (--spool is required).
    #[command(flatten)]
    pub write: WriteArgs,
    /// Address for OTLP/HTTP, NDJSON, health and metrics.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4318")]
    pub listen: std::net::SocketAddr,
    /// Address for OTLP/gRPC ("off": none; gRPC is also answered on --listen).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:4317")]
    pub grpc_listen: String,
    /// TLS certificate chain (PEM) for both listeners.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// Require client certificates signed by a CA in FILE (PEM): mutual TLS.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub client_ca: Option<PathBuf>,
    /// Allow a listen address other than loopback without TLS.
    #[arg(long)]
    pub insecure_plaintext: bool,
    /// Bearer tokens and the services each may write: one "TOKEN SERVICE[,SERVICE…]" (or
    /// "TOKEN *") per line. Without it, anyone who can connect may write any service.
    #[arg(long, value_name = "FILE")]
    pub tokens: Option<PathBuf>,
    /// When a request is acknowledged.
    #[arg(long, value_enum, default_value_t = AckArg::Spool)]
    pub ack: AckArg,
    /// Seconds to receive a request's headers (and a TLS handshake); idle HTTP/1
    /// connections are closed after this long too.
    #[arg(long, value_name = "SECS", default_value_t = 10.0)]
    pub header_timeout: f64,
    /// Seconds to receive a request's body.
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub body_timeout: f64,
    /// Seconds an HTTP/2 connection (a gRPC channel) may stay open with no request in
    /// flight before it is closed gracefully (GOAWAY; the client reconnects).
    #[arg(long, value_name = "SECS", default_value_t = 120.0)]
    pub idle_timeout: f64,
    /// Open connections; more are closed at once.
    #[arg(long, value_name = "N", default_value_t = 1024)]
    pub max_connections: usize,
    /// Largest request body, on the wire and once decompressed.
    #[arg(long, value_name = "BYTES", default_value_t = 16 << 20)]
    pub max_body_bytes: usize,
    /// Most records in one request.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_records: usize,
    /// Most services (streams, one writer thread each).
    #[arg(long, value_name = "N", default_value_t = 256)]
    pub max_services: usize,
    /// Records each service's writer queues; a request that does not fit gets 429.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub max_backlog_records: usize,
    /// Bytes of records each service's writer queues (their JSON lines), so that memory
    /// stays bounded whatever the records' sizes; a request that does not fit gets 429.
    #[arg(long, value_name = "BYTES", default_value_t = 64 << 20)]
    pub max_backlog_bytes: usize,
    /// Bytes of sealed batches waiting in each service's spool (store down) at which the
    /// writer stops taking records, so that requests get 429.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 30)]
    pub max_spool_bytes: usize,
    /// No summary at the end unless something went wrong.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Where and how records are written: the store, batching, retention, signing, spool.
/// Shared by `worm ship` and `worm serve`, so a flag added here applies to both.
#[derive(Debug, Args)]
pub struct WriteArgs {
    /// Stores to write to (--to, repeatable), the acknowledgement policy and the anchor
    /// store.
    #[command(flatten)]
    pub targets: TargetArgs,
    /// Batching and retention preset.
    #[arg(long, value_enum, default_value_t = Preset::Compliance)]
    pub preset: Preset,
    /// Records per batch (overrides the preset).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub batch_size: Option<u64>,
    /// Bytes of records a batch holds at most (overrides the preset's: 1 MiB, 4 MiB for
    /// high-volume): a batch is cut at --batch-size records or at this many bytes,
    /// whichever comes first (a single larger record still makes a batch of its own).
    /// Up to 32 MiB, so that every batch stays well within what `worm verify` reads.
    #[arg(long, value_name = "BYTES",
          value_parser = clap::value_parser!(u64).range(1024..=(32 << 20)))]
    pub batch_bytes: Option<u64>,
    /// Batches uploaded at once to each store (default: 4 for worm ship, 2 for each
    /// service of worm serve). A store that serves requests in parallel, as S3 gateways
    /// do, stays busy with more: while one batch's PutObject is answered the next ones
    /// are already on their way. Each batch in flight is held in memory (or in the
    /// spool) until it is stored.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=64))]
    pub max_in_flight: Option<u32>,
    /// Compress each batch as a whole (overrides the preset's: none for compliance, zstd
    /// for high-volume). `worm verify` and `worm cat` read every kind.
    #[arg(long, value_enum, value_name = "C")]
    pub compress: Option<Compress>,
    /// Longest time in seconds a record waits before its batch is stored (overrides the
    /// preset).
    #[arg(long, value_name = "SECS")]
    pub interval: Option<f64>,
    /// Object Lock retention in days for each batch (overrides the preset's 2557).
    #[arg(long, value_name = "D", value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: Option<u32>,
    /// Object Lock retention mode (overrides the preset's governance).
    #[arg(long, value_enum, value_name = "M")]
    pub mode: Option<Mode>,
    /// Sign every batch seal with this secret key (from `worm keygen`).
    #[arg(long, value_name = "FILE")]
    pub sign_key: Option<PathBuf>,
    /// Durable spool directory: each record is written to a write-ahead log there before
    /// the next line is read (fsynced every 50 ms), and a `worm ship` with the same
    /// service and spool started after a crash stores what the crashed one left, in the
    /// same stream.
    #[arg(long, value_name = "DIR")]
    pub spool: Option<PathBuf>,
    /// While idle, seal an empty batch with a fresh signed checkpoint every SECS
    /// (default 60; 0 turns it off), so `worm verify` can tell a live writer from a dead
    /// one (`stale`).
    #[arg(long, value_name = "SECS", default_value_t = 60)]
    pub heartbeat: u64,
    /// Writer identity shared by this writer's successive streams (default
    /// SERVICE@HOST): a new stream names the last checkpoint of the previous one, so a
    /// removed stream is reported (`missing_stream`).
    #[arg(long, value_name = "ID")]
    pub writer_id: Option<String>,
    /// Longest input line in bytes; longer lines are stored as worm.invalid_input.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20,
          value_parser = clap::value_parser!(u64).range(64..=(64 << 20)))]
    pub max_line_bytes: u64,
    /// At the end, how long to keep trying to store what is pending before giving up
    /// (exit 1, naming what was not stored).
    #[arg(long, value_name = "SECS", default_value_t = 30.0)]
    pub close_timeout: f64,
    /// Local stores: also set the Linux immutable attribute on every file (needs
    /// CAP_LINUX_IMMUTABLE; fails when unavailable).
    #[arg(long)]
    pub immutable: bool,
    /// Client-side encryption.
    #[command(flatten)]
    pub encrypt: EncryptArgs,
    /// S3 connection.
    #[command(flatten)]
    pub s3: S3Args,
}

/// Client-side encryption of what a writer stores (`ship` and `serve`).
#[derive(Debug, Clone, Default, Args)]
pub struct EncryptArgs {
    /// Encrypt every batch's records to this age X25519 recipient (age1…, from `worm
    /// keygen --age`); may be repeated, and each recipient can decrypt alone. Headers,
    /// seals and checkpoints stay readable, so `worm verify` needs no key; keys and S3
    /// metadata then carry no record content, and the spool's log is encrypted too.
    #[arg(long, value_name = "RECIPIENT")]
    pub encrypt_to: Vec<String>,
    /// Encrypt to every recipient in FILE (one age1… per line, # comments); may be
    /// repeated.
    #[arg(long, value_name = "FILE")]
    pub encrypt_to_file: Vec<PathBuf>,
    /// An age identity that decrypts what a crashed run left encrypted in the spool's log
    /// (one of the recipients' identities); needed only to recover such a spool.
    #[arg(long, value_name = "FILE", requires = "spool")]
    pub spool_identity: Vec<PathBuf>,
}

/// The age identities a reader decrypts with.
#[derive(Debug, Clone, Default, Args)]
pub struct IdentityArgs {
    /// Decrypt encrypted batches with the age identity (AGE-SECRET-KEY-1…) in FILE; may be
    /// repeated (e.g. across a key rotation), each batch is tried with every one. Without
    /// a matching identity the command names the batch's recipients and exits 2.
    #[arg(long, value_name = "FILE")]
    pub identity: Vec<PathBuf>,
}

/// `worm verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// Store to verify (see STORES below).
    #[arg(value_name = "STORE")]
    pub store: Option<String>,
    /// Expect every batch signed by this key (FILE.pub or FILE.vkey from `worm keygen`;
    /// a secret key file works too). May be given more than once, e.g. across a key rotation.
    #[arg(long, value_name = "FILE")]
    pub public_key: Vec<PathBuf>,
    /// Treat streams without a final batch as truncated (an error), for archives whose
    /// writers have all stopped.
    #[arg(long)]
    pub require_closed: bool,
    /// Prove that the store is an append-only extension of the checkpoints in FILE (as
    /// printed by `worm checkpoint`): every stream in it must still be there, with the
    /// anchored tree as a prefix. May be given more than once.
    #[arg(long, value_name = "FILE")]
    pub anchor: Vec<PathBuf>,
    /// Use every checkpoint in this store (written by `worm ship --anchor-to`) as an
    /// anchor, as --anchor does with a file.
    #[arg(long, value_name = "STORE")]
    pub anchor_store: Option<String>,
    /// Compare the store with this replica: report every batch missing from one side or
    /// different between the two (by key and sha256), with its key. Exit 1 when they
    /// differ.
    #[arg(long, value_name = "STORE")]
    pub replica: Option<String>,
    /// How long an open stream may go without a checkpoint before it is reported stale
    /// (an error): seconds, or with a unit (90s, 15m, 2h, 7d). Default: 3 of its writer's
    /// heartbeats (3 batch intervals when it has none).
    #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
    pub max_silence: Option<std::time::Duration>,
    /// Also open encrypted records with the age identity in FILE (may be repeated) and
    /// recompute their Merkle leaves; without one, encrypted batches get every check that
    /// needs no key.
    #[arg(long, value_name = "FILE")]
    pub identity: Vec<PathBuf>,
    /// Objects read and checked at once (1 to 64, default 8). Each one's decompression and
    /// hashing runs on a thread of its own, so this also bounds the cores verify keeps
    /// busy: 1 reads and checks one object at a time, on one core. Memory grows with it:
    /// at most 128 MiB + N × 25 MiB whatever the store holds.
    #[arg(long, value_name = "N", default_value_t = worm::verify::DEFAULT_CONCURRENCY,
          value_parser = clap::builder::RangedU64ValueParser::<usize>::new().range(1..=64))]
    pub concurrency: usize,
    /// Print the full report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Print nothing when intact; only the exit code tells.
    #[arg(long, short)]
    pub quiet: bool,
    /// S3 connection.
    #[command(flatten)]
    pub s3: S3Args,
}

/// `worm checkpoint` arguments.
#[derive(Debug, Args)]
pub struct CheckpointArgs {
    /// Store (see STORES below).
    #[arg(value_name = "STORE")]
    pub store: Option<String>,
    /// Only checkpoints signed by this key (FILE.pub or FILE.vkey); may be repeated.
    #[arg(long, value_name = "FILE")]
    pub public_key: Vec<PathBuf>,
    /// Write the checkpoints to FILE (refuses to overwrite) instead of stdout.
    #[arg(long, short, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// S3 connection.
    #[command(flatten)]
    pub s3: S3Args,
}

/// A duration: seconds, or a number with s, m, h or d.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, 's')) => (&s[..i], 1),
        Some((i, 'm')) => (&s[..i], 60),
        Some((i, 'h')) => (&s[..i], 3600),
        Some((i, 'd')) => (&s[..i], 86_400),
        _ => (s, 1),
    };
    num.parse::<u64>()
        .ok()
        .and_then(|n| n.checked_mul(mult))
        .map(std::time::Duration::from_secs)
        .ok_or_else(|| format!("'{s}' is not a duration: use seconds or 90s, 15m, 2h, 7d"))
}

/// Time filters shared by `ls` and `cat`.
#[derive(Debug, Clone, Default, Args)]
pub struct TimeArgs {
    /// Only records (ls: batches holding records) at or after T: RFC 3339
    /// (2025-06-12T10:30:00Z), a date (2025-06-12, UTC), or an age such as 15m, 2h, 7d.
    #[arg(long, value_name = "T")]
    pub since: Option<String>,
    /// Only records (ls: batches holding records) before T (same forms as --since).
    #[arg(long, value_name = "T")]
    pub until: Option<String>,
}

/// `worm ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Store to list (see STORES below).
    #[arg(value_name = "STORE")]
    pub store: Option<String>,
    /// Time range.
    #[command(flatten)]
    pub time: TimeArgs,
    /// One JSON object per line on stdout instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Decryption (fills in the record timestamps of encrypted batches).
    #[command(flatten)]
    pub identities: IdentityArgs,
    /// S3 connection.
    #[command(flatten)]
    pub s3: S3Args,
}

/// `worm cat`.
#[derive(Debug, Args)]
pub struct CatArgs {
    /// Store to read (see STORES below).
    #[arg(value_name = "STORE")]
    pub store: Option<String>,
    /// Only records of this service.
    #[arg(long, value_name = "S")]
    pub service: Option<String>,
    /// Only records with this request id.
    #[arg(long, value_name = "R")]
    pub request_id: Option<String>,
    /// Only records of this user.
    #[arg(long, value_name = "U")]
    pub user_id: Option<String>,
    /// Only records at this level or above (TRACE, DEBUG, INFO, WARN, ERROR).
    #[arg(long, value_name = "L")]
    pub level: Option<String>,
    /// Only records with this action (e.g. login, worm.invalid_input).
    #[arg(long, value_name = "A")]
    pub action: Option<String>,
    /// Time range.
    #[command(flatten)]
    pub time: TimeArgs,
    /// No progress display.
    #[arg(long, short)]
    pub quiet: bool,
    /// Decryption.
    #[command(flatten)]
    pub identities: IdentityArgs,
    /// S3 connection.
    #[command(flatten)]
    pub s3: S3Args,
}

/// `worm s3 …`.
#[derive(Debug, Subcommand)]
pub enum S3Command {
    /// Create (or complete) a bucket for audit logs: Object Lock with versioning, default
    /// retention, a bucket policy denying deletion and non-TLS access, lifecycle tiers
    /// (30 d Standard-IA, 90 d Glacier, 365 d Deep Archive). Then verify it.
    ///
    /// Settings the server does not implement (some S3-compatible servers lack policies
    /// or lifecycle) are reported as unsupported. On a plain-http endpoint the policy
    /// statement denying non-TLS access is left out, since it would refuse every request.
    #[command(after_help = AFTER_HELP)]
    Setup(S3SetupArgs),
    /// Report whether each setting of an audit-log bucket is as `worm s3 setup` makes it.
    ///
    /// Exit 0 when every required setting is as wanted. Settings the server does not
    /// implement are shown but not required; neither is the TLS-only policy statement on
    /// a plain-http endpoint.
    #[command(after_help = AFTER_HELP)]
    Verify(S3VerifyArgs),
}

/// The bucket, and the settings `worm s3 setup` applies and `worm s3 verify` expects.
#[derive(Debug, Args)]
pub struct BucketArgs {
    /// Bucket name.
    pub bucket: String,
    /// Default retention in days (applied by setup, expected by verify).
    #[arg(long, value_name = "D", default_value_t = 2557,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub retention_days: u32,
    /// Default retention mode (applied by setup, expected by verify).
    #[arg(long, value_enum, value_name = "M", default_value_t = Mode::Governance)]
    pub mode: Mode,
    /// No bucket policy: setup sets none, verify requires none.
    #[arg(long)]
    pub no_policy: bool,
    /// No lifecycle transitions: setup sets none, verify requires none.
    #[arg(long)]
    pub no_lifecycle: bool,
    /// Print the report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// S3 connection.
    #[command(flatten)]
    pub s3: S3Args,
}

/// `worm s3 setup`.
#[derive(Debug, Args)]
pub struct S3SetupArgs {
    /// Bucket and settings.
    #[command(flatten)]
    pub target: BucketArgs,
    /// The one IAM principal (role or user ARN) still allowed to delete object versions and
    /// change the Object Lock configuration.
    #[arg(long, value_name = "ARN")]
    pub admin_principal: Option<String>,
}

/// `worm s3 verify`.
#[derive(Debug, Args)]
pub struct S3VerifyArgs {
    /// Bucket and expected settings.
    #[command(flatten)]
    pub target: BucketArgs,
}

/// `worm keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// Secret key file to create (the public key goes to FILE.pub, the C2SP verifier key
    /// `<name>+<key id>+<base64>` to FILE.vkey).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Make an age X25519 identity for encryption instead: the identity
    /// (AGE-SECRET-KEY-1…, 0600) to FILE, its recipient (age1…) to FILE.pub. Give the
    /// recipient to `ship --encrypt-to-file` and the identity to `cat --identity`.
    #[arg(long)]
    pub age: bool,
}

/// `worm demo`.
#[derive(Debug, Args)]
pub struct DemoArgs {
    /// Store to write to (see STORES below).
    #[arg(value_name = "STORE")]
    pub store: Option<String>,
    /// Print the verification report as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// S3 connection.
    #[command(flatten)]
    pub s3: S3Args,
}
