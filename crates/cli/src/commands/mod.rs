//! One module per subcommand.

pub mod generate;
mod load;
pub mod prepare;
pub mod serve;
pub mod tokenizer;
pub mod train;
