//! Chunking: windows of whole words within the token budget, overlapping as asked, covering the
//! document without gaps, each with exact byte offsets; and document collection.

use std::path::{Path, PathBuf};

use claude_retrieval::{ChunkConfig, chunk_text, collect_documents};
use claude_tokenizer::WordPieceTokenizer;

fn tokenizer() -> WordPieceTokenizer {
    WordPieceTokenizer::from_dir(claude_files::shared_data_dir().join("models/all-minilm-l6-v2"))
        .unwrap()
}

fn tokens(tokenizer: &WordPieceTokenizer, text: &str) -> usize {
    tokenizer.encode_without_special(text).ids.len()
}

/// Counts a word's tokens with `tokenizer`.
fn counter(tokenizer: &WordPieceTokenizer) -> impl Fn(&str) -> usize + '_ {
    move |word| tokens(tokenizer, word)
}

#[test]
fn chunks_fit_overlap_and_cover_the_document() {
    let tokenizer = tokenizer();
    let text = std::fs::read_to_string(
        claude_files::shared_data_dir().join("eval/wikitext-2-raw-test.txt"),
    )
    .unwrap();
    let text: String = text.chars().take(20_000).collect();
    let source = Path::new("wiki.txt");
    for config in [
        ChunkConfig::default(),
        ChunkConfig {
            tokens: 32,
            overlap: 0,
        },
        ChunkConfig {
            tokens: 50,
            overlap: 49,
        },
    ] {
        let chunks = chunk_text(source, &text, &counter(&tokenizer), config);
        assert!(chunks.len() > 3, "{config:?}");
        let first_word = text.find(|c: char| !c.is_whitespace()).unwrap();
        let last_word = text.trim_end().len();
        assert_eq!(chunks[0].start, first_word);
        assert_eq!(chunks.last().unwrap().end, last_word);
        for (i, chunk) in chunks.iter().enumerate() {
            assert_eq!(chunk.text, text[chunk.start..chunk.end]);
            assert_eq!(chunk.source, source);
            // A word's tokens add up: the count is what the chunk encodes to.
            assert_eq!(
                chunk.tokens,
                tokens(&tokenizer, &chunk.text),
                "{config:?} {i}"
            );
            assert!(
                chunk.tokens <= config.tokens,
                "{config:?} {i}: {}",
                chunk.tokens
            );
            if let Some(next) = chunks.get(i + 1) {
                assert!(next.start > chunk.start, "{config:?} {i}: no progress");
                if next.start < chunk.end {
                    // At least `overlap` tokens, unless that would repeat the whole chunk: every
                    // chunk drops at least its first word.
                    let repeated = tokens(&tokenizer, &text[next.start..chunk.end]);
                    let first_word = chunk.text.split_whitespace().next().unwrap();
                    let most = chunk.tokens - tokens(&tokenizer, first_word);
                    assert!(
                        repeated >= config.overlap.min(most),
                        "{config:?} {i}: {repeated}"
                    );
                } else {
                    // No overlap asked, and no gap: at most whitespace between the two.
                    assert_eq!(config.overlap, 0);
                    assert!(
                        text[chunk.end..next.start].trim().is_empty(),
                        "{config:?} {i}"
                    );
                }
            }
        }
    }
}

#[test]
fn edge_cases() {
    let tokenizer = tokenizer();
    let source = Path::new("x.md");
    let config = ChunkConfig {
        tokens: 4,
        overlap: 1,
    };
    assert!(chunk_text(source, " \n\t ", &counter(&tokenizer), config).is_empty());
    // A word longer than the budget is a chunk of its own.
    let long = "supercalifragilisticexpialidocious";
    let chunks = chunk_text(source, &format!("a {long} b"), &counter(&tokenizer), config);
    assert!(chunks.iter().any(|c| c.text.contains(long) && c.tokens > 4));
    // Multi-byte text keeps exact byte offsets.
    let text = "Café déjà vu. 東京は日本の首都です。 🍕 fin";
    for chunk in chunk_text(source, text, &counter(&tokenizer), config) {
        assert_eq!(chunk.text, text[chunk.start..chunk.end]);
    }
    assert!(
        ChunkConfig {
            tokens: 4,
            overlap: 4
        }
        .validate()
        .is_err()
    );
    assert!(
        ChunkConfig {
            tokens: 0,
            overlap: 0
        }
        .validate()
        .is_err()
    );
}

#[test]
fn documents_are_collected_from_folders_recursively() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    std::fs::create_dir_all(d.join("a/b")).unwrap();
    for name in [
        "top.md",
        "a/one.txt",
        "a/b/two.MD",
        "a/b/image.png",
        "a/notes.markdown",
    ] {
        std::fs::write(d.join(name), "text").unwrap();
    }
    let named = d.join("a/b/image.png");
    let found = collect_documents(&[d.to_path_buf(), named.clone()]).unwrap();
    let expected: Vec<PathBuf> = [
        "a/b/image.png",
        "a/b/two.MD",
        "a/notes.markdown",
        "a/one.txt",
        "top.md",
    ]
    .iter()
    .map(|n| d.join(n))
    .collect();
    assert_eq!(found, expected);
    assert!(collect_documents(&[d.join("missing")]).is_err());
}
