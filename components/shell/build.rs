//! Checks the shop's content at build time and embeds it in a fast-loading form: the FAQ
//! (`models/faq/shop.toml`) with its placeholders filled from `config/shop.toml`, as JSON.
//! A broken FAQ or config fails the build with the reason, never a conversation.

fn main() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let faq_path = root.join("models/faq/shop.toml");
    let shop_path = root.join("config/shop.toml");
    println!("cargo:rerun-if-changed={}", faq_path.display());
    println!("cargo:rerun-if-changed={}", shop_path.display());
    let read = |path: &std::path::Path| {
        std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    };
    let shop = replies::Shop::load(&read(&faq_path), &read(&shop_path))
        .unwrap_or_else(|e| panic!("invalid shop content: {e}"));
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("faq.json"), shop.faq.to_json()).expect("OUT_DIR is writable");
}
