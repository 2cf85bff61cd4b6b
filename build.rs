// The migrations are compiled into the binary (`embed_migrations!`), and cargo does not
// see them as inputs on its own: without this, a new migration folder left a build
// applying the old set until some Rust file changed.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
