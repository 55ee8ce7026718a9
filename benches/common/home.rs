//! Where the benches write their side files: criterion's output folder.

use std::path::PathBuf;

/// Where criterion writes: `$CRITERION_HOME`, else `$CARGO_TARGET_DIR/criterion`, else the
/// `criterion` folder of the target directory this bench binary was built in.
pub fn criterion_home() -> PathBuf {
    if let Some(home) = std::env::var_os("CRITERION_HOME") {
        return PathBuf::from(home);
    }
    if let Some(target) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(target).join("criterion");
    }
    // target/<profile>/deps/<bench binary>
    std::env::current_exe()
        .ok()
        .and_then(|exe| exe.ancestors().nth(3).map(|target| target.join("criterion")))
        .unwrap_or_else(|| PathBuf::from("target/criterion"))
}
