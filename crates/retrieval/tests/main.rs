mod embedder;
