use crate::args::Args;
pub fn run(_a: &Args) -> Result<(), String> {
    Err("todo".into())
}
