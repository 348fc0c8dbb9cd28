//! Lexical search: BM25 (k1 1.2, b 0.75) through tantivy, an embedded search engine.
//!
//! Each chunk is a tantivy document: its id (indexed and a fast field, to delete it and to
//! read it back from a hit), its source (one untokenized term, to delete a whole document) and
//! its text, split into words at every character that is not a letter or a digit and
//! lower-cased, without stemming. A question is split the same way and scored as the sum of its
//! words' BM25 terms (a word that repeats counts again), so no query syntax can make it fail.

use std::path::Path;

use tantivy::collector::TopDocs;
use tantivy::query::{BooleanQuery, Occur, Query, TermQuery};
use tantivy::schema::{
    Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
};
use tantivy::tokenizer::TokenStream;
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

use crate::dense::{Hit, IndexError, sort_hits};

/// Memory the writer buffers before it writes a segment.
const WRITER_MEMORY: usize = 50_000_000;

/// The schema's fields.
#[derive(Debug, Clone, Copy)]
struct Fields {
    id: Field,
    source: Field,
    text: Field,
}

/// Names of the fields (and of the id's fast-field column).
const ID: &str = "id";
const SOURCE: &str = "source";
const TEXT: &str = "text";

fn schema() -> (Schema, Fields) {
    let mut builder = Schema::builder();
    let id = builder.add_u64_field(ID, INDEXED | tantivy::schema::FAST);
    let source = builder.add_text_field(SOURCE, STRING);
    let words = TextFieldIndexing::default()
        .set_tokenizer("default")
        .set_index_option(IndexRecordOption::WithFreqs);
    let text = builder.add_text_field(TEXT, TextOptions::default().set_indexing_options(words));
    (builder.build(), Fields { id, source, text })
}

fn backend(error: impl std::fmt::Display) -> IndexError {
    IndexError::Backend(format!("BM25 index: {error}"))
}

/// A BM25 index of chunks by id.
pub struct Bm25Index {
    index: Index,
    reader: IndexReader,
    fields: Fields,
    /// Open while there are changes to commit.
    writer: Option<IndexWriter>,
}

impl std::fmt::Debug for Bm25Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bm25Index")
            .field("len", &self.len())
            .finish()
    }
}

impl Bm25Index {
    /// A new, empty index in the (empty or missing) directory `dir`.
    pub fn create(dir: &Path) -> Result<Self, IndexError> {
        std::fs::create_dir_all(dir).map_err(backend)?;
        let (schema, _) = schema();
        Self::from_index(Index::create_in_dir(dir, schema).map_err(backend)?)
    }

    /// A new, empty index held in memory.
    pub fn in_memory() -> Result<Self, IndexError> {
        let (schema, _) = schema();
        Self::from_index(Index::create_in_ram(schema))
    }

    /// The index in `dir`, written by [`create`](Self::create) and [`commit`](Self::commit).
    pub fn open(dir: &Path) -> Result<Self, IndexError> {
        let index = Index::open_in_dir(dir).map_err(backend)?;
        let (expected, _) = schema();
        if index.schema() != expected {
            return Err(backend(format!(
                "{} holds a tantivy index of another schema",
                dir.display()
            )));
        }
        Self::from_index(index)
    }

    fn from_index(index: Index) -> Result<Self, IndexError> {
        let (_, fields) = schema();
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(backend)?;
        Ok(Bm25Index {
            index,
            reader,
            fields,
            writer: None,
        })
    }

    /// Chunks searchable (changes count once committed).
    pub fn len(&self) -> usize {
        self.reader.searcher().num_docs() as usize
    }

    /// Whether no chunk is searchable.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn writer(&mut self) -> Result<&mut IndexWriter, IndexError> {
        if self.writer.is_none() {
            self.writer = Some(
                self.index
                    .writer_with_num_threads(1, WRITER_MEMORY)
                    .map_err(backend)?,
            );
        }
        Ok(self.writer.as_mut().expect("just opened"))
    }

    /// Indexes the chunk `id` of `source`.
    pub fn add(&mut self, id: u64, source: &str, text: &str) -> Result<(), IndexError> {
        let fields = self.fields;
        let mut document = TantivyDocument::default();
        document.add_u64(fields.id, id);
        document.add_text(fields.source, source);
        document.add_text(fields.text, text);
        self.writer()?.add_document(document).map_err(backend)?;
        Ok(())
    }

    /// Forgets every chunk of `source`.
    pub fn remove_source(&mut self, source: &str) -> Result<(), IndexError> {
        let term = Term::from_field_text(self.fields.source, source);
        self.writer()?.delete_term(term);
        Ok(())
    }

    /// Makes the changes searchable and durable, and waits for background merges to end (so
    /// the directory can be copied or renamed).
    pub fn commit(&mut self) -> Result<(), IndexError> {
        if let Some(mut writer) = self.writer.take() {
            writer.commit().map_err(backend)?;
            writer.wait_merging_threads().map_err(backend)?;
        }
        self.reader.reload().map_err(backend)
    }

    /// The `k` chunks that score highest for `query`, best first (equal scores by id); none when
    /// the query has no words.
    pub fn search(&self, query: &str, k: usize) -> Result<Vec<Hit>, IndexError> {
        let mut analyzer = self
            .index
            .tokenizer_for_field(self.fields.text)
            .map_err(backend)?;
        let mut stream = analyzer.token_stream(query);
        let mut terms: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        while stream.advance() {
            let term = Term::from_field_text(self.fields.text, &stream.token().text);
            terms.push((
                Occur::Should,
                Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs)),
            ));
        }
        let k = k.min(self.len());
        if terms.is_empty() || k == 0 {
            return Ok(Vec::new());
        }
        let searcher = self.reader.searcher();
        let found = searcher
            .search(
                &BooleanQuery::new(terms),
                &TopDocs::with_limit(k).order_by_score(),
            )
            .map_err(backend)?;
        // Each segment's id column, opened once per search.
        let ids = (searcher.segment_readers().iter())
            .map(|segment| segment.fast_fields().u64(ID))
            .collect::<tantivy::Result<Vec<_>>>()
            .map_err(backend)?;
        let mut hits = Vec::with_capacity(found.len());
        for (score, address) in found {
            let id = ids[address.segment_ord as usize]
                .first(address.doc_id)
                .ok_or_else(|| backend("a chunk without an id"))?;
            hits.push(Hit { id, score });
        }
        sort_hits(&mut hits);
        Ok(hits)
    }
}
