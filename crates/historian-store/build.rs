//! Rebuild when a migration file is added or edited: `embed_migrations!` reads the folder
//! at compile time, and cargo does not know that on its own.

fn main() {
    println!("cargo::rerun-if-changed=migrations");
}
