//! `claude-rust index build|add|remove|query`: a searchable index of documents (chunks, their
//! vectors, an HNSW graph and a BM25 index in one directory).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use claude_retrieval::{ChunkConfig, DocumentIndex, Progress, SearchMode, TextEmbedder};
use indicatif::{ProgressBar, ProgressStyle};

use super::embedder::{embedder_path, load_embedder};

/// The `index` subcommands.
#[derive(Debug, clap::Subcommand)]
pub enum IndexCommand {
    /// Index documents (text and Markdown files; folders recursively) into a new directory.
    Build(BuildArgs),
    /// Add documents to an index (a document already in it is replaced).
    Add(AddArgs),
    /// Remove a document, or every document under a folder, from an index.
    Remove(RemoveArgs),
    /// Print the chunks that best match a question: source, byte offsets, score, text.
    Query(QueryArgs),
}

/// The embedder and its device.
#[derive(Debug, clap::Args)]
pub struct EmbedderArgs {
    /// A sentence-transformers model directory (e.g. all-minilm-l6-v2), or one of our models
    /// (mean-pooled). Default for an existing index: the model it was built with.
    #[arg(long)]
    pub embedding_model: Option<PathBuf>,
    /// Device for the embedder: cpu, wgpu, cuda:N, ...
    #[arg(long, default_value = "cpu")]
    pub device: String,
}

impl EmbedderArgs {
    /// Loads the model named, else the one `index` was built with.
    pub fn load(&self, index: Option<&DocumentIndex>) -> anyhow::Result<Arc<dyn TextEmbedder>> {
        let path = embedder_path(self.embedding_model.as_deref(), index)?
            .context("--embedding-model is required")?;
        load_embedder(&path, &self.device)
    }
}

/// Arguments of `index build`.
#[derive(Debug, clap::Args)]
pub struct BuildArgs {
    /// Documents: files, or folders searched for .txt and .md files.
    #[arg(long, num_args = 1.., required = true)]
    pub docs: Vec<PathBuf>,
    /// The index directory to create.
    #[arg(long)]
    pub out: PathBuf,
    /// The embedder.
    #[command(flatten)]
    pub embedder: EmbedderArgs,
    /// Most tokens per chunk.
    #[arg(long, default_value_t = ChunkConfig::default().tokens)]
    pub chunk_tokens: usize,
    /// Tokens each chunk repeats from the one before.
    #[arg(long, default_value_t = ChunkConfig::default().overlap)]
    pub chunk_overlap: usize,
}

/// Arguments of `index add`.
#[derive(Debug, clap::Args)]
pub struct AddArgs {
    /// The index directory.
    pub index: PathBuf,
    /// Documents: files, or folders searched for .txt and .md files.
    #[arg(long, num_args = 1.., required = true)]
    pub docs: Vec<PathBuf>,
    /// The embedder (by default the index's own).
    #[command(flatten)]
    pub embedder: EmbedderArgs,
}

/// Arguments of `index remove`.
#[derive(Debug, clap::Args)]
pub struct RemoveArgs {
    /// The index directory.
    pub index: PathBuf,
    /// The document (as it was given to build or add), or a folder of documents.
    #[arg(long)]
    pub source: String,
}

/// Arguments of `index query`.
#[derive(Debug, clap::Args)]
pub struct QueryArgs {
    /// The index directory.
    pub index: PathBuf,
    /// The question.
    pub question: String,
    /// Chunks to print.
    #[arg(short, long, default_value_t = 5)]
    pub k: usize,
    /// dense (HNSW), exact (every vector), bm25, or hybrid (dense and BM25 fused).
    #[arg(long, default_value = "hybrid")]
    pub mode: SearchMode,
    /// One JSON object per chunk instead of text.
    #[arg(long)]
    pub json: bool,
    /// The embedder (by default the index's own).
    #[command(flatten)]
    pub embedder: EmbedderArgs,
}

