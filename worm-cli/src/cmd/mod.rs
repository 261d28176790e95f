//! One module per subcommand.

pub mod cat;
pub mod checkpoint;
pub mod demo;
pub mod keygen;
pub mod ls;
pub mod prove;
pub mod s3;
#[cfg(feature = "serve")]
pub mod serve;
pub mod ship;
pub mod sync;
pub mod verify;
