//! Embeds every file of `migrations/{sqlite,postgres}` into the library, so a deployed
//! binary needs no migration files next to it and products add a migration by adding a file.

use std::{env, fmt::Write as _, fs, path::Path};

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    let mut out = String::new();
    for backend in ["sqlite", "postgres"] {
        let dir = root.join(backend);
        println!("cargo::rerun-if-changed={}", dir.display());
        let mut files: Vec<_> = fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
            .map(|e| e.expect("directory entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "sql"))
            .collect();
        files.sort();
        writeln!(out, "pub(crate) const {}: &[(i64, &str, &str)] = &[", backend.to_uppercase()).unwrap();
        for path in files {
            let stem = path.file_stem().unwrap().to_str().expect("UTF-8 migration name");
            let (version, description) = stem
                .split_once('_')
                .unwrap_or_else(|| panic!("migration {stem} must be named <version>_<description>.sql"));
            let version: i64 =
                version.parse().unwrap_or_else(|_| panic!("migration {stem}: version must be an integer"));
            writeln!(out, "    ({version}, {description:?}, include_str!({:?})),", path.display()).unwrap();
        }
        out.push_str("];\n");
    }
    fs::write(Path::new(&env::var("OUT_DIR").unwrap()).join("migrations.rs"), out).unwrap();
}