/// Runs an `index` subcommand.
pub fn run(command: IndexCommand) -> anyhow::Result<()> {
    match command {
        IndexCommand::Build(args) => build(args),
        IndexCommand::Add(args) => add(args),
        IndexCommand::Remove(args) => remove(args),
        IndexCommand::Query(args) => query(args),
    }
}

/// A bar over the chunks being embedded (hidden when stderr is not a terminal).
fn progress_bar() -> (ProgressBar, impl FnMut(Progress)) {
    let bar = ProgressBar::new(0).with_style(
        ProgressStyle::with_template("embedding {bar:40} {pos}/{len} chunks ({per_sec}, {eta})")
            .expect("a valid template"),
    );
    let shown = bar.clone();
    (bar, move |p: Progress| {
        shown.set_length(p.total as u64);
        shown.set_position(p.embedded as u64);
    })
}

fn open(dir: &Path) -> anyhow::Result<DocumentIndex> {
    DocumentIndex::open(dir).with_context(|| format!("opening the index {}", dir.display()))
}

fn build(args: BuildArgs) -> anyhow::Result<()> {
    let embedder = args.embedder.load(None)?;
    let chunking = ChunkConfig {
        tokens: args.chunk_tokens,
        overlap: args.chunk_overlap,
    };
    let (bar, mut progress) = progress_bar();
    let (index, report) = DocumentIndex::build(
        &args.out,
        &args.docs,
        embedder.as_ref(),
        chunking,
        &mut progress,
    )
    .with_context(|| format!("building the index {}", args.out.display()))?;
    bar.finish_and_clear();
    println!(
        "indexed {} documents as {} chunks ({} cut at the embedder's limit) in {}",
        report.documents,
        index.chunks().len(),
        report.truncated,
        args.out.display()
    );
    Ok(())
}

fn add(args: AddArgs) -> anyhow::Result<()> {
    let mut index = open(&args.index)?;
    let embedder = args.embedder.load(Some(&index))?;
    let (bar, mut progress) = progress_bar();
    let report = index
        .add(&args.docs, embedder.as_ref(), &mut progress)
        .with_context(|| format!("adding to the index {}", args.index.display()))?;
    bar.finish_and_clear();
    println!(
        "added {} documents ({} replaced) as {} chunks; the index holds {} chunks",
        report.documents,
        report.replaced,
        report.chunks,
        index.chunks().len()
    );
    Ok(())
}

fn remove(args: RemoveArgs) -> anyhow::Result<()> {
    let mut index = open(&args.index)?;
    let removed = index
        .remove(&args.source)
        .with_context(|| format!("removing from the index {}", args.index.display()))?;
    println!(
        "removed {removed} chunks of {}; the index holds {} chunks",
        args.source,
        index.chunks().len()
    );
    Ok(())
}

fn query(args: QueryArgs) -> anyhow::Result<()> {
    let index = open(&args.index)?;
    let embedder = args.embedder.load(Some(&index))?;
    let hits = index.search(&args.question, embedder.as_ref(), args.k, args.mode)?;
    let mut out = std::io::stdout().lock();
    for (rank, hit) in hits.iter().enumerate() {
        let chunk = hit.chunk;
        if args.json {
            let line = serde_json::json!({
                "rank": rank + 1,
                "source": chunk.source,
                "start": chunk.start,
                "end": chunk.end,
                "score": hit.score,
                "text": chunk.text,
            });
            writeln!(out, "{line}")?;
        } else {
            let preview: String = chunk.text.split_whitespace().collect::<Vec<_>>().join(" ");
            let preview: String = preview.chars().take(160).collect();
            writeln!(
                out,
                "{}. {} [bytes {}..{}] score {:.4}\n   {preview}",
                rank + 1,
                chunk.source,
                chunk.start,
                chunk.end,
                hit.score
            )?;
        }
    }
    Ok(())
}
