//! Compiles the web UI into the binary and generates one permission per command, so the
//! capability file can allow exactly the commands the UI uses.

fn main() {
    let manifest = tauri_build::AppManifest::new().commands(&[
        "server_url",
        "set_server_url",
        "restore_session",
        "sign_in",
        "sign_out",
        "sign_out_everywhere",
        "profile",
        "change_password",
        "update_profile",
        "list_users",
        "create_user",
        "update_user",
    ]);
    if let Err(e) = tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest)) {
        eprintln!("tauri-build failed: {e}");
        std::process::exit(1);
    }
}
